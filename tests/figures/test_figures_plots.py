"""Tests for figures.plots: PNGs are written for normal, empty and malformed inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from figures.plots import (
    effect_text,
    fmt_p,
    plot_distributions,
    plot_dose_response,
    plot_localisation,
    values_for,
)
from figures.plots import POSITIONS
from stats.analysis import rows_frame
from helpers import outcome_table
from stats.pointing import pointing_game  # tests may compute; figures only draw

METRICS = ["q_laplacian_var", "q_rms_contrast", "q_highfreq_share", "q_mean"]


def assert_png(drawn):
    path = drawn.path
    assert path.is_file() and path.suffix == ".png"
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert min(pixels.shape) > 200 and pixels.std() > 5
    return drawn


def _points(ax) -> dict:
    return {p.group: p for p in ax.points}


def test_three_plots_with_statistics(tmp_path, table, analysis):
    before = table.copy()
    counts = table["outcome"].value_counts().to_dict()
    dist = assert_png(plot_distributions(table, METRICS, tmp_path / "d.png",
                                         comparisons=rows_frame(analysis.comparisons)))
    assert [ax.title for ax in dist.axes] == METRICS
    for ax in dist.axes:
        # each group where the legend of the figure says it is, with its own n, in its own colour
        assert ax.xticklabels == tuple(f"{o}\nn={counts[o]}" for o in POSITIONS)
        pts = _points(ax)
        assert {o: pts[o].n for o in POSITIONS} == {o: counts[o] for o in POSITIONS}
        for outcome, x in POSITIONS.items():
            assert abs(pts[outcome].x_mean - x) < 0.05
        assert any(t.startswith("FP vs TN\nr = ") for t in ax.texts)
    fp_axes = dist.axes[0]
    assert _points(fp_axes)["FP"].y_mean == pytest.approx(table.loc[table.outcome == "FP", METRICS[0]].mean())

    dose = assert_png(plot_dose_response(table, METRICS, tmp_path / "r.png",
                                         dose=rows_frame(analysis.dose_response)))
    for ax in dose.axes:
        pts = _points(ax)
        assert set(pts) == {"TN", "FP"}  # true NORMAL images only
        assert (pts["TN"].n, pts["FP"].n) == (counts["TN"], counts["FP"])
        assert any(t.startswith("Spearman rho = ") for t in ax.texts)

    rates = {m: pointing_game(table, f"{m}_peak_in_lung") for m in ("gradcam", "ig")}
    loc = assert_png(plot_localisation(table, ["gradcam", "ig"], tmp_path / "l.png",
                                       comparisons=rows_frame(analysis.localisation), pointing=rates))
    pointing = [ax for ax in loc.axes if "pointing game" in ax.title]
    assert [ax.title.split(":")[0] for ax in pointing] == ["gradcam", "ig"]
    fp = table[table.outcome == "FP"]["gradcam_peak_in_lung"]
    assert f"{int(fp.sum())}/{len(fp)}" in pointing[0].texts
    pd.testing.assert_frame_equal(table, before)


def test_grid_grows_with_metrics(tmp_path, table):
    small = Image.open(plot_distributions(table, METRICS[:1], tmp_path / "a.png").path).size
    large = Image.open(plot_distributions(table, METRICS, tmp_path / "b.png").path).size  # 2 x 3 axes
    assert large[0] > small[0] and large[1] > small[1]


def test_empty_groups_missing_columns_and_nan(tmp_path):
    df = outcome_table({"TN": 12, "FP": 3}, seed=1)            # no true PNEUMONIA at all
    df["q_mean"] = np.nan                                        # all NaN
    df.loc[df["outcome"] == "FP", "q_rms_contrast"] = np.nan     # an empty FP group
    metrics = ["q_laplacian_var", "q_rms_contrast", "q_mean", "not_a_column"]
    assert_png(plot_distributions(df, metrics, tmp_path / "d.png"))
    assert_png(plot_dose_response(df, metrics, tmp_path / "r.png"))
    drawn = assert_png(plot_localisation(df, ["gradcam", "ig", "absent"], tmp_path / "l.png"))
    assert "not computed" in drawn.texts()  # no pointing-game rates given: the figure computes none


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


def test_p_format():
    assert [fmt_p(0.0004), fmt_p(0.0123), fmt_p(0.5), fmt_p(None)] == ["<0.001", "0.012", "0.5", "n/a"]


def test_effect_text_formats_r_ci_and_q():
    row = pd.Series({"rank_biserial": -0.5432, "ci_low": -0.67, "ci_high": -0.38, "q_value": 0.0004})
    assert effect_text(row) == "r = -0.54 [-0.67, -0.38]\nq < 0.001"


def test_confusion_cells_hold_their_counts(tmp_path):
    from figures.confusion import confusion_counts, draw_confusion

    drawn = draw_confusion(confusion_counts({"TP": 7, "TN": 5, "FP": 3, "FN": 1}), tmp_path / "c.png")
    ax = drawn.axes[0]
    assert ax.yticklabels == ("true NORMAL", "true PNEUMONIA") and ax.xticklabels == ("pred NORMAL", "pred PNEUMONIA")
    # row-major: (true NORMAL: TN, FP), (true PNEUMONIA: FN, TP), each with its row share
    assert [t.split("\n")[0] for t in ax.texts] == ["5", "3", "1", "7"]
    assert ax.texts[1].endswith("37.5% of row") and ax.texts[3].endswith("87.5% of row")
