"""End-to-end tests for stats.analysis.analyse and its verdicts."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from data.errors import ConfigError
from data.jsonsafe import jsonable
from stats.analysis import Analysis, analyse, rows_frame
from stats.compare import ComparisonRow, within_class_comparisons
from stats.correlation import DoseRow, dose_response
from helpers import GEOMETRY, LOCALISATION, QUALITY, make_table

KEYS = ["n_images", "accuracy", "small_split_warning", "comparisons", "localisation", "dose_response",
        "regression", "power", "verdict", "primary", "settings"]
COUNTS = {"TP": 150, "TN": 120, "FP": 40, "FN": 20}


def run(df, **kw):
    return analyse(df, quality_metrics=QUALITY, localisation_metrics=LOCALISATION, geometry=GEOMETRY,
                   n_boot=kw.pop("n_boot", 200), seed=0, **kw)


def verdict(out, key):
    return next(v for v in out.verdict if v.hypothesis == key)


def test_structure_json_and_no_mutation():
    df = make_table(COUNTS, seed=1)
    before = df.copy(deep=True)
    out = run(df)
    pd.testing.assert_frame_equal(df, before)
    assert isinstance(out, Analysis)
    data = out.to_dict()
    assert list(data) == KEYS
    json.dumps(data, allow_nan=False)
    assert out.small_split_warning is None and data["small_split_warning"] is None
    assert {r.comparison for r in out.comparisons} == {"FP vs TN", "FN vs TP"}
    assert len(out.comparisons) == 2 * len(QUALITY) and len(out.localisation) == 2 * len(LOCALISATION)
    assert set(out.regression) == {"NORMAL", "PNEUMONIA"} and set(data["regression"]) == {"NORMAL", "PNEUMONIA"}
    assert [v.hypothesis for v in out.verdict] == ["blur", "contrast", "saliency_outside_lungs"]
    assert [v["hypothesis"] for v in data["verdict"]] == ["blur", "contrast", "saliency_outside_lungs"]
    assert data["primary"]["hypotheses"] == data["verdict"]


def test_typed_rows_are_the_rows_of_the_tables_they_come_from():
    """The JSON of a typed row is the table's row: same columns, same order, NaN as None."""
    df = make_table(COUNTS, seed=1)
    out = run(df, n_boot=50)
    frame = within_class_comparisons(df, QUALITY, n_boot=50, seed=0)
    assert ComparisonRow.columns() == list(frame.columns) and list(out.comparisons[0].to_dict()) == list(frame.columns)
    assert out.to_dict()["comparisons"] == jsonable(frame)
    assert list(rows_frame(out.comparisons).columns) == list(frame.columns)
    dose = dose_response(df, QUALITY + LOCALISATION, n_boot=50, seed=0)
    assert DoseRow.columns() == list(dose.columns) and list(out.dose_response[0].to_dict()) == list(dose.columns)
    assert [r.rho for r in out.dose_response] == pytest.approx(dose["rho"].tolist(), nan_ok=True)


def test_json_keys_of_each_part():
    data = run(make_table(COUNTS, seed=1), n_boot=20).to_dict()
    assert list(data["accuracy"]) == ["n", "counts", "accuracy", "sensitivity", "specificity", "balanced_accuracy"]
    assert list(data["power"]) == ["alpha", "power", "FP vs TN", "FN vs TP", "FP vs TN, primary (Holm)", "note"]
    assert list(data["settings"])[:3] == ["n_boot", "seed", "alpha"]
    assert isinstance(data["settings"]["quality_metrics"], list)


def test_a_partial_analysis_has_no_parts():
    bare = Analysis(n_images=3)
    assert bare.verdict == () and bare.power is None
    assert bare.to_dict()["verdict"] == [] and bare.to_dict()["comparisons"] == []


def test_accuracy_block_matches_statsmodels_wilson():
    out = run(make_table(COUNTS, seed=1), n_boot=0)
    acc = out.accuracy
    assert acc.counts == COUNTS and acc.n == 330
    for key, k, n in [("accuracy", 270, 330), ("sensitivity", 150, 170), ("specificity", 120, 160)]:
        lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert getattr(acc, key)["value"] == pytest.approx(k / n)
        assert (getattr(acc, key)["ci_low"], getattr(acc, key)["ci_high"]) == pytest.approx((lo, hi))
    assert acc.balanced_accuracy["value"] == pytest.approx((150 / 170 + 120 / 160) / 2)


def test_null_dataset_gives_no_evidence_with_numbers():
    out = run(make_table(COUNTS, seed=1))
    for key in ("blur", "contrast", "saliency_outside_lungs"):
        v = verdict(out, key)
        assert v.status == "no evidence", v.statement
        assert "NOT supported" in v.statement
        assert "Effects smaller than |r| = " in v.statement
        assert "FP n=40" in v.statement and "TN n=120" in v.statement
        assert all(m.mde_rank_biserial > 0 for m in v.metrics if m.status == "no evidence")
        # the MDE of a primary accounts for the Holm correction (alpha / 3 at the first step)
        assert v.primary.mde_alpha == pytest.approx(0.05 / 3)


def test_planted_effects_supported_and_opposite():
    shifts = {"q_laplacian_var": {"FP": -1.2},        # FPs blurrier: supports blur
              "q_rms_contrast": {"FP": +1.2},         # FPs higher contrast: opposite of hypothesis
              "gradcam_lung_rank_ratio_k10": {"FP": -1.5}}  # less saliency in lungs: supports
    out = run(make_table(COUNTS, seed=1, shifts=shifts))
    blur = verdict(out, "blur")
    assert blur.status == "supported" and "SUPPORTED by its primary test" in blur.statement
    assert blur.primary.metric == "q_laplacian_var" and blur.primary.correction == "holm"
    lap = next(m for m in blur.metrics if m.metric == "q_laplacian_var")
    assert lap.rank_biserial < 0 and lap.ci_high < 0 and lap.q_value < 0.05
    assert f"{lap.rank_biserial:.2g}" in blur.statement
    assert verdict(out, "contrast").status == "opposite"
    assert verdict(out, "saliency_outside_lungs").status == "supported"


def test_verdict_ignores_effects_in_the_other_class():
    # FNs blurrier than TPs says nothing about false positives
    out = run(make_table(COUNTS, seed=1, shifts={"q_laplacian_var": {"FN": -2.0}}))
    assert verdict(out, "blur").status == "no evidence"
    fn_row = next(r for r in out.comparisons if r.metric == "q_laplacian_var" and r.comparison == "FN vs TP")
    assert fn_row.q_value < 0.05


def test_small_split_warning_and_nan_safety():
    df = make_table({"TP": 7, "TN": 6, "FP": 1, "FN": 2}, seed=2)  # 16 images, a single FP
    out = run(df, n_boot=50)
    data = out.to_dict()
    json.dumps(data, allow_nan=False)
    warning = out.small_split_warning
    assert "16 images" in warning and "6.25 points" in warning
    assert verdict(out, "blur").status == "not tested"
    assert out.power.fp_tn.cohens_d != out.power.fp_tn.cohens_d        # NaN in the result ...
    assert data["power"]["FP vs TN"]["cohens_d"] is None                # ... None in the JSON
    assert out.regression["NORMAL"].fit_ok is False


def test_missing_columns_listed_not_fatal():
    df = make_table(COUNTS, seed=1).drop(columns=["ig_lung_share", "ig_peak_in_lung", "q_michelson"])
    out = run(df, n_boot=20)
    assert set(out.settings.missing_columns) == {"ig_lung_share", "ig_peak_in_lung", "q_michelson"}
    json.dumps(out.to_dict(), allow_nan=False)


def test_bad_tables_raise_config_error():
    df = make_table({"TP": 5, "TN": 5, "FP": 5, "FN": 5})
    with pytest.raises(ConfigError, match="duplicated image_id.*img0000"):
        run(pd.concat([df, df.iloc[[0]]], ignore_index=True))
    with pytest.raises(ConfigError, match="list or tuple"):
        analyse(df, quality_metrics="q_mean", localisation_metrics=[], geometry=[])
    with pytest.raises(ConfigError, match="lacks column"):
        run(df.drop(columns=["outcome"]))
