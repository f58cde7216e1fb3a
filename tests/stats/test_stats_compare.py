"""Golden and behavioural tests for stats.compare."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu
from statsmodels.stats.multitest import multipletests

from data.errors import ConfigError
from stats.compare import compare_groups, within_class_comparisons
from stats.power import minimal_detectable_effect
from helpers import QUALITY, make_table

A = np.array([3.1, 4.5, 2.2, 5.0, 4.5, 6.3, 3.3, 7.1])
B = np.array([1.0, 2.2, 2.9, 3.0, 0.4, 1.7, 4.5, 2.0, 2.5])


def brute_rank_biserial(a, b):
    """P(a > b) - P(a < b) over all pairs: independent of scipy's U."""
    diff = np.subtract.outer(np.asarray(a, float), np.asarray(b, float))
    return float((diff > 0).mean() - (diff < 0).mean())


def test_mann_whitney_golden_small_with_ties():
    res = compare_groups(A, B, n_boot=0)
    ref = mannwhitneyu(A, B, alternative="two-sided")
    assert res.u_statistic == pytest.approx(float(ref.statistic))
    assert res.p_value == pytest.approx(float(ref.pvalue))
    assert res.rank_biserial == pytest.approx(brute_rank_biserial(A, B))
    assert res.rank_biserial > 0  # A tends to be larger than B
    assert (res.n1, res.n2) == (8, 9)
    assert res.median1 == pytest.approx(np.median(A))
    assert (res.q1_2, res.q3_2) == pytest.approx(tuple(np.percentile(B, [25, 75])))


def test_mann_whitney_golden_large_and_sign_convention():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 60), rng.normal(0.8, 1, 90)
    res = compare_groups(a, b, n_boot=0)
    ref = mannwhitneyu(a, b, alternative="two-sided")
    assert res.u_statistic == pytest.approx(float(ref.statistic))
    assert res.p_value == pytest.approx(float(ref.pvalue))
    assert res.rank_biserial == pytest.approx(brute_rank_biserial(a, b))
    assert res.rank_biserial < 0  # a smaller
    swapped = compare_groups(b, a, n_boot=0)
    assert swapped.rank_biserial == pytest.approx(-res.rank_biserial)
    assert swapped.p_value == pytest.approx(res.p_value)


def test_bootstrap_ci_contains_estimate_and_is_seeded():
    n_boot, seed = 300, 11
    res = compare_groups(A, B, n_boot=n_boot, seed=seed)
    assert -1.0 <= res.ci_low <= res.rank_biserial <= res.ci_high <= 1.0
    assert compare_groups(A, B, n_boot=n_boot, seed=seed) == res
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=40), rng.normal(size=50)
    one, other = compare_groups(a, b, n_boot=n_boot, seed=1), compare_groups(a, b, n_boot=n_boot, seed=2)
    assert (one.ci_low, one.ci_high) != (other.ci_low, other.ci_high)
    assert one.rank_biserial == other.rank_biserial


@pytest.mark.parametrize("a,b", [([1.0], [1.0, 2.0, 3.0]), ([], [1.0, 2.0]), ([np.nan, 2.0], [1.0, 2.0]), ([], [])])
def test_small_groups_give_nan_and_reason(a, b):
    res = compare_groups(a, b, n_boot=50)
    assert math.isnan(res.p_value) and math.isnan(res.rank_biserial) and math.isnan(res.ci_low)
    assert "at least 2" in res.reason
    d = res.to_dict()
    assert d["p_value"] is None and d["reason"] == res.reason


def test_nan_dropped_per_group_and_counted():
    res = compare_groups([1.0, np.nan, 2.0, 3.0], [np.nan, np.nan, 0.5, 0.7, 0.1], n_boot=0)
    assert (res.n1, res.n2, res.n_nan1, res.n_nan2) == (3, 3, 1, 2)
    assert res.rank_biserial == pytest.approx(1.0)


def test_compare_groups_rejects_bad_input():
    with pytest.raises(ConfigError, match="numeric"):
        compare_groups(["a", "b"], [1.0, 2.0])
    with pytest.raises(ConfigError, match="n_boot"):
        compare_groups(A, B, n_boot=-1)


def _confounded_table(seed=0):
    """NORMAL images low and PNEUMONIA images high on 'class_mix' (class difference only, no
    error effect); 'planted' lower in FP than TN but also lower in TP than FN, so that
    errors vs all correct images show nothing for it."""
    counts = {"TP": 60, "FN": 8, "TN": 30, "FP": 40}
    df = make_table(counts, seed=seed)
    rng = np.random.default_rng(seed + 1)
    is_pneu = df["label"].eq("PNEUMONIA").to_numpy()
    df["class_mix"] = rng.normal(size=len(df)) + 5.0 * is_pneu
    df["planted"] = rng.normal(size=len(df)) - 1.5 * df["outcome"].isin(["FP", "TP"]).to_numpy()
    return df


def test_within_class_never_uses_other_class():
    df = _confounded_table()
    frame = within_class_comparisons(df, ["class_mix", "planted"], n_boot=200, seed=1)
    assert list(frame["comparison"]) == ["FP vs TN", "FN vs TP"] * 2
    fp_tn = frame[(frame.metric == "class_mix") & (frame.comparison == "FP vs TN")].iloc[0]
    assert (fp_tn.n1, fp_tn.n2) == (40, 30)
    assert fp_tn.p_value > 0.05  # no effect within NORMAL ...
    errors = df["outcome"].isin(["FP", "FN"])
    pooled = compare_groups(df.loc[errors, "class_mix"], df.loc[~errors, "class_mix"], n_boot=0)
    assert pooled.p_value < 1e-6  # ... although errors vs all correct differ (class mix)
    planted = frame[(frame.metric == "planted") & (frame.comparison == "FP vs TN")].iloc[0]
    assert planted.p_value < 1e-4 and planted.rank_biserial < 0 and planted.ci_high < 0
    pooled = compare_groups(df.loc[errors, "planted"], df.loc[~errors, "planted"], n_boot=0)
    assert abs(pooled.rank_biserial) < abs(planted.rank_biserial)
    # each row equals compare_groups on exactly the within-class subsets
    sub = compare_groups(df.loc[df.outcome == "FN", "planted"], df.loc[df.outcome == "TP", "planted"],
                         n_boot=200, seed=1)
    row = frame[(frame.metric == "planted") & (frame.comparison == "FN vs TP")].iloc[0]
    assert row.u_statistic == sub.u_statistic and row.ci_low == sub.ci_low and (row.n1, row.n2) == (8, 60)


def test_within_class_q_values_and_mde_columns():
    df = make_table({"TP": 30, "FN": 6, "TN": 25, "FP": 9}, seed=4)
    frame = within_class_comparisons(df, QUALITY[:4], n_boot=50)
    np.testing.assert_allclose(frame["q_value"], multipletests(frame["p_value"], method="fdr_bh")[1])
    for _, row in frame.iterrows():
        mde = minimal_detectable_effect(int(row.n1), int(row.n2))
        assert row.mde_rank_biserial == pytest.approx(mde.rank_biserial)
        assert row.mde_cohens_d == pytest.approx(mde.cohens_d)


def test_within_class_handles_nan_only_groups():
    df = make_table({"TP": 10, "FN": 5, "TN": 10, "FP": 5}, seed=2)  # ig NaN for correct images
    frame = within_class_comparisons(df, ["ig_lung_share"], n_boot=20)
    assert frame["n2"].tolist() == [0, 0] and frame["reason"].notna().all()
    assert frame["q_value"].isna().all()


def test_within_class_validates_table():
    df = make_table({"TP": 5, "FN": 5, "TN": 5, "FP": 5})
    with pytest.raises(ConfigError, match="lacks column"):
        within_class_comparisons(df, ["nope"])
    bad = df.copy()
    bad.loc[0, "outcome"] = "FP"  # row 0 is a true PNEUMONIA image
    with pytest.raises(ConfigError, match="img0000"):
        within_class_comparisons(bad, ["q_mean"])
    bad = df.copy()
    bad.loc[0, "outcome"] = "maybe"
    with pytest.raises(ConfigError, match="maybe"):
        within_class_comparisons(bad, ["q_mean"])


def test_inputs_not_mutated():
    df = _confounded_table()
    before = df.copy(deep=True)
    a = df["planted"].to_numpy()
    a_before = a.copy()
    within_class_comparisons(df, ["planted", "class_mix"], n_boot=20)
    compare_groups(a, a[::-1], n_boot=20)
    pd.testing.assert_frame_equal(df, before)
    np.testing.assert_array_equal(a, a_before)
