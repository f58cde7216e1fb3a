"""Figures and report sections of the counterfactual, sanity and faithfulness analyses."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from figures.counterfactual_plots import (counterfactual_section, draw_counterfactual_figures, faithfulness_section,
                                          plot_dose_response, plot_faithfulness, plot_quality_response, plot_sanity,
                                          plot_sanity_maps, plot_texture_shape, sanity_section)
from stats.analysis import Analysis
from xai.counterfactual_result import CounterfactualResult
from figures.report import write_report

STRENGTHS = {"gaussian_blur": [1.0, 2.0, 4.0], "contrast": [0.8, 0.6, 0.4]}


def summary_frame() -> pd.DataFrame:
    """A summarise()-shaped table: blur moves P outside the lungs, contrast moves nothing."""
    rows = []
    for name, strengths in STRENGTHS.items():
        for k, s in enumerate(strengths, start=1):
            for region in ("whole", "lungs", "outside"):
                for label, sign in (("NORMAL", 1), ("PNEUMONIA", -1)):
                    effect = 0.08 * k * sign * (region != "lungs") if name == "gaussian_blur" else 0.002
                    rows.append({"intervention": name, "strength": s, "region": region, "label": label, "n": 20,
                                 "mean_p_before": 0.2 if label == "NORMAL" else 0.8,
                                 "mean_p_after": (0.2 if label == "NORMAL" else 0.8) + effect,
                                 "mean_delta": effect, "delta_low": effect - 0.03, "delta_high": effect + 0.03,
                                 "mean_abs_delta": abs(effect), "abs_delta_low": 0.0, "abs_delta_high": 0.3,
                                 "flips": k, "flip_rate": k / 20, "flip_low": 0.01, "flip_high": 0.3,
                                 "flip_direction": "x", "mean_q_laplacian_var": 0.01 / k,
                                 "mean_q_laplacian_var_before": 0.02, "mean_q_rms_contrast": 0.2 * s,
                                 "mean_q_rms_contrast_before": 0.2})
    return pd.DataFrame(rows)


TEXTURE_ROWS = [{"label": "NORMAL", "n": 20, "shuffle_patch": 16.0, "low_pass_sigma": 4.0, "shuffle_abs": 0.3,
                 "shuffle_low": 0.2, "shuffle_high": 0.4, "low_pass_abs": 0.02, "low_pass_low": 0.01,
                 "low_pass_high": 0.03, "shuffle_flips": 5, "shuffle_flip_low": 0.1, "shuffle_flip_high": 0.45,
                 "low_pass_flips": 0, "low_pass_flip_low": 0.0, "low_pass_flip_high": 0.16,
                 "preserved": "low_pass", "statement": "low-pass preserves the output <better>"}]


def _is_png(path) -> bool:
    with Image.open(path) as im:
        return im.format == "PNG" and im.size[0] > 100 and im.size[1] > 50


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """The three counterfactual figures, drawn once for the module: (folder, {name: file})."""
    out = tmp_path_factory.mktemp("counterfactual")
    return out, draw_counterfactual_figures(out, summary_frame(), TEXTURE_ROWS)


def test_counterfactual_figures_are_drawn(drawn):
    tmp_path, figures = drawn
    assert set(figures) == {"dose_response", "quality_response", "texture_shape"}
    for name in figures.values():
        assert _is_png(tmp_path / name)
    # a taller grid for more interventions (one row per intervention, one column per class)
    one = plot_dose_response(summary_frame(), tmp_path / "one.png", interventions=["contrast"])
    with Image.open(tmp_path / "dose_response.png") as two, Image.open(one) as single:
        assert two.size[1] > 1.6 * single.size[1]


@pytest.mark.parametrize("draw", [plot_dose_response, plot_quality_response, plot_texture_shape])
def test_empty_inputs_give_a_placeholder_not_an_error(tmp_path, draw):
    path = draw(pd.DataFrame(), tmp_path / "empty.png")
    assert _is_png(path)


def test_counterfactual_section_is_self_contained(drawn, tmp_path):
    shutil.copytree(drawn[0], tmp_path, dirs_exist_ok=True)
    figures = drawn[1]
    result = {
        "out_dir": str(tmp_path), "split": "test", "n_images": {"NORMAL": 20, "PNEUMONIA": 20},
        "n_variants_per_image": 46, "threshold": 0.5, "min_effect": 0.05, "warnings": ["only <20> images"],
        "verdict": {"status": "outside", "headline": "Perturbing OUTSIDE the lung fields moves P(pneumonia) & more",
                    "statements": ["blur on true NORMAL: outside 0.24 vs inside 0.00"],
                    "rows": [{"intervention": "gaussian_blur", "strength": 4.0, "label": "NORMAL", "n": 20,
                              "lungs_abs": 0.0, "lungs_low": 0.0, "lungs_high": 0.0, "outside_abs": 0.24,
                              "outside_low": 0.2, "outside_high": 0.28, "diff": 0.24, "diff_low": 0.2,
                              "diff_high": 0.28, "lung_fraction": 0.25, "relation": "outside > lungs"}]},
        "texture_shape": {"rows": TEXTURE_ROWS, "note": "What this can show: ..."},
        "summary": summary_frame().to_dict("records"), "figures": figures,
        "notes": {"regions": "A model that reads only lung pathology ..."},
    }
    json.dumps(result)  # the section reads what counterfactual.json holds
    title, body = counterfactual_section(CounterfactualResult.from_json(result))
    assert "counterfactual" in title.lower()
    assert html.escape("moves P(pneumonia) & more") in body and "&lt;20&gt;" in body and "<better>" not in body
    assert "outside &gt; lungs" in body and "0.24 [0.20, 0.28]" in body and "+0.24 [+0.20, +0.28]" in body
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', body)
    assert len(images) == 3
    assert base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<details>" in body and body.count("<tr>") > 36  # the full summary table is there
    # it plugs into the report writer as an extra section
    paths = write_report(tmp_path / "report", analysis=Analysis(n_images=0), run_info={}, split_metrics={},
                         figures={}, gallery=None, tables={}, title="t", extra_sections=[(title, body)])
    page = paths["html"].read_text()
    assert title in page and page.count("data:image/png;base64,") >= 3


def test_section_with_missing_figures_and_nothing_run():
    title, body = counterfactual_section(CounterfactualResult.from_json({"out_dir": "/nonexistent", "verdict": {},
                                                                         "figures": {}}))
    assert "Figure missing" in body and "not run" in body


def test_sanity_plots_and_section(tmp_path):
    rows = [{"method": m, "step": s, "layer": ["original", "head", "layer4"][s], "image": i,
             "spearman": 1.0 - s * (0.45 if m == "gradcam" else 0.05), "ssim": 1.0 - s * 0.3}
            for m in ("gradcam", "ig") for s in range(3) for i in range(2)]
    df = pd.DataFrame(rows)
    curves = plot_sanity(df, tmp_path / "sanity.png")
    maps = plot_sanity_maps({"gradcam": [np.random.default_rng(0).random((16, 16)) for _ in range(3)]},
                            ["head", "layer4"], tmp_path / "maps.png", image=np.zeros((16, 16)))
    assert _is_png(curves) and _is_png(maps)
    verdict = pd.DataFrame([{"method": "gradcam", "passed": True, "statement": "Grad-CAM PASSES"},
                            {"method": "ig", "passed": False, "statement": "IG FAILS <x>"}])
    title, body = sanity_section(verdict, {"curves": curves, "maps": maps})
    assert "randomisation" in title
    assert "PASS: gradcam" in body and "FAIL: ig" in body and "IG FAILS &lt;x&gt;" in body
    assert body.count("data:image/png;base64,") == 2
    assert "not run" in sanity_section([])[1]


def test_faithfulness_plot_and_section(tmp_path):
    f = np.linspace(0, 1, 11)
    curves = {"gradcam": {"fractions": f, "deletion": 1 - f, "insertion": f, "random_deletion": 1 - f / 2,
                          "random_insertion": f / 2}}
    path = plot_faithfulness(curves, tmp_path / "faith.png")
    assert _is_png(path)
    summary = [{"outcome": "FP", "method": "gradcam", "n": 4, "deletion_auc": 0.2, "random_deletion_auc": 0.4,
                "deletion_gain": 0.2, "deletion_gain_low": 0.1, "deletion_gain_high": 0.3, "insertion_auc": 0.7,
                "random_insertion_auc": 0.5, "insertion_gain": 0.2, "insertion_gain_low": 0.1,
                "insertion_gain_high": 0.3, "deletion_beats_random": 0.75}]
    title, body = faithfulness_section(summary, path)
    assert "deletion" in title.lower() and "+0.200 [+0.100, +0.300]" in body and "75 %" in body
    assert "data:image/png;base64," in body
    assert "not computed" in faithfulness_section([])[1]


def test_road_plot_and_section_state_what_they_rest_on(tmp_path):
    f = np.array([0.0, 0.1, 0.5, 0.9])
    curves = {"gradcam": {"fractions": f, "morf": 1 - f, "lerf": 1 - f / 4, "random_morf": 1 - f / 2,
                          "random_lerf": 1 - f / 2}}
    path = plot_faithfulness(curves, tmp_path / "road.png")
    assert _is_png(path)
    summary = [{"outcome": "FP", "method": "gradcam", "n": 5, "measure": "road", "morf_auc": 0.5, "lerf_auc": 0.8,
                "random_morf_auc": 0.7, "random_lerf_auc": 0.7, "road_score": 0.3, "random_road_score": 0.0,
                "gain": 0.3, "gain_low": 0.1, "gain_high": 0.5, "beats_random": 0.8}]
    title, body = faithfulness_section(summary, path, excluded={"ig": {"n": 2, "reason": "IG not converged"}})
    assert "ROAD" in title and "+0.300 [+0.100, +0.500]" in body and "80 %" in body
    assert "2 map(s) excluded (IG not converged)" in body and "data:image/png;base64," in body


def test_sanity_section_not_tested_and_exclusions(tmp_path):
    verdict = [{"method": "constant", "status": "not tested", "passed": False, "n_images": 0, "n_excluded": 3,
                "excluded_reason": "3 image(s) with a constant original map", "statement": "NOT TESTED"}]
    _, body = sanity_section(verdict, excluded={"n": 1, "reason": "IG not converged"})
    assert "NOT TESTED: constant" in body and "PASS" not in body.replace("passed over", "")
    assert "Rests on 0 image(s); excluded: 3" in body and "1 explained image(s) were passed over" in body
    null = pd.DataFrame([{"method": "gradcam", "step": s, "layer": ["null (other images)", "original", "head"][s + 1],
                          "image": 0, "spearman": v, "spearman_signed": v, "spearman_abs": v, "ssim": v}
                         for s, v in ((-1, 0.2), (0, 1.0), (1, 0.1))])
    assert _is_png(plot_sanity(null, tmp_path / "s.png"))
