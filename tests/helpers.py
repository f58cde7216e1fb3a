"""Shared test builders (importable from every test: ``pythonpath = ["tests"]`` in pyproject).

A seeded per-image outcome table and a float chest phantom with its lung mask.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

QUALITY = ["q_laplacian_var", "q_highfreq_share", "q_blur_effect", "q_rms_contrast", "q_michelson",
           "q_dynamic_range", "q_mean"]
LOCALISATION = ["gradcam_lung_share", "gradcam_peak_in_lung", "ig_lung_share", "ig_peak_in_lung"]
GEOMETRY = ["orig_width", "orig_height", "aspect_ratio"]
TRUTH = {"TP": "PNEUMONIA", "FN": "PNEUMONIA", "TN": "NORMAL", "FP": "NORMAL"}
PRED = {"TP": "PNEUMONIA", "FP": "PNEUMONIA", "TN": "NORMAL", "FN": "NORMAL"}


def outcome_table(counts: dict[str, int], seed: int = 0, blur_shift: float = -1.5) -> pd.DataFrame:
    """Aligned per-image table: noise metrics, FPs blurrier by ``blur_shift`` SD, IG for errors only."""
    rng = np.random.default_rng(seed)
    outcome = np.concatenate([[k] * v for k, v in counts.items()]) if counts else np.array([], dtype=str)
    n = outcome.size
    df = pd.DataFrame({"image_id": [f"img{i:04d}" for i in range(n)], "label": [TRUTH[o] for o in outcome],
                       "pred": [PRED[o] for o in outcome], "outcome": outcome})
    positive = np.isin(outcome, ["TP", "FP"])
    df["p_pneumonia"] = np.where(positive, rng.uniform(0.5, 1.0, n), rng.uniform(0.0, 0.5, n))
    for m in QUALITY:
        df[m] = 10.0 + rng.normal(size=n)
    df["q_laplacian_var"] = np.exp(3 + rng.normal(size=n) + blur_shift * (outcome == "FP"))
    for m in ("gradcam", "ig"):
        df[f"{m}_lung_share"] = 1 / (1 + np.exp(-(1 + rng.normal(size=n))))
        df[f"{m}_peak_in_lung"] = (rng.random(n) < 0.8).astype(float)
    correct = np.isin(outcome, ["TP", "TN"])
    df.loc[correct, ["ig_lung_share", "ig_peak_in_lung"]] = np.nan
    df["orig_width"] = rng.normal(2000, 200, n).round()
    df["orig_height"] = rng.normal(1800, 200, n).round()
    df["aspect_ratio"] = df["orig_width"] / df["orig_height"]
    return df


def chest(size: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 (size, size) chest-like image in [0, 1] and its bool lung mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 0.1 + 0.55 * ((((xx - 0.5) / 0.42) ** 2 + ((yy - 0.55) / 0.46) ** 2) < 1)
    lungs = np.zeros((size, size), bool)
    for cx in (0.32, 0.68):
        lungs |= (((xx - cx) / 0.13) ** 2 + ((yy - 0.5) / 0.28) ** 2) < 1
    img = np.where(lungs, 0.25, img) + rng.normal(0, 0.03, (size, size))
    return np.clip(img, 0, 1).astype(np.float32), lungs
