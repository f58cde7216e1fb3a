"""Equivalence testing (TOST): what it takes to call two effects "about the same".

A confidence interval that merely includes 0 is absence of evidence, not evidence
of equivalence. Two one-sided tests (Schuirmann 1987) at level alpha declare the
mean paired difference equivalent to 0 within ``(-margin, +margin)`` exactly when
the ``1 - 2 * alpha`` (90 % for alpha 0.05) t-interval of the mean lies inside the
margin. The tests themselves are statsmodels' ``ttost_paired``; the interval is
reported next to them so a reader sees why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from statsmodels.stats.weightstats import ttost_paired

from data.errors import ConfigError
from stats._table import JsonFields, as_float_array


@dataclass(frozen=True)
class EquivalenceResult(JsonFields):
    """TOST of a mean paired difference against ``(-margin, +margin)``.

    Attributes:
        n: pairs used (NaN dropped).
        mean_diff: mean of the paired differences (a - b).
        margin: the equivalence margin (same units as the differences), > 0.
        alpha: level of each one-sided test.
        ci_low, ci_high: the ``1 - 2 * alpha`` t-interval of the mean difference.
        p_value: TOST p-value (the larger of the two one-sided p-values).
        equivalent: ``p_value < alpha``; identical to the interval lying inside the margin.
        reason: why nothing was tested (fewer than 2 pairs, zero variance), else None.
    """

    n: int
    mean_diff: float
    margin: float
    alpha: float
    ci_low: float
    ci_high: float
    p_value: float
    equivalent: bool
    reason: str | None = None


def tost_paired(a, b, margin: float, *, alpha: float = 0.05) -> EquivalenceResult:
    """Two one-sided paired t-tests: is ``mean(a - b)`` within ``(-margin, margin)``?

    Args:
        a, b: 1-D paired values of equal length (NaN in either drops the pair).
        margin: equivalence margin, > 0, in the units of ``a`` and ``b``.
        alpha: level of each one-sided test, in (0, 0.5).

    Returns:
        EquivalenceResult (``equivalent`` False with a reason when untestable).

    Raises:
        ConfigError: unequal lengths, non-numeric values, a bad margin or alpha.
    """
    x, y = as_float_array(a, "a"), as_float_array(b, "b")
    if x.shape != y.shape:
        raise ConfigError(f"paired values need equal lengths, got {x.size} and {y.size}")
    margin = float(margin)
    if not math.isfinite(margin) or margin <= 0:
        raise ConfigError(f"equivalence margin must be a finite number > 0, got {margin!r}")
    if not 0 < float(alpha) < 0.5:
        raise ConfigError(f"alpha must be in (0, 0.5), got {alpha!r}")
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    d = x - y
    n = int(d.size)
    if n < 2 or float(np.std(d)) == 0.0:
        why = f"{n} pair(s)" if n < 2 else "all paired differences are equal (no variance)"
        mean = float(d.mean()) if n else math.nan
        return EquivalenceResult(n, mean, margin, float(alpha), math.nan, math.nan, math.nan, False,
                                 reason=f"TOST needs at least 2 pairs with some spread: {why}")
    p, _, _ = ttost_paired(x, y, -margin, margin)
    se = float(np.std(d, ddof=1) / math.sqrt(n))
    t = float(sps.t.ppf(1 - alpha, n - 1))
    mean = float(d.mean())
    low, high = mean - t * se, mean + t * se
    return EquivalenceResult(n, mean, margin, float(alpha), low, high, float(p), bool(p < alpha))
