"""The localisation evidence block says chance, the primary metric, and n used / excluded per group."""

from __future__ import annotations

import pandas as pd

from figures.saliency_evidence import localisation_evidence_section


def test_block_states_chance_primary_and_counts():
    acc = pd.DataFrame([{"method": "gradcam", "metric": "gradcam_lung_rank_ratio_k10", "outcome": "TN",
                         "n_images": 10, "n_used": 8, "n_no_map": 0, "n_ig_not_converged": 0,
                         "n_mask_implausible": 2, "n_no_lung_area": 0, "n_constant_map": 1,
                         "excluded": "2 lung mask implausible"}])
    title, body = localisation_evidence_section(acc, primary="gradcam_lung_rank_ratio_k10")
    assert "rest on" in title
    assert "Chance level is 1.0" in body and "gradcam_lung_rank_ratio_k10" in body
    assert "<td>8</td>" in body and "2 lung mask implausible" in body and "kept out of every verdict" in body
    assert "No saliency summaries" in localisation_evidence_section([], primary="x")[1]
