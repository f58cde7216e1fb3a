"""Bootstrap confidence intervals: one thin wrapper over ``scipy.stats.bootstrap``.

Every interval the toolkit labels "bootstrap 95%" comes from :func:`bootstrap_ci`:
the rank-biserial of two groups (resampled within each group), Spearman's rho
(pairs resampled together), the mean of one sample, and the AUC/ECE/balanced
accuracy of a classifier (resampled within each true class). What the wrapper
adds to scipy: a seed instead of a generator, a memory bound on vectorised
batches, and one rule for resamples on which the statistic is undefined (NaN):
they are dropped and counted, and the percentile interval is taken over the
rest (the BCa interval is NaN in that case, because its acceleration needs
every jackknife value).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from data.errors import ConfigError
from stats._table import as_float_array

METHODS = ("percentile", "BCa")
_BATCH_CELLS = 2_000_000  # resampled values held at once (memory bound)


@dataclass(frozen=True)
class BootstrapInterval:
    """A bootstrap confidence interval.

    Attributes:
        low, high: interval bounds (NaN when no resample gave a defined statistic).
        n_used: resamples whose statistic was defined (not NaN).
        method: ``'percentile'`` or ``'BCa'``.
    """

    low: float
    high: float
    n_used: int
    method: str


def bootstrap_ci(
    samples: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    *,
    n_boot: int = 2000,
    seed: int | None = 0,
    paired: bool = False,
    vectorized: bool = True,
    method: str = "percentile",
    confidence: float = 0.95,
) -> BootstrapInterval:
    """Two-sided bootstrap interval of ``statistic(*samples)`` (``scipy.stats.bootstrap``).

    Args:
        samples: 1-D arrays. Unpaired (default): each is resampled with
            replacement on its own (within-group / stratified resampling);
            paired: all have the same length and are resampled together.
        statistic: ``statistic(*samples, axis=-1)`` returning the statistic per
            resample when ``vectorized``; ``statistic(*samples)`` -> float otherwise.
        n_boot: resamples, >= 1.
        seed: seed of ``numpy.random.default_rng`` (None: fresh entropy).
        paired: resample the samples' elements jointly (e.g. x and y of a correlation).
        vectorized: whether ``statistic`` accepts ``axis``.
        method: ``'percentile'`` or ``'BCa'``.
        confidence: confidence level in (0, 1).

    Returns:
        BootstrapInterval; NaN bounds with ``n_used = 0`` when a sample has
        fewer than 2 values (scipy needs two).
    """
    if method not in METHODS:
        raise ConfigError(f"bootstrap method must be one of {METHODS}, got {method!r}")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    if int(n_boot) < 1:
        raise ConfigError(f"n_boot must be >= 1, got {n_boot}")
    data = tuple(as_float_array(s, f"bootstrap sample {i}") for i, s in enumerate(samples))
    if any(d.size < 2 for d in data):
        return BootstrapInterval(math.nan, math.nan, 0, method)
    cells = sum(d.size for d in data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate-data and NaN warnings: handled below
        res = sps.bootstrap(data, statistic, n_resamples=int(n_boot), batch=max(1, _BATCH_CELLS // cells),
                            vectorized=vectorized, paired=paired, confidence_level=confidence,
                            method=method, rng=np.random.default_rng(seed))
    dist = np.asarray(res.bootstrap_distribution, dtype=np.float64)
    ok = ~np.isnan(dist)
    n_used = int(ok.sum())
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if n_used < dist.size and method == "percentile" and n_used:
        alpha = 1.0 - confidence
        low, high = (float(v) for v in np.percentile(dist[ok], [100 * alpha / 2, 100 * (1 - alpha / 2)]))
    elif n_used < dist.size:
        low = high = math.nan
    return BootstrapInterval(low, high, n_used, method)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def bootstrap_mean_ci(values, n_boot: int = 2000, seed: int | None = 0, alpha: float = 0.05,
                      method: str = "percentile") -> tuple[float, float]:
    """Bootstrap interval of a mean (NaN values dropped first).

    Args:
        values: 1-D numbers.
        n_boot: resamples, >= 1.
        seed: seed of the resampling.
        alpha: 1 - confidence level.
        method: ``'percentile'`` or ``'BCa'``.

    Returns:
        (low, high); (nan, nan) for no values, (v, v) for one.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return (math.nan, math.nan)
    if x.size == 1 or np.all(x == x[0]):
        return (float(x[0]), float(x[0]))
    ci = bootstrap_ci((x,), _mean, n_boot=n_boot, seed=seed, method=method, confidence=1.0 - alpha)
    return (ci.low, ci.high)
