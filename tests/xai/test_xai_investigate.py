"""xai.investigate computes the statistics of an explain folder; figures.investigation only draws them."""

from __future__ import annotations

import json

import pytest

from data.layout import RunLayout
from helpers import outcome_table
from figures.investigation import write_investigation
from xai.investigate import analysis_table, investigate


@pytest.fixture
def explain_folder(tmp_path):
    """A synthetic explain folder (no maps): 30 FP with blurrier films than 60 TN, 40 TP, 10 FN."""
    run = RunLayout(tmp_path / "runs" / "r")
    run.root.mkdir(parents=True)
    run.run_info.write_text(json.dumps({"config": {"arch": "resnet18"},
                                        "weights": {"init": "random", "reason": "test"}}))
    folder = run.explain("valid")
    folder.root.mkdir(parents=True)
    table = outcome_table({"TP": 40, "TN": 60, "FP": 30, "FN": 10}, seed=3)
    table["explained"] = False
    table["lung_mask_plausible"] = True
    table.loc[table.index[:5], "lung_mask_plausible"] = False
    table.to_csv(folder.table, index=False)
    folder.config.write_text(json.dumps({"resolved_run": str(run.root), "split": "valid", "target": "predicted"}))
    return folder, table


def test_investigation_computes_the_statistics_and_pointing_game(explain_folder):
    """Fast: the computation alone (the slow test below also draws it)."""
    folder, table = explain_folder
    inv = investigate(folder.root, n_boot=20, seed=0)
    assert inv.split_metrics["counts"] == {"TP": 40, "TN": 60, "FP": 30, "FN": 10}
    assert inv.stats_table.loc[table.index[:5], "gradcam_lung_share"].isna().all()
    blur = next(r for r in inv.analysis.comparisons if r.metric == "q_laplacian_var" and r.comparison == "FP vs TN")
    assert blur.rank_biserial < 0
    fp = inv.stats_table.loc[inv.stats_table["outcome"] == "FP", "gradcam_peak_in_lung"].dropna()
    rate = inv.pointing["gradcam"]["FP"]
    assert (rate["successes"], rate["n"]) == (int(fp.sum()), len(fp)) and rate["ci_low"] <= rate["value"]


@pytest.mark.slow  # investigates and draws every figure and the report (the fast test above computes)
def test_investigation_is_computed_once_and_drawn_as_computed(explain_folder):
    folder, table = explain_folder
    inv = investigate(folder.root, n_boot=100, seed=0)
    assert inv.split == "valid" and inv.arch == "resnet18"
    assert inv.split_metrics["counts"] == {"TP": 40, "TN": 60, "FP": 30, "FN": 10}
    # implausible lung masks: lung-relative saliency blanked for the statistics, the table itself untouched
    assert inv.stats_table.loc[table.index[:5], "gradcam_lung_share"].isna().all()
    assert inv.table["gradcam_lung_share"].notna().all()
    assert analysis_table(table).equals(inv.stats_table)
    blur = next(r for r in inv.analysis.comparisons if r.metric == "q_laplacian_var" and r.comparison == "FP vs TN")
    assert blur.rank_biserial < 0  # the planted blur of the false positives

    paths = write_investigation(inv)
    report = json.loads(paths["json"].read_text())
    drawn = next(r for r in report["analysis"]["comparisons"]
                 if r["metric"] == "q_laplacian_var" and r["comparison"] == "FP vs TN")
    assert drawn["rank_biserial"] == pytest.approx(blur.rank_biserial)
    assert drawn["ci_low"] == pytest.approx(blur.ci_low) and drawn["q_value"] == pytest.approx(blur.q_value)
    for name in ("confusion", "distributions", "dose_response", "localisation"):
        assert folder.figure(name).is_file(), name
    assert paths["html"] == folder.report("html") and folder.gallery.is_file()


@pytest.mark.slow  # draws every figure
def test_panels_exist_before_the_sections_that_link_them(explain_folder, monkeypatch):
    """The slices section links each typical error's panel only if the file exists when it is built."""
    import figures.investigation as fi

    folder, _ = explain_folder
    calls: list[str] = []
    real_draw = fi.draw_panels

    def draw(*args, **kwargs):
        calls.append("panels")
        return real_draw(*args, **kwargs)

    monkeypatch.setattr(fi, "draw_panels", draw)
    monkeypatch.setattr(fi, "slices_sections", lambda root: calls.append("slices") or [])
    write_investigation(investigate(folder.root, n_boot=20, seed=0))
    assert calls == ["panels", "slices"]
