"""Per-error context: percentiles among correct images of the same true class, against a hand count."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from stats.context import per_error_context, percentile_in_pool, within_class_testable
from stats.primary import PRIMARY_METRICS


def _pool(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 200
    frame = pd.DataFrame({"image_id": [f"p{i}" for i in range(n)],
                          "label": rng.choice(["NORMAL", "PNEUMONIA"], n),
                          "correct": rng.random(n) < 0.8})
    for col in PRIMARY_METRICS.values():
        frame[col] = rng.normal(size=n).round(1)  # rounded: ties happen
    frame.loc[:9, PRIMARY_METRICS["contrast"]] = np.nan
    return frame


def _by_hand(value: float, values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    below, equal = int((values < value).sum()), int((values == value).sum())
    return 100.0 * (below + 0.5 * equal) / values.size


def test_percentile_matches_an_independent_count():
    pool = _pool()
    errors = pd.DataFrame({"image_id": ["e1", "e2", "e3"], "label": ["NORMAL", "NORMAL", "PNEUMONIA"],
                           "outcome": ["FP", "FP", "FN"]})
    for col in PRIMARY_METRICS.values():
        errors[col] = [0.0, -2.5, 0.7]
    out = per_error_context(errors, pool, pool_name="synthetic")
    assert len(out) == 3 * len(PRIMARY_METRICS)
    for ctx in out:
        err = errors.set_index("image_id").loc[ctx.image_id]
        same = pool[pool["correct"] & (pool["label"] == err["label"])][ctx.metric].to_numpy(float)
        assert ctx.percentile == pytest.approx(_by_hand(err[ctx.metric], same))
        assert ctx.pool_n == int(np.isfinite(same).sum())
        assert ctx.pool_median == pytest.approx(np.nanmedian(same))
        assert ctx.true_class == err["label"] and ctx.pool == "synthetic"


def test_extremes_missing_values_and_the_error_itself():
    pool = pd.DataFrame({"image_id": ["a", "b", "c", "e"], "label": ["NORMAL"] * 4, "correct": [True] * 4,
                         "m": [1.0, 2.0, 3.0, 100.0]})
    errors = pd.DataFrame({"image_id": ["e", "f"], "label": ["NORMAL", "NORMAL"], "outcome": ["FP", "FP"],
                           "m": [100.0, np.nan]})
    e, f = per_error_context(errors, pool, pool_name="p", metrics=["m"])
    assert e.percentile == 100.0 and e.pool_n == 3  # its own row is never in its pool
    assert math.isnan(f.percentile) and f.pool_n == 4
    (g,) = per_error_context(errors.head(1), pool, pool_name="p", metrics=["absent"])
    assert math.isnan(g.percentile) and g.pool_n == 0
    assert percentile_in_pool(0.0, [])[1] == 0


def test_within_class_testable_names_the_groups():
    out = within_class_testable({"TP": 8, "TN": 0, "FP": 8, "FN": 0})
    assert "0 TN" in out["FP vs TN"] and "0 FN" in out["FN vs TP"]
    assert within_class_testable({"TP": 5, "TN": 5, "FP": 2, "FN": 2}) == {"FP vs TN": None, "FN vs TP": None}
