"""Two-group comparisons (Mann-Whitney U, rank-biserial with bootstrap CI) and BH correction.

Sign convention everywhere in this module: the rank-biserial correlation is
``r = 2 * U1 / (n1 * n2) - 1`` where ``U1`` is scipy's Mann-Whitney statistic
for the *first* group ``a``. ``r = P(a > b) - P(a < b)``: positive when values
of ``a`` tend to be larger than values of ``b``, negative when smaller, in
[-1, 1]. In :func:`within_class_comparisons` the first group is always the
errors (FP or FN) and the second the correct images of the same true class
(TN or TP).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu, rankdata

from data.errors import ConfigError
from stats._table import (
    JsonFields,
    as_float_array,
    check_bootstrap,
    numeric_column,
    require_frame,
    validate_outcomes,
)
from stats.bootstrap import bootstrap_ci
from stats.multiplicity import benjamini_hochberg
from stats.power import minimal_detectable_effect

#: (comparison label, error outcome, correct outcome): always within one true class.
WITHIN_CLASS = (("FP vs TN", "FP", "TN"), ("FN vs TP", "FN", "TP"))


@dataclass(frozen=True)
class GroupComparison(JsonFields):
    """Mann-Whitney comparison of group ``a`` (1) against group ``b`` (2).

    Attributes:
        n1, n2: non-NaN values used from each group.
        n_nan1, n_nan2: NaN values dropped from each group.
        median1, q1_1, q3_1: median and quartiles of group 1 (numpy linear percentiles).
        median2, q1_2, q3_2: the same for group 2.
        u_statistic: scipy ``mannwhitneyu(a, b).statistic`` (U of group 1).
        p_value: two-sided p (scipy defaults: ``method='auto'``, continuity correction).
        rank_biserial: ``2 * U1 / (n1 * n2) - 1``; positive when ``a`` tends to be larger.
        ci_low, ci_high: 95% bootstrap percentile interval of ``rank_biserial``
            (``n_boot`` resamples drawn with replacement within each group, seeded).
        n_boot: bootstrap resamples used (0: no interval).
        reason: why statistics are NaN (e.g. a group with fewer than 2 values), else None.
    """

    n1: int
    n2: int
    n_nan1: int
    n_nan2: int
    median1: float
    q1_1: float
    q3_1: float
    median2: float
    q1_2: float
    q3_2: float
    u_statistic: float
    p_value: float
    rank_biserial: float
    ci_low: float
    ci_high: float
    n_boot: int
    reason: str | None = None



@dataclass(frozen=True, kw_only=True)
class ComparisonRow(GroupComparison):
    """One row of :func:`within_class_comparisons`: ``metric`` compared between ``group1`` (the errors: FP
    or FN) and ``group2`` (the correct images of the same true class); the :class:`GroupComparison`
    fields; ``q_value`` (Benjamini-Hochberg within the family); the minimal detectable effects.
    ``to_dict()`` keys are the table's columns, in its order."""

    metric: str
    comparison: str
    group1: str
    group2: str
    q_value: float
    mde_cohens_d: float
    mde_rank_biserial: float

    @staticmethod
    def columns() -> list[str]:
        """The columns of :func:`within_class_comparisons`, in order."""
        return (["metric", "comparison", "group1", "group2"] + [f.name for f in fields(GroupComparison)]
                + ["q_value", "mde_cohens_d", "mde_rank_biserial"])

    def to_dict(self) -> dict:
        out = super().to_dict()
        return {k: out[k] for k in self.columns()}


def rank_biserial_from_u(u1, n1: int, n2: int):
    """Rank-biserial correlation ``2 * U1 / (n1 * n2) - 1`` from the U of the first group (float or array)."""
    return 2.0 * u1 / (n1 * n2) - 1.0


def _quartiles(x: np.ndarray) -> tuple[float, float, float]:
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return (float(med), float(q1), float(q3))


def rank_biserial(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Rank-biserial of ``a`` against ``b`` along ``axis`` (vectorised; the bootstrap statistic)."""
    n1, n2 = a.shape[axis], b.shape[axis]
    ranks = rankdata(np.concatenate([a, b], axis=axis), axis=axis)
    u1 = np.take(ranks, np.arange(n1), axis=axis).sum(axis=axis) - n1 * (n1 + 1) / 2.0
    return rank_biserial_from_u(u1, n1, n2)


def compare_groups(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, n_boot: int = 2000, seed: int | None = 0
) -> GroupComparison:
    """Compare two independent samples with a two-sided Mann-Whitney U test.

    NaNs are dropped from each group separately (their counts are reported).
    When either group has fewer than 2 values, the test statistics are NaN and
    ``reason`` says why (medians/quartiles are still given where a group is non-empty).

    Args:
        a: first group (e.g. false positives).
        b: second group (e.g. true negatives).
        n_boot: bootstrap resamples for the rank-biserial interval (0 disables it).
        seed: seed of ``numpy.random.default_rng`` for the bootstrap.

    Returns:
        GroupComparison.

    Raises:
        ConfigError: non-numeric or non-1-D input, bad ``n_boot``/``seed``.
    """
    n_boot, seed = check_bootstrap(n_boot, seed)
    a_all, b_all = as_float_array(a, "a"), as_float_array(b, "b")
    a_ = a_all[~np.isnan(a_all)]
    b_ = b_all[~np.isnan(b_all)]
    n1, n2 = int(a_.size), int(b_.size)
    med1, q1_1, q3_1 = _quartiles(a_)
    med2, q1_2, q3_2 = _quartiles(b_)
    base = dict(
        n1=n1, n2=n2, n_nan1=int(a_all.size - n1), n_nan2=int(b_all.size - n2),
        median1=med1, q1_1=q1_1, q3_1=q3_1, median2=med2, q1_2=q1_2, q3_2=q3_2,
    )
    if n1 < 2 or n2 < 2:
        return GroupComparison(
            **base, u_statistic=math.nan, p_value=math.nan, rank_biserial=math.nan,
            ci_low=math.nan, ci_high=math.nan, n_boot=0,
            reason=f"group sizes {n1} and {n2} (after dropping NaN): need at least 2 in each group",
        )
    res = mannwhitneyu(a_, b_, alternative="two-sided")
    u1 = float(res.statistic)
    r = float(rank_biserial_from_u(u1, n1, n2))
    ci_low = ci_high = math.nan
    if n_boot > 0:
        ci = bootstrap_ci((a_, b_), rank_biserial, n_boot=n_boot, seed=seed)
        ci_low, ci_high = ci.low, ci.high
    return GroupComparison(
        **base, u_statistic=u1, p_value=float(res.pvalue), rank_biserial=r,
        ci_low=ci_low, ci_high=ci_high, n_boot=n_boot,
    )


def within_class_comparisons(
    table: pd.DataFrame, metrics: Sequence[str], *, n_boot: int = 2000, seed: int | None = 0
) -> pd.DataFrame:
    """Compare each metric between errors and correct images *within* each true class.

    Two comparisons per metric, never errors against all correct images:
    ``'FP vs TN'`` (true NORMAL: group 1 = FP, group 2 = TN) and ``'FN vs TP'``
    (true PNEUMONIA: group 1 = FN, group 2 = TP). NaNs are dropped per comparison.
    Every comparison uses the same ``seed``, so each row is reproducible alone.

    Args:
        table: aligned table with ``label``, ``outcome`` and the metric columns.
        metrics: numeric column names to compare.
        n_boot: bootstrap resamples per comparison.
        seed: bootstrap seed.

    Returns:
        DataFrame, one row per (metric, comparison), columns ``metric, comparison,
        group1, group2``, all :class:`GroupComparison` fields, ``q_value`` (BH across
        all rows of this frame), ``mde_cohens_d`` and ``mde_rank_biserial``
        (smallest |effect| detectable with 80% power at alpha 0.05 for n1, n2;
        see :func:`stats.power.minimal_detectable_effect`).

    Raises:
        ConfigError: missing/non-numeric columns, inconsistent outcomes.
    """
    require_frame(table)
    validate_outcomes(table)
    metrics = list(metrics)
    if len(set(metrics)) != len(metrics):
        raise ConfigError(f"metrics contains duplicates: {metrics}")
    outcome = table["outcome"].to_numpy()
    rows = []
    for metric in metrics:
        values = numeric_column(table, metric)
        for label, err, ok in WITHIN_CLASS:
            cmp = compare_groups(values[outcome == err], values[outcome == ok], n_boot=n_boot, seed=seed)
            mde = minimal_detectable_effect(cmp.n1, cmp.n2)
            rows.append({
                "metric": metric, "comparison": label, "group1": err, "group2": ok,
                **asdict(cmp),
                "mde_cohens_d": mde.cohens_d, "mde_rank_biserial": mde.rank_biserial,
            })
    columns = ComparisonRow.columns()
    frame = pd.DataFrame(rows, columns=[c for c in columns if c != "q_value"])
    frame.insert(frame.columns.get_loc("reason") + 1, "q_value",
                 benjamini_hochberg(frame["p_value"].to_numpy(dtype=float)) if len(frame) else [])
    return frame[columns]
