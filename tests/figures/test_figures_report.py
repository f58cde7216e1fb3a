"""Tests for figures.report.write_report, including a headless-browser rendering check."""

from __future__ import annotations

import copy
from dataclasses import replace
import html
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from figures.confusion import confusion_counts, draw_confusion
from figures.plots import plot_distributions
from figures.report import fmt, fmt_p, write_report
from stats.analysis import rows_frame
from stats.regression import RegressionResult

RUN_INFO = {
    "config": {"arch": "resnet18", "device": "cuda"},
    "data_root": "/data/chest_xray",
    "device": "cuda",
    "device_name": "NVIDIA H200",
    "weights": {"init": "random", "reason": "ImageNet weights for resnet18 not found; fell back to random "
                                            "initialisation (see https://download.pytorch.org)", "source": None},
    "n_images": {"train": 5216, "valid": 16, "test": 624},
}
HEADINGS = ["Classification metrics", "Figure 1: confusion matrix", "Verdict", "Image quality:", "Dose-response",
            "Saliency localisation", "Regression within each true class", "Power:", "Error gallery",
            "How to read this"]


def split_metrics(n: int = 16) -> dict:
    """A binary_metrics-shaped dict (NaN AUC interval included, as a tiny split may give)."""
    from stats.classification import binary_metrics

    y = np.array([0, 1] * (n // 2))
    p = np.linspace(0.2, 0.9, n)
    out = binary_metrics(y, p, n_boot=50)
    out["roc_auc"]["ci_low"] = float("nan")
    return out


@pytest.fixture(scope="module")
def drawn(tmp_path_factory, table, analysis):
    """The report's two figures, drawn once for the module (drawing is the slow part)."""
    out = tmp_path_factory.mktemp("figures")
    draw_confusion(confusion_counts(analysis.accuracy.counts), out / "confusion.png", title="Figure 1")
    plot_distributions(table, ["q_laplacian_var", "q_rms_contrast"], out / "distributions.png",
                       comparisons=rows_frame(analysis.comparisons))
    return out


@pytest.fixture
def report(tmp_path, table, analysis, drawn):
    """A full report with every figure, a gallery link, a table and an extra section."""
    out = tmp_path / "report"
    shutil.copytree(drawn, out)
    Image.new("RGB", (40, 30), (200, 30, 30)).save(tmp_path / "outside.png")      # absolute path, outside out_dir
    table.to_csv(out / "table.csv", index=False)
    args = dict(analysis=analysis, run_info=RUN_INFO, split_metrics={"valid": split_metrics()},
                figures={"confusion": "confusion.png", "distributions": str(out / "distributions.png"),
                         "dose_response": "missing.png", "extra_plot": str(tmp_path / "outside.png")},
                gallery="gallery/index.html", tables={"per-image table": "table.csv"},
                title="Failure report <test>",
                extra_sections=[("Saliency sanity checks", "<p id='extra'>passed</p>")])
    before, analysis_before = copy.deepcopy({k: v for k, v in args.items() if k != "analysis"}), analysis.to_dict()
    paths = write_report(out, **args)
    assert {k: v for k, v in args.items() if k != "analysis"} == before  # inputs not mutated
    assert analysis.to_dict() == analysis_before
    return paths, analysis


def test_writes_three_files(report):
    paths, _ = report
    assert set(paths) == {"md", "json", "html"}
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths.values())


def test_json_round_trips_with_verdicts_and_paths(report):
    paths, analysis = report
    data = json.loads(paths["json"].read_text())
    json.dumps(data, allow_nan=False)
    assert data["analysis"] == analysis.to_dict()
    assert [v["statement"] for v in data["analysis"]["verdict"]] == [v.statement for v in analysis.verdict]
    assert data["figures"]["confusion"] == "confusion.png"
    assert data["figures"]["distributions"] == "distributions.png"       # absolute path made relative
    assert data["figures"]["extra_plot"] == "../outside.png"
    assert data["tables"] == {"per-image table": "table.csv"} and data["gallery"] == "gallery/index.html"
    assert data["split_metrics"]["valid"]["roc_auc"]["ci_low"] is None    # NaN -> null
    assert data["run_info"]["weights"]["init"] == "random"
    assert data["small_split_warnings"]


def test_html_is_self_contained_and_has_every_verdict(report):
    paths, analysis = report
    page = paths["html"].read_text()
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)
    assert len(srcs) == 3 == page.count("<img")                        # confusion, distributions, extra_plot
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "url(" not in page and "<link" not in page and not re.search(r'src="https?:', page)
    md = paths["md"].read_text()
    for v in analysis.verdict:
        assert html.escape(v.statement) in page and v.statement in md
        assert f">{v.status}</span>" in page
    assert "figure file not found: missing.png" in page
    assert 'href="gallery/index.html"' in page and 'href="table.csv"' in page
    assert "Failure report &lt;test&gt;" in page and "<p id='extra'>passed</p>" in page


def test_sections_in_order_and_run_summary(report):
    paths, _ = report
    for key in ("md", "html"):
        text = paths[key].read_text()
        positions = [text.find(h) for h in HEADINGS]
        assert all(p >= 0 for p in positions), (key, positions)
        assert positions == sorted(positions), key
        assert text.find("Saliency sanity checks") > text.find("Error gallery")
        for part in ("resnet18", "random: ImageNet weights for resnet18 not found", "NVIDIA H200", "/data/chest_xray",
                     "train 5216, valid 16, test 624", "WARNING", "only 16 images", "not fit: ",
                     "Within-class comparisons", "224x224", "CSV"):
            assert part in text, (key, part)


def test_metrics_table_values(report):
    paths, _ = report
    md = paths["md"].read_text()
    m = split_metrics()
    acc = m["accuracy"]
    # read the numbers back from the page: value, interval and n of accuracy, whatever the wording around them
    found = re.findall(r"(\d+(?:\.\d+)?)% \(95% CI (\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)%, n=(\d+)\)", md)
    as_numbers = [tuple(float(x) for x in f) for f in found]
    wanted = (100 * acc["value"], 100 * acc["ci_low"], 100 * acc["ci_high"], acc["n"])
    assert any(got == pytest.approx(wanted, abs=0.051) for got in as_numbers), found
    auc = [float(x) for x in re.findall(r"(0\.\d+) \(n=16\)", md)]             # CI with a NaN end is left out
    assert any(v == pytest.approx(m["roc_auc"]["value"], abs=5e-4) for v in auc)


def test_weights_reason_printed_even_when_missing_and_regression_table(tmp_path, analysis):
    odds = pd.DataFrame([{"predictor": "q_laplacian_var", "odds_ratio": 0.4123, "ci_low": 0.25, "ci_high": 0.68,
                          "p_value": 0.00042}])
    normal = RegressionResult("NORMAL", 160, 40, 120, ("q_laplacian_var",), True, None,
                              ("dropped 2 incomplete rows",), odds)
    fitted = replace(analysis, regression={**analysis.regression, "NORMAL": normal}, small_split_warning=None)
    paths = write_report(tmp_path, analysis=fitted, run_info={}, split_metrics={}, figures={}, gallery=None,
                         tables={}, title="t")
    md = paths["md"].read_text()
    assert "Weights init:** not recorded: no reason recorded" in md
    assert "| q_laplacian_var | 0.412 | 0.25 to 0.68 | <0.001 |" in md
    assert "dropped 2 incomplete rows" in md
    assert "WARNING" not in md
    json.loads(paths["json"].read_text())


def test_number_formatting():
    assert [fmt(123.456), fmt(0.012345), fmt(12345.6), fmt(None), fmt(float("nan")), fmt(7)] == \
        ["123", "0.0123", "12346", "n/a", "n/a", "7"]
    assert [fmt_p(0.0123), fmt_p(0.0004), fmt_p(0.23)] == ["0.012", "<0.001", "0.23"]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run_chromium(binary: str, profile, *args: str) -> subprocess.CompletedProcess:
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


@pytest.mark.slow  # starts a browser
def test_report_renders_in_headless_chromium(report, tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium or chromium-browser on PATH (apt-get install chromium)")
    paths, _ = report
    url = paths["html"].resolve().as_uri()
    shot = tmp_path / "shot.png"
    _run_chromium(binary, tmp_path / "profile1", f"--screenshot={shot}", "--window-size=1200,2000", url)
    assert shot.is_file(), "chromium wrote no screenshot"
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2000, 1200) and pixels.std() > 10
    dom = _run_chromium(binary, tmp_path / "profile2", "--dump-dom", url).stdout
    n_img = paths["html"].read_text().count("<img")
    loaded = re.search(r'data-images-loaded="(\d+)"', dom)
    total = re.search(r'data-images-total="(\d+)"', dom)
    assert loaded and total, "the load script did not run"
    assert int(total.group(1)) == n_img == 3
    assert int(loaded.group(1)) == n_img                                 # every embedded image decoded
