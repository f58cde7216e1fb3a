"""Spearman correlation with a bootstrap interval, and the dose-response table."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

from data.errors import ConfigError
from stats._table import (
    JsonFields,
    NORMAL,
    as_float_array,
    check_bootstrap,
    numeric_column,
    require_columns,
    require_frame,
)
from stats.bootstrap import bootstrap_ci
from stats.multiplicity import benjamini_hochberg



@dataclass(frozen=True)
class SpearmanResult(JsonFields):
    """Spearman rank correlation of paired values.

    Attributes:
        n: complete pairs used (pairs with a NaN on either side are dropped).
        n_dropped: pairs dropped for NaN.
        rho: ``scipy.stats.spearmanr`` correlation.
        p: its two-sided p-value (scipy: t-distribution approximation).
        ci_low, ci_high: 95% bootstrap percentile interval of rho (``n_boot``
            resamples of pairs with replacement, seeded; resamples in which
            either variable is constant are discarded).
        n_boot: bootstrap resamples with a defined rho.
        reason: why statistics are NaN, else None.
    """

    n: int
    n_dropped: int
    rho: float
    p: float
    ci_low: float
    ci_high: float
    n_boot: int
    reason: str | None = None



@dataclass(frozen=True, kw_only=True)
class DoseRow(SpearmanResult):
    """One row of :func:`dose_response`: ``metric``, the :class:`SpearmanResult` fields and ``q_value``
    (Benjamini-Hochberg over the metrics). ``to_dict()`` keys are the table's columns, in its order."""

    metric: str
    q_value: float

    @staticmethod
    def columns() -> list[str]:
        """The columns of :func:`dose_response`, in order."""
        return ["metric"] + [f.name for f in fields(SpearmanResult)] + ["q_value"]

    def to_dict(self) -> dict:
        out = super().to_dict()
        return {k: out[k] for k in self.columns()}


def _spearman_rho(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman rho of paired rows along ``axis`` (vectorised; NaN where a resample is constant)."""
    rx = rankdata(x, axis=axis)
    ry = rankdata(y, axis=axis)
    rx -= rx.mean(axis=axis, keepdims=True)
    ry -= ry.mean(axis=axis, keepdims=True)
    denom = np.sqrt((rx * rx).sum(axis=axis) * (ry * ry).sum(axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (rx * ry).sum(axis=axis) / denom, np.nan)


def spearman_with_ci(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *, n_boot: int = 2000, seed: int | None = 0
) -> SpearmanResult:
    """Spearman correlation (scipy ``spearmanr``) with a seeded bootstrap percentile 95% CI.

    Args:
        x: first variable.
        y: second variable, same length as ``x``.
        n_boot: bootstrap resamples (0: no interval).
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        SpearmanResult; NaN statistics with a reason when fewer than 3 complete
        pairs remain or a variable is constant.

    Raises:
        ConfigError: non-numeric input or different lengths.
    """
    n_boot, seed = check_bootstrap(n_boot, seed)
    x_all, y_all = as_float_array(x, "x"), as_float_array(y, "y")
    if x_all.size != y_all.size:
        raise ConfigError(f"x and y must have the same length, got {x_all.size} and {y_all.size}")
    ok = ~(np.isnan(x_all) | np.isnan(y_all))
    x_, y_ = x_all[ok], y_all[ok]
    n, dropped = int(ok.sum()), int((~ok).sum())

    def empty(reason: str) -> SpearmanResult:
        return SpearmanResult(n, dropped, math.nan, math.nan, math.nan, math.nan, 0, reason)

    if n < 3:
        return empty(f"{n} complete pair(s): need at least 3")
    constant = [name for name, v in (("x", x_), ("y", y_)) if np.all(v == v[0])]
    if constant:
        return empty(f"{' and '.join(constant)} constant over the {n} complete pairs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = spearmanr(x_, y_)
    rho, p = float(res.statistic), float(res.pvalue)
    ci_low = ci_high = math.nan
    used = 0
    if n_boot > 0:
        ci = bootstrap_ci((x_, y_), _spearman_rho, n_boot=n_boot, seed=seed, paired=True)
        ci_low, ci_high, used = ci.low, ci.high, ci.n_used
    return SpearmanResult(n, dropped, rho, p, ci_low, ci_high, used)


def dose_response(
    table: pd.DataFrame, metrics: Sequence[str], *, n_boot: int = 2000, seed: int | None = 0
) -> pd.DataFrame:
    """Spearman correlation of ``p_pneumonia`` with each metric among true NORMAL images.

    Restricting to true NORMAL images asks whether a metric pushes healthy
    lungs towards a PNEUMONIA score (a graded version of FP vs TN), free of
    the pathology that separates the classes.

    Args:
        table: aligned table with ``label``, ``p_pneumonia`` and the metrics.
        metrics: numeric columns.
        n_boot: bootstrap resamples per metric.
        seed: bootstrap seed (the same for every metric).

    Returns:
        DataFrame with columns ``metric`` + :class:`SpearmanResult` fields + ``q_value``
        (BH across the metrics).

    Raises:
        ConfigError: missing or non-numeric columns.
    """
    require_frame(table)
    require_columns(table, ["label", "p_pneumonia"])
    metrics = list(metrics)
    normal = (table["label"] == NORMAL).to_numpy()
    score = numeric_column(table, "p_pneumonia")[normal]
    rows = []
    for metric in metrics:
        res = spearman_with_ci(score, numeric_column(table, metric)[normal], n_boot=n_boot, seed=seed)
        rows.append({"metric": metric, **asdict(res)})
    frame = pd.DataFrame(rows, columns=DoseRow.columns()[:-1])
    frame["q_value"] = benjamini_hochberg(frame["p"].to_numpy(dtype=float)) if len(frame) else []
    return frame
