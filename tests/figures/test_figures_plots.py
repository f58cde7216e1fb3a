"""Tests for figures.plots: PNGs are written for normal, empty and malformed inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from statsmodels.stats.proportion import proportion_confint

from figures.plots import (
    effect_text,
    fmt_p,
    plot_distributions,
    plot_dose_response,
    plot_localisation,
    values_for,
    wilson,
)
from figures_testdata import outcome_table

METRICS = ["q_laplacian_var", "q_rms_contrast", "q_highfreq_share", "q_mean"]


def assert_png(path):
    assert path.is_file() and path.suffix == ".png"
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert min(pixels.shape) > 200 and pixels.std() > 5
    return pixels


def test_three_plots_with_statistics(tmp_path, table, analysis):
    before = table.copy()
    assert_png(plot_distributions(table, METRICS, tmp_path / "d.png",
                                  comparisons=pd.DataFrame(analysis["comparisons"])))
    assert_png(plot_dose_response(table, METRICS, tmp_path / "r.png", dose=pd.DataFrame(analysis["dose_response"])))
    assert_png(plot_localisation(table, ["gradcam", "ig"], tmp_path / "l.png", comparisons=analysis["localisation"]))
    pd.testing.assert_frame_equal(table, before)


def test_grid_grows_with_metrics(tmp_path, table):
    small = Image.open(plot_distributions(table, METRICS[:1], tmp_path / "a.png")).size
    large = Image.open(plot_distributions(table, METRICS * 2, tmp_path / "b.png")).size
    assert large[0] > small[0] and large[1] > small[1]


def test_empty_groups_missing_columns_and_nan(tmp_path):
    df = outcome_table({"TN": 12, "FP": 3}, seed=1)            # no true PNEUMONIA at all
    df["q_mean"] = np.nan                                        # all NaN
    df.loc[df["outcome"] == "FP", "q_rms_contrast"] = np.nan     # an empty FP group
    metrics = ["q_laplacian_var", "q_rms_contrast", "q_mean", "not_a_column"]
    assert_png(plot_distributions(df, metrics, tmp_path / "d.png"))
    assert_png(plot_dose_response(df, metrics, tmp_path / "r.png"))
    assert_png(plot_localisation(df, ["gradcam", "ig", "absent"], tmp_path / "l.png"))


def test_no_metrics_single_row_and_no_normal_images(tmp_path):
    df = outcome_table({"TP": 1}, seed=2)
    assert_png(plot_distributions(df, [], tmp_path / "d.png"))
    assert_png(plot_dose_response(df, METRICS, tmp_path / "r.png"))     # no true NORMAL images: n=0
    assert_png(plot_localisation(df, [], tmp_path / "l.png"))
    assert_png(plot_localisation(df.drop(columns="outcome"), ["gradcam"], tmp_path / "l2.png"))


def test_comparisons_with_untestable_rows(tmp_path, table):
    rows = [{"metric": "q_mean", "comparison": "FP vs TN", "rank_biserial": None, "ci_low": None, "ci_high": None,
             "q_value": None, "n1": 1, "n2": 5}]
    assert_png(plot_distributions(table, ["q_mean"], tmp_path / "d.png", comparisons=rows))
    assert effect_text(pd.Series(rows[0])) == "not tested\n(n = 1 vs 5)"


def test_values_stay_within_outcome(table):
    fp = values_for(table, "q_mean", "FP")
    assert fp.size == (table["outcome"] == "FP").sum()
    assert values_for(table, "ig_lung_share", "TN").size == 0      # NaN dropped
    assert values_for(table, "nope", "TN").size == 0


def test_wilson_matches_statsmodels_and_p_format():
    assert wilson(3, 10) == pytest.approx(proportion_confint(3, 10, method="wilson"))
    assert all(np.isnan(wilson(0, 0)))
    assert [fmt_p(0.0004), fmt_p(0.0123), fmt_p(0.5), fmt_p(None)] == ["<0.001", "0.012", "0.5", "n/a"]


def test_effect_text_formats_r_ci_and_q():
    row = pd.Series({"rank_biserial": -0.5432, "ci_low": -0.67, "ci_high": -0.38, "q_value": 0.0004})
    assert effect_text(row) == "r = -0.54 [-0.67, -0.38]\nq < 0.001"
