"""Unconverged IG maps are excluded, counted and explained; every image gets one fate in the accounting."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xai.exclusions import IG_REASON, blank_unconverged_ig, ig_not_converged, saliency_accounting


def test_converged_flag_wins_over_the_tolerance():
    t = pd.DataFrame({"ig_completeness_error": [0.001, 0.5, 0.5, np.nan], "ig_converged": [True, False, True, None]})
    assert ig_not_converged(t, 0.01).tolist() == [False, True, False, False]
    assert ig_not_converged(t.drop(columns="ig_converged"), 0.01).tolist() == [False, True, True, False]
    assert not ig_not_converged(t.drop(columns="ig_converged"), None).any()  # no tolerance known: nothing judged


def test_blank_unconverged_ig_keeps_the_reason_and_the_error():
    wide = pd.DataFrame({"image_id": ["a", "b"], "ig_lung_rank_ratio_k10": [1.2, 0.8],
                         "ig_completeness_error": [0.001, 0.3], "gradcam_lung_rank_ratio_k10": [1.1, 0.9]})
    out = blank_unconverged_ig(wide, 0.01)
    assert out["ig_lung_rank_ratio_k10"].isna().tolist() == [False, True]
    assert out["ig_completeness_error"].tolist() == [0.001, 0.3]  # why it was excluded stays visible
    assert out["gradcam_lung_rank_ratio_k10"].notna().all()
    assert out["ig_excluded"].tolist() == ["", IG_REASON]


def test_accounting_gives_every_image_one_fate():
    table = pd.DataFrame({
        "image_id": list("abcdef"), "outcome": ["FP", "FP", "TN", "TN", "TN", "TP"],
        "lung_mask_plausible": [True, False, True, True, True, True],
        "gradcam_lung_rank_ratio_k10": [1.3, 0.9, 1.0, np.nan, 0.7, 1.1],
        "gradcam_lung_share": [0.5, 0.4, 0.0, 0.3, 0.2, 0.6],
        "gradcam_map_constant": [0, 0, 1, 0, 0, 0],
        "ig_lung_rank_ratio_k10": [np.nan, 1.0, np.nan, np.nan, np.nan, np.nan],
        "ig_lung_share": [np.nan, 0.5, np.nan, np.nan, np.nan, np.nan],
        "ig_excluded": [IG_REASON, "", "", "", "", ""],
    })
    acc = saliency_accounting(table).set_index(["method", "outcome"])
    counts = ["n_used", "n_no_map", "n_ig_not_converged", "n_mask_implausible", "n_no_lung_area"]
    assert (acc[counts].sum(axis=1) == acc["n_images"]).all()
    assert acc.loc[("gradcam", "FP"), "n_used"] == 1 and acc.loc[("gradcam", "FP"), "n_mask_implausible"] == 1
    assert acc.loc[("gradcam", "TN"), "n_no_lung_area"] == 1 and acc.loc[("gradcam", "TN"), "n_constant_map"] == 1
    assert acc.loc[("ig", "FP"), "n_ig_not_converged"] == 1 and IG_REASON in acc.loc[("ig", "FP"), "excluded"]
    assert acc.loc[("ig", "TN"), "n_no_map"] == 3 and acc.loc[("ig", "TN"), "n_used"] == 0
