"""Classification metrics against textbook values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from data.errors import ConfigError
from stats.classification import binary_metrics, expected_calibration_error
from stats.intervals import wilson_interval


def test_wilson_study_value():
    low, high = wilson_interval(14, 16)
    assert low == pytest.approx(0.640, abs=1e-3) and high == pytest.approx(0.965, abs=1e-3)


def test_wilson_rejects_bad_counts():
    with pytest.raises(ConfigError, match="successes=5, n=4"):
        wilson_interval(5, 4)


def test_binary_metrics_counts_and_auc():
    rng = np.random.default_rng(0)
    y = np.array([0] * 30 + [1] * 50)
    p = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    m = binary_metrics(y, p, n_boot=300)
    c = m["counts"]
    pred = p >= 0.5
    assert c["TP"] == int((pred & (y == 1)).sum()) and c["FP"] == int((pred & (y == 0)).sum())
    assert m["accuracy"]["value"] == pytest.approx((c["TP"] + c["TN"]) / 80)
    assert m["sensitivity"]["value"] == pytest.approx(c["TP"] / 50)
    assert m["roc_auc"]["value"] == pytest.approx(roc_auc_score(y, p))
    for key in ("accuracy", "sensitivity", "specificity", "balanced_accuracy", "roc_auc", "ece"):
        assert m[key]["ci_low"] <= m[key]["value"] <= m[key]["ci_high"], key
    assert "small_split_warning" in m  # 80 < 100


def test_ece_hand_computed():
    # all predicted positive with confidence 0.9, 2 of 4 right -> |0.5 - 0.9| = 0.4
    assert expected_calibration_error(np.array([1, 1, 0, 0]), np.full(4, 0.9)) == pytest.approx(0.4)
    # perfectly calibrated at 1.0
    assert expected_calibration_error(np.array([1, 0]), np.array([1.0, 0.0])) == pytest.approx(0.0)


def test_metrics_reject_bad_input():
    with pytest.raises(ConfigError, match="0/1"):
        binary_metrics(np.array([0, 2]), np.array([0.1, 0.2]))


def test_bootstrap_intervals_contain_their_estimates_and_resample_within_class():
    rng = np.random.default_rng(1)
    y = np.r_[np.ones(60, int), np.zeros(40, int)]
    p = np.clip(0.35 * y + rng.uniform(0.1, 0.7, 100), 0, 1)
    m = binary_metrics(y, p, n_boot=300, seed=0)
    for key in ("balanced_accuracy", "roc_auc", "ece"):
        assert m[key]["ci_low"] <= m[key]["value"] <= m[key]["ci_high"], key
    one_class = binary_metrics(np.zeros(10, int), np.linspace(0.05, 0.95, 10), n_boot=100)
    assert np.isnan(one_class["roc_auc"]["value"]) and np.isnan(one_class["roc_auc"]["ci_low"])
    assert one_class["ece"]["ci_low"] <= one_class["ece"]["value"] <= one_class["ece"]["ci_high"]
