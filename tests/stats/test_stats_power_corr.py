"""Golden tests for stats.power and stats.correlation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, spearmanr
from statsmodels.stats.power import TTestIndPower

from data.errors import ConfigError
from stats.correlation import dose_response, spearman_with_ci
from stats.power import d_to_rank_biserial, minimal_detectable_effect
from helpers import make_table


@pytest.mark.parametrize("n1,n2", [(2, 2), (9, 120), (40, 40), (300, 25)])
def test_mde_matches_statsmodels(n1, n2):
    mde = minimal_detectable_effect(n1, n2)
    ref = TTestIndPower().solve_power(effect_size=None, nobs1=n1, ratio=n2 / n1, alpha=0.05, power=0.8)
    assert mde.cohens_d == pytest.approx(float(ref), rel=1e-6)
    assert mde.rank_biserial == pytest.approx(2 * norm.cdf(mde.cohens_d / math.sqrt(2)) - 1)
    assert 0 < mde.rank_biserial < 1 and mde.reason is None


def test_mde_shrinks_with_n_and_is_nan_for_tiny_groups():
    assert minimal_detectable_effect(100, 100).cohens_d < minimal_detectable_effect(20, 20).cohens_d
    tiny = minimal_detectable_effect(1, 50)
    assert math.isnan(tiny.cohens_d) and math.isnan(tiny.rank_biserial) and "at least 2" in tiny.reason
    assert tiny.to_dict()["cohens_d"] is None
    with pytest.raises(ConfigError, match="power"):
        minimal_detectable_effect(10, 10, power=1.5)
    with pytest.raises(ConfigError, match="n1"):
        minimal_detectable_effect(-1, 10)


def test_rank_biserial_conversion_matches_simulated_normal_shift():
    rng = np.random.default_rng(0)
    d = 0.7
    x, y = rng.normal(d, 1, 400_000), rng.normal(0, 1, 400_000)
    simulated = 2 * np.mean(x > y) - 1
    assert d_to_rank_biserial(d) == pytest.approx(simulated, abs=0.005)
    assert d_to_rank_biserial(-d) == pytest.approx(-d_to_rank_biserial(d))


def test_spearman_matches_scipy_with_pairwise_nan_drop():
    rng = np.random.default_rng(5)
    x = rng.normal(size=60)
    y = 0.5 * x + rng.normal(size=60)
    x[3], y[10], y[11] = np.nan, np.nan, np.nan
    res = spearman_with_ci(x, y, n_boot=300, seed=2)
    ok = ~(np.isnan(x) | np.isnan(y))
    ref = spearmanr(x[ok], y[ok])
    assert (res.n, res.n_dropped) == (57, 3)
    assert res.rho == pytest.approx(float(ref.statistic))
    assert res.p == pytest.approx(float(ref.pvalue))
    assert res.ci_low < res.rho < res.ci_high
    assert spearman_with_ci(x, y, n_boot=300, seed=2) == res


def test_spearman_degenerate_cases():
    res = spearman_with_ci([1.0, 2.0], [2.0, 1.0], n_boot=10)
    assert math.isnan(res.rho) and "at least 3" in res.reason
    res = spearman_with_ci([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0], n_boot=10)
    assert math.isnan(res.rho) and "constant" in res.reason
    with pytest.raises(ConfigError, match="same length"):
        spearman_with_ci([1.0, 2.0, 3.0], [1.0, 2.0])


def test_dose_response_uses_true_normal_only():
    df = make_table({"TP": 80, "FN": 10, "TN": 60, "FP": 20}, seed=6)
    # among PNEUMONIA images, x tracks p_pneumonia perfectly; among NORMAL it is noise
    rng = np.random.default_rng(1)
    is_pneu = df["label"].eq("PNEUMONIA")
    df["x"] = np.where(is_pneu, df["p_pneumonia"], rng.normal(size=len(df)))
    df["y"] = np.where(is_pneu, rng.normal(size=len(df)), -df["p_pneumonia"])
    before = df.copy(deep=True)
    frame = dose_response(df, ["x", "y"], n_boot=100)
    normal = df[df.label == "NORMAL"]
    assert frame.loc[0, "n"] == len(normal) == 80
    assert frame.loc[0, "rho"] == pytest.approx(spearmanr(normal.p_pneumonia, normal.x).statistic)
    assert frame.loc[1, "rho"] == pytest.approx(-1.0)
    assert frame["q_value"].notna().all()
    pd.testing.assert_frame_equal(df, before)
