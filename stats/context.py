"""Per-error context: where each error sits among correctly classified images of its own true class.

When a split is too small for the within-class tests (FP vs TN needs at least 2 of
each), an error can still be placed in a larger *reference pool* (by default the
run's test split): for each primary metric, the percentile of the error's value
among the correct images of the same true class in the pool, with the pool's size.
A false positive at the 3rd percentile of Laplacian variance among correct NORMAL
films is blurrier than 97% of them. This is description, not a test: no p-value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import percentileofscore

from stats.primary import PRIMARY_METRICS

#: Group sizes the within-class comparisons need (stats.compare.compare_groups: >= 2 per group).
MIN_GROUP = 2
#: Which correct group an error of each outcome is compared with.
COMPARISON_OF = {"FP": ("FP", "TN"), "FN": ("FN", "TP")}


@dataclass(frozen=True)
class ErrorContext:
    """One error on one metric, placed among the correct images of its true class in a pool.

    Attributes:
        image_id: the error.
        outcome: ``FP`` or ``FN``.
        true_class: ``NORMAL`` or ``PNEUMONIA``.
        metric: column of the per-image table.
        value: the error's value (NaN: not measured, e.g. implausible lung mask).
        percentile: in [0, 100], share of pool values below the value, ties counted
            half (scipy ``percentileofscore(kind='mean')``); NaN when not computable.
        pool_n: correct images of the true class with a value for the metric.
        pool_median: their median (NaN when the pool is empty).
        pool: the pool's name (e.g. ``test split``).
    """

    image_id: str
    outcome: str
    true_class: str
    metric: str
    value: float
    percentile: float
    pool_n: int
    pool_median: float
    pool: str

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in asdict(self).items()}


def percentile_in_pool(value: float, pool: Iterable[float]) -> tuple[float, int]:
    """(percentile of ``value`` among the finite ``pool`` values, their number); NaN when undefined."""
    values = np.asarray(list(pool), dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0 or not np.isfinite(value):
        return float("nan"), int(values.size)
    return float(percentileofscore(values, float(value), kind="mean")), int(values.size)


def per_error_context(errors: pd.DataFrame, pool: pd.DataFrame, *, pool_name: str,
                      metrics: Iterable[str] | None = None) -> tuple[ErrorContext, ...]:
    """Context of every error on every metric.

    Args:
        errors: rows with ``image_id``, ``label``, ``outcome`` (FP/FN) and the metric columns.
        pool: reference rows with ``image_id``, ``label``, ``correct`` and the metric columns;
            only correct rows of the error's true class are used, never the error itself.
        pool_name: how the report names the pool.
        metrics: columns (default: every primary metric of :data:`stats.primary.PRIMARY_METRICS`).
            A metric absent from either table gives NaN percentiles with ``pool_n`` 0.

    Returns:
        One :class:`ErrorContext` per error and metric, errors in input order.
    """
    metrics = list(PRIMARY_METRICS.values()) if metrics is None else list(metrics)
    correct = pool[pool["correct"].astype(bool)]
    out = []
    for row in errors.itertuples(index=False):
        same = correct[(correct["label"] == row.label) & (correct["image_id"] != row.image_id)]
        for metric in metrics:
            value = float(getattr(row, metric)) if metric in errors.columns else float("nan")
            values = same[metric].to_numpy(dtype=float) if metric in same.columns else np.zeros(0)
            pct, n = percentile_in_pool(value, values)
            finite = values[np.isfinite(values)]
            out.append(ErrorContext(str(row.image_id), str(row.outcome), str(row.label), metric, value, pct, n,
                                    float(np.median(finite)) if finite.size else float("nan"), pool_name))
    return tuple(out)


def within_class_testable(counts: Mapping[str, int]) -> dict[str, str | None]:
    """For ``FP vs TN`` and ``FN vs TP``: None when testable, else the reason (group sizes) in words."""
    out: dict[str, str | None] = {}
    for a, b in COMPARISON_OF.values():
        na, nb = int(counts.get(a, 0)), int(counts.get(b, 0))
        out[f"{a} vs {b}"] = (None if na >= MIN_GROUP and nb >= MIN_GROUP else
                              f"{na} {a} and {nb} {b}: each group needs at least {MIN_GROUP}")
    return out


@dataclass(frozen=True)
class PerErrorContext:
    """What the report says about each error's place among the correct images of its class.

    Attributes:
        testable: ``FP vs TN`` / ``FN vs TP`` -> None when the within-class test is possible, else why not
            (:func:`within_class_testable`).
        rows: one :class:`ErrorContext` per error and primary metric (empty without a reference pool).
        pool: the reference pool's name (None: no pool).
        pool_by_class: correct images per true class in the pool.
    """

    testable: Mapping[str, str | None]
    rows: tuple[ErrorContext, ...] = ()
    pool: str | None = None
    pool_by_class: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"testable": dict(self.testable), "rows": [r.to_dict() for r in self.rows], "pool": self.pool,
                "pool_by_class": dict(self.pool_by_class)}
