"""Synthetic aligned tables for the stats tests (seeded, no files)."""

from __future__ import annotations

import numpy as np
import pandas as pd

QUALITY = [
    "q_laplacian_var", "q_highfreq_share", "q_blur_effect", "q_rms_contrast", "q_michelson",
    "q_dynamic_range", "q_mean", "q_clip_low", "q_clip_high", "q_entropy", "q_noise_sigma",
]
LOCALISATION = ["gradcam_lung_share", "gradcam_peak_in_lung", "ig_lung_share", "ig_peak_in_lung",
                "gradcam_lung_rank_ratio_k10"]
GEOMETRY = ["orig_width", "orig_height", "aspect_ratio"]
TRUTH = {"TP": "PNEUMONIA", "FN": "PNEUMONIA", "TN": "NORMAL", "FP": "NORMAL"}
PRED = {"TP": "PNEUMONIA", "FP": "PNEUMONIA", "TN": "NORMAL", "FN": "NORMAL"}


def make_table(counts: dict[str, int], *, seed: int = 0, shifts: dict[str, dict[str, float]] | None = None,
               ig_errors_only: bool = True) -> pd.DataFrame:
    """Build an aligned table with ``counts`` images per outcome.

    Every metric is standard normal noise (lung shares: a logistic of it) plus
    ``shifts[metric][outcome]`` SDs for the outcomes given.
    """
    rng = np.random.default_rng(seed)
    shifts = shifts or {}
    outcome = np.concatenate([[k] * v for k, v in counts.items()]) if counts else np.array([], dtype=str)
    n = outcome.size
    df = pd.DataFrame({
        "image_id": [f"img{i:04d}" for i in range(n)],
        "label": [TRUTH[o] for o in outcome],
        "pred": [PRED[o] for o in outcome],
        "outcome": outcome,
    })
    positive = np.isin(outcome, ["TP", "FP"])
    df["p_pneumonia"] = np.where(positive, rng.uniform(0.5, 1.0, n), rng.uniform(0.0, 0.5, n))

    def noise(metric: str) -> np.ndarray:
        base = rng.normal(size=n)
        for o, s in shifts.get(metric, {}).items():
            base = base + s * (outcome == o)
        return base

    for m in QUALITY:
        df[m] = 10.0 + noise(m)
    for m in ("gradcam", "ig"):
        df[f"{m}_lung_share"] = 1.0 / (1.0 + np.exp(-(1.0 + noise(f"{m}_lung_share"))))
        df[f"{m}_peak_in_lung"] = (rng.random(n) < 0.8).astype(float)
    if ig_errors_only:
        correct = np.isin(outcome, ["TP", "TN"])
        df.loc[correct, ["ig_lung_share", "ig_peak_in_lung"]] = np.nan
    df["orig_width"] = rng.normal(2000, 200, n).round()
    df["orig_height"] = rng.normal(1800, 200, n).round()
    df["aspect_ratio"] = df["orig_width"] / df["orig_height"]
    # the primary localisation metric (area-normalised rank ratio, chance 1), drawn last so the
    # columns above keep their draws
    df["gradcam_lung_rank_ratio_k10"] = np.exp(0.3 * noise("gradcam_lung_rank_ratio_k10"))
    return df
