"""The verdict parts of the report: primary choice before the results, in-lung columns blanked, natural doses."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xai.investigate import analysis_table, with_source_geometry
from figures.verdict_sections import natural_dose_section
from stats.natural_dose import natural_dose


def test_in_lung_quality_and_saliency_are_blanked_for_implausible_masks():
    table = pd.DataFrame({"image_id": ["a", "b"], "lung_mask_plausible": [True, False],
                          "q_laplacian_var": [1.0, 2.0], "q_laplacian_var_lung": [1.0, 2.0],
                          "q_rms_contrast_outside": [0.1, 0.2], "gradcam_lung_share": [0.5, 0.6],
                          "gradcam_lung_rank_ratio_k10": [1.2, 1.1]})
    out = analysis_table(table)
    assert out.loc[1, "q_laplacian_var"] == 2.0  # whole-film quality kept
    for col in ("q_laplacian_var_lung", "q_rms_contrast_outside", "gradcam_lung_share", "gradcam_lung_rank_ratio_k10"):
        assert np.isnan(out.loc[1, col]) and out.loc[0, col] == table.loc[0, col]
    assert table.loc[1, "q_laplacian_var_lung"] == 2.0  # input untouched


def test_source_geometry_joins_when_the_manifest_covers_the_table(tmp_path):
    pd.DataFrame({"split": ["test"] * 2, "label": ["NORMAL"] * 2, "filename": ["a.jpeg", "b.jpeg"],
                  "orig_width": [300, 224], "orig_height": [200, 224]}).to_csv(tmp_path / "MANIFEST.csv", index=False)
    table = pd.DataFrame({"image_id": ["test/NORMAL/a.jpeg"], "x": [1.0]})
    joined, covariates = with_source_geometry(table, tmp_path)
    assert covariates == ["source_aspect", "source_squeeze"] and joined.loc[0, "source_aspect"] == 1.5
    assert with_source_geometry(table, tmp_path / "none") == (table, [])


def test_natural_dose_section_renders_every_dose():
    rows = [{"image_id": f"i{i}", "label": "NORMAL", "intervention": "gaussian_blur", "strength": s, "region": "whole",
             "q_laplacian_var": 1 - 0.1 * s, "q_laplacian_var_before": 1.0, "delta_logit": -0.2 * s, "delta": -0.01 * s}
            for i in range(5) for s in (1.0, 2.0)]
    dose = natural_dose(pd.DataFrame(rows), intervention="gaussian_blur", metric="q_laplacian_var",
                        observed_diff=-0.1, fp_excess_logit=2.0, n_boot=50)
    title, body = natural_dose_section([dose])
    assert "natural units" in title and "q_laplacian_var" in body and "of the FP excess" in body


def test_report_states_the_primary_choice_before_the_results(tmp_path):
    from figures.report import write_report
    from stats.analysis import analyse

    rng = np.random.default_rng(0)
    outcome = np.array(["TN"] * 60 + ["FP"] * 20 + ["TP"] * 60 + ["FN"] * 10)
    label = np.where(np.isin(outcome, ["TN", "FP"]), "NORMAL", "PNEUMONIA")
    table = pd.DataFrame({"image_id": [f"test/{lab}/IM-{i:04d}-0001.jpeg" for i, lab in enumerate(label)],
                          "label": label, "outcome": outcome,
                          "p_pneumonia": np.where(np.isin(outcome, ["TP", "FP"]), 0.8, 0.2),
                          "q_laplacian_var": rng.normal(size=outcome.size), "q_rms_contrast": rng.normal(size=outcome.size),
                          "q_highfreq_share": rng.normal(size=outcome.size) - 1.5 * (outcome == "FP"),
                          "gradcam_lung_rank_ratio_k10": rng.normal(1, 0.2, outcome.size)})
    analysis = analyse(table, quality_metrics=["q_laplacian_var", "q_rms_contrast", "q_highfreq_share"],
                       localisation_metrics=["gradcam_lung_rank_ratio_k10"], geometry=[], n_boot=100)
    paths = write_report(tmp_path, analysis=analysis, run_info={}, split_metrics={}, figures={}, gallery=None,
                         tables={}, title="t")
    md = paths["md"].read_text()
    declared = md.index("Pre-declared primary tests")
    assert declared < md.index("Hypothesis that blur") and declared < md.index("EXPLORATORY")
    assert "q_highfreq_share" in md[md.index("EXPLORATORY"):] and "held-out half" in md
    assert "LIMITATION: no side table of source sizes" in md


def test_natural_dose_sections_read_the_counterfactual_folder(tmp_path):
    import json

    from data.layout import explain_layout
    from figures.investigation import natural_dose_sections
    from xai.investigate import load_natural_doses

    layout = explain_layout(tmp_path)
    assert load_natural_doses(layout, pd.DataFrame(), n_boot=10, seed=0) is None
    assert natural_dose_sections(layout, None) == []
    rows = [{"image_id": f"i{i}", "label": "NORMAL", "intervention": "gaussian_blur", "strength": s, "region": "whole",
             "q_highfreq_share": 0.5 - 0.05 * s, "q_highfreq_share_before": 0.5, "delta_logit": 0.3 * s,
             "delta": 0.02 * s} for i in range(6) for s in (1.0, 2.0)]
    (tmp_path / "counterfactual").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "counterfactual" / "per_image.csv", index=False)
    table = pd.DataFrame({"outcome": ["FP"] * 3 + ["TN"] * 3, "q_highfreq_share": [0.40, 0.42, 0.41, 0.5, 0.52, 0.5],
                          "p_pneumonia": [0.7, 0.8, 0.9, 0.1, 0.2, 0.3]})
    [(title, body)] = natural_dose_sections(layout, load_natural_doses(layout, table, n_boot=50, seed=0))
    assert "natural units" in title and "q_highfreq_share" in body
    saved = json.loads((tmp_path / "counterfactual" / "natural_dose.json").read_text())
    assert saved[0]["metric"] == "q_highfreq_share" and saved[0]["delta_logit"] > 0
