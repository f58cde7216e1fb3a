"""Invariants of the bootstrap, Wilson and multiplicity wrappers (no replay of random draws)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy.stats import norm
from statsmodels.stats.multitest import multipletests

from data.errors import ConfigError
from stats.bootstrap import bootstrap_ci, bootstrap_mean_ci
from stats.compare import compare_groups
from stats.correlation import spearman_with_ci
from stats.intervals import format_metric, proportion, wilson_interval
from stats.multiplicity import adjust_pvalues, benjamini_hochberg, holm


@pytest.mark.parametrize("method", ["percentile", "BCa"])
def test_mean_interval_contains_estimate_and_shifts_with_the_data(method):
    x = np.random.default_rng(0).gamma(2.0, 1.0, 40)
    low, high = bootstrap_mean_ci(x, 1000, seed=1, method=method)
    assert low < x.mean() < high
    s_low, s_high = bootstrap_mean_ci(x + 10.0, 1000, seed=1, method=method)
    assert (s_low, s_high) == pytest.approx((low + 10.0, high + 10.0), abs=1e-9)
    w_low, w_high = bootstrap_mean_ci(3.0 * x, 1000, seed=1, method=method)
    assert w_high - w_low == pytest.approx(3.0 * (high - low), rel=1e-9)


def test_mean_interval_edge_cases_and_seed():
    assert all(math.isnan(v) for v in bootstrap_mean_ci([]))
    assert bootstrap_mean_ci([0.4]) == (0.4, 0.4)
    assert bootstrap_mean_ci([0.2, 0.2, 0.2]) == pytest.approx((0.2, 0.2))
    assert bootstrap_mean_ci([1, 2, np.nan, 3], 300, 0) == bootstrap_mean_ci([1, 2, 3], 300, 0)
    x = np.random.default_rng(2).normal(size=30)
    assert bootstrap_mean_ci(x, 300, 5) == bootstrap_mean_ci(x, 300, 5)
    assert bootstrap_mean_ci(x, 300, 5) != bootstrap_mean_ci(x, 300, 6)


def test_mean_interval_covers_about_95_percent():
    """Simulated coverage over 300 normal samples of n = 40: within 95% +- 4 points."""
    rng = np.random.default_rng(11)
    hits = 0
    for k in range(300):
        low, high = bootstrap_mean_ci(rng.normal(1.0, 2.0, 40), 500, seed=k)
        hits += low <= 1.0 <= high
    assert 0.91 <= hits / 300 <= 0.99


def test_rank_biserial_interval_covers_the_true_effect():
    """Normal shift d: true rank-biserial 2*Phi(d/sqrt(2)) - 1; coverage of 200 simulated studies."""
    rng = np.random.default_rng(3)
    d = 0.8
    truth = 2 * norm.cdf(d / math.sqrt(2)) - 1
    hits = 0
    for k in range(200):
        res = compare_groups(rng.normal(d, 1, 30), rng.normal(0, 1, 40), n_boot=400, seed=k)
        assert res.ci_low <= res.rank_biserial <= res.ci_high
        hits += res.ci_low <= truth <= res.ci_high
    assert 0.88 <= hits / 200 <= 0.99


def test_rank_biserial_interval_moves_with_the_shift():
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 1, 50), rng.normal(0, 1, 50)
    null = compare_groups(a, b, n_boot=500, seed=0)
    shifted = compare_groups(a + 1.0, b, n_boot=500, seed=0)
    assert shifted.ci_low > null.ci_low and shifted.ci_high > null.ci_high
    assert shifted.ci_low > 0  # a clear shift excludes 0


def test_spearman_interval_contains_rho_and_drops_constant_resamples():
    rng = np.random.default_rng(8)
    x = rng.normal(size=60)
    res = spearman_with_ci(x, x + rng.normal(size=60), n_boot=500, seed=4)
    assert res.ci_low <= res.rho <= res.ci_high and res.n_boot == 500
    tiny = spearman_with_ci([1.0, 2.0, 3.0, 3.0], [1.0, 2.0, 2.0, 5.0], n_boot=300, seed=0)
    assert 0 < tiny.n_boot < 300  # resamples with a constant variable are dropped and counted


def test_bootstrap_ci_paired_and_validation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    diff = lambda a, b, axis=-1: np.mean(a - b, axis=axis)  # noqa: E731
    paired = bootstrap_ci((x + 1.0, x), diff, n_boot=200, seed=0, paired=True)
    assert paired.low == pytest.approx(1.0) and paired.high == pytest.approx(1.0)  # the difference is constant
    unpaired = bootstrap_ci((x + 1.0, x), diff, n_boot=200, seed=0)
    assert unpaired.low < 1.0 < unpaired.high
    assert math.isnan(bootstrap_ci(([1.0], [1.0, 2.0]), diff, n_boot=10).low)
    with pytest.raises(ConfigError, match="method"):
        bootstrap_ci((x,), np.mean, method="basic")


def test_wilson_axioms():
    assert wilson_interval(14, 16) == pytest.approx((0.6398, 0.9650), abs=1e-4)  # the study's 87.5%
    for k, n in [(0, 10), (3, 10), (10, 10), (57, 624)]:
        low, high = wilson_interval(k, n)
        assert 0.0 <= low <= k / n <= high <= 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    narrow, wide = wilson_interval(500, 1000), wilson_interval(5, 10)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    with pytest.raises(ConfigError):
        wilson_interval(5, 3)
    m = proportion(14, 16)
    assert m["value"] == 0.875 and m["successes"] == 14 and m["n"] == 16


def test_format_metric_reads_its_numbers_back():
    text = format_metric(proportion(14, 16))
    numbers = [float(s) for s in re.findall(r"\d+(?:\.\d+)?", text.replace("95% CI", ""))]
    assert numbers == pytest.approx([87.5, 64.0, 96.5, 16], abs=0.05)
    assert text.endswith("n=16)")
    assert format_metric({"value": None}) == "n/a"
    assert format_metric({"value": 0.1234, "ci_low": None, "ci_high": None, "n": 5}, percent=False) == "0.123 (n=5)"


@pytest.mark.parametrize("ours,theirs", [("bh", "fdr_bh"), ("holm", "holm")])
def test_adjusted_pvalues_match_statsmodels_and_ignore_nan(ours, theirs):
    p = np.array([0.01, np.nan, 0.04, 0.03, 0.5, np.nan, 0.002])
    q = adjust_pvalues(p, ours)
    ok = ~np.isnan(p)
    np.testing.assert_allclose(q[ok], multipletests(p[ok], method=theirs)[1])
    assert np.isnan(q[~ok]).all()
    assert (q[ok] >= p[ok]).all()
    assert adjust_pvalues([], ours).size == 0
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        adjust_pvalues([0.2, 1.5], ours)
    np.testing.assert_allclose(benjamini_hochberg(p[ok]), adjust_pvalues(p[ok], "bh"))
    np.testing.assert_allclose(holm(p[ok]), adjust_pvalues(p[ok], "holm"))
