"""Golden and failure-mode tests for stats.regression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from data.errors import ConfigError
from stats.regression import error_logistic_regression
from helpers import make_table


def _table(n_tn=150, n_fp=60, seed=0, effect=0.8):
    rng = np.random.default_rng(seed)
    df = make_table({"TN": n_tn, "FP": n_fp, "TP": 40, "FN": 12}, seed=seed)
    normal = df["label"].eq("NORMAL").to_numpy()
    x = df["q_laplacian_var"].to_numpy()
    # redraw NORMAL outcomes from a true logistic model in q_laplacian_var
    prob = 1 / (1 + np.exp(-(-1.0 - effect * (x - 10.0))))
    fp = rng.random(len(df)) < prob
    df.loc[normal, "outcome"] = np.where(fp[normal], "FP", "TN")
    df.loc[normal, "pred"] = np.where(fp[normal], "PNEUMONIA", "NORMAL")
    return df


def test_odds_ratios_match_statsmodels():
    df = _table()
    res = error_logistic_regression(df, ["q_laplacian_var", "q_rms_contrast"], true_class="NORMAL",
                                    adjust=("orig_width",))
    assert res.fit_ok, res.reason
    sub = df[df.label == "NORMAL"]
    X = sub[["q_laplacian_var", "q_rms_contrast", "orig_width"]].to_numpy(float)
    Z = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    y = (sub["outcome"] == "FP").to_numpy(float)
    ref = sm.Logit(y, sm.add_constant(Z)).fit(disp=0)
    np.testing.assert_allclose(res.odds_ratios["odds_ratio"], np.exp(ref.params[1:]), rtol=1e-6)
    np.testing.assert_allclose(res.odds_ratios["ci_low"], np.exp(ref.conf_int()[1:, 0]), rtol=1e-6)
    np.testing.assert_allclose(res.odds_ratios["ci_high"], np.exp(ref.conf_int()[1:, 1]), rtol=1e-6)
    np.testing.assert_allclose(res.odds_ratios["p_value"], ref.pvalues[1:], rtol=1e-6)
    assert list(res.odds_ratios["predictor"]) == ["q_laplacian_var", "q_rms_contrast", "orig_width"]
    assert (res.n, res.n_events) == (len(sub), int(y.sum()))
    assert res.odds_ratios.loc[0, "odds_ratio"] < 1  # sharper images are less often FP


def test_pneumonia_class_counts_fn_as_event():
    df = _table()
    res = error_logistic_regression(df, ["q_mean"], true_class="PNEUMONIA", adjust=(), min_events=5,
                                    min_events_per_predictor=10)
    assert (res.n, res.n_events, res.n_nonevents) == (52, 12, 40)
    assert res.fit_ok


def test_too_few_events_is_reported_not_raised():
    df = make_table({"TN": 50, "FP": 3, "TP": 20, "FN": 20})
    res = error_logistic_regression(df, ["q_laplacian_var"], true_class="NORMAL")
    assert not res.fit_ok and "too few events" in res.reason and res.odds_ratios.empty
    df = make_table({"TN": 50, "FP": 20, "TP": 20, "FN": 20})
    res = error_logistic_regression(df, ["q_laplacian_var", "q_rms_contrast"], true_class="NORMAL")
    assert not res.fit_ok and "per predictor" in res.reason  # 20 events / 5 predictors
    assert res.to_dict()["odds_ratios"] == []


def test_perfect_separation_is_reported():
    df = make_table({"TN": 100, "FP": 60, "TP": 5, "FN": 5})
    normal = df.label == "NORMAL"
    df.loc[normal, "q_laplacian_var"] = np.where(df.loc[normal, "outcome"] == "FP", 1.0, 5.0) + \
        np.linspace(0, 1, normal.sum())
    res = error_logistic_regression(df, ["q_laplacian_var"], true_class="NORMAL", adjust=())
    assert not res.fit_ok and "separation" in res.reason


def test_constant_predictors_dropped_and_nan_rows_noted():
    df = _table()
    df["orig_height"] = 1024.0
    df.loc[df.index[:3], "q_rms_contrast"] = np.nan
    res = error_logistic_regression(df, ["q_laplacian_var", "q_rms_contrast"], true_class="NORMAL",
                                    adjust=("orig_height",))
    assert "orig_height" not in res.predictors
    assert any("constant predictor 'orig_height'" in n for n in res.notes)
    assert any("dropped 3 of" in n for n in res.notes)


def test_collinear_adjustment_covariate_is_dropped_and_the_model_fits():
    """A geometry covariate equal to an affine map of another (as source vs stored aspect) is dropped, not fatal."""
    df = _table()
    df["source_aspect"] = 2.0 * df["orig_width"] + 1.0
    res = error_logistic_regression(df, ["q_laplacian_var"], true_class="NORMAL",
                                    adjust=("orig_width", "source_aspect"))
    assert res.fit_ok, res.reason
    assert res.predictors == ("q_laplacian_var", "orig_width")
    assert any("'source_aspect'" in n and "collinear" in n for n in res.notes)
    alone = error_logistic_regression(df, ["q_laplacian_var"], true_class="NORMAL", adjust=("orig_width",))
    np.testing.assert_allclose(res.odds_ratios["odds_ratio"], alone.odds_ratios["odds_ratio"], rtol=1e-9)


def test_covariate_varying_in_too_few_images_is_dropped_not_fitted_to_separation():
    """98% of test films are 224x224 copies: a covariate that varies in 3 FPs and 5 TNs cannot be estimated."""
    df = _table()
    normal = df.index[df["label"] == "NORMAL"]
    fp, tn = [normal[df.loc[normal, "outcome"] == o] for o in ("FP", "TN")]
    df["is_224_copy"] = 1.0
    df.loc[list(fp[:3]) + list(tn[:5]), "is_224_copy"] = 0.0
    res = error_logistic_regression(df, ["q_laplacian_var"], true_class="NORMAL", adjust=("is_224_copy",))
    assert res.fit_ok, res.reason
    assert res.predictors == ("q_laplacian_var",)
    assert any("'is_224_copy'" in n and "only 3 errors and 5 correct" in n for n in res.notes)
    df.loc[list(fp[:6]) + list(tn[:6]), "is_224_copy"] = 0.0  # enough variation: kept
    res = error_logistic_regression(df, ["q_laplacian_var"], true_class="NORMAL", adjust=("is_224_copy",))
    assert res.predictors == ("q_laplacian_var", "is_224_copy")


def test_bad_arguments_and_no_mutation():
    df = _table()
    before = df.copy(deep=True)
    with pytest.raises(ConfigError, match="true_class"):
        error_logistic_regression(df, ["q_mean"], true_class="normal")
    with pytest.raises(ConfigError, match="lacks column"):
        error_logistic_regression(df, ["nope"], true_class="NORMAL")
    error_logistic_regression(df, ["q_mean"], true_class="NORMAL")
    pd.testing.assert_frame_equal(df, before)
