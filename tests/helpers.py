"""Shared test builders (importable from every test: ``pythonpath = ["tests"]`` in pyproject).

A seeded per-image outcome table (:func:`make_table`; :func:`outcome_table` with a
positive, heavy-tailed Laplacian variance for the figures) and a float chest
phantom with its lung mask (:func:`chest`). Nothing here reads files.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from data.labels import OUTCOME_PRED as PRED
from data.labels import OUTCOME_TRUTH as TRUTH
from xai.models_util import IMAGENET_MEAN, IMAGENET_STD

QUALITY = [
    "q_laplacian_var", "q_highfreq_share", "q_blur_effect", "q_rms_contrast", "q_michelson",
    "q_dynamic_range", "q_mean", "q_clip_low", "q_clip_high", "q_entropy", "q_noise_sigma",
]
LOCALISATION = ["gradcam_lung_share", "gradcam_peak_in_lung", "ig_lung_share", "ig_peak_in_lung",
                "gradcam_lung_rank_ratio_k10"]
GEOMETRY = ["orig_width", "orig_height", "aspect_ratio"]


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


def outcome_table(counts: dict[str, int], seed: int = 0, blur_shift: float = -1.5) -> pd.DataFrame:
    """:func:`make_table` with false positives blurrier by ``blur_shift`` SD and a Laplacian variance
    on its natural scale (positive, heavy-tailed: ``exp(3 + noise)``, so figures draw it on a log axis)."""
    df = make_table(counts, seed=seed, shifts={"q_laplacian_var": {"FP": blur_shift}})
    df["q_laplacian_var"] = np.exp(3.0 + df["q_laplacian_var"] - 10.0)
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


# ----------------------------------------------------------------------------- planted models

class PixelValue(nn.Module):
    """1x1 convolution that undoes the normalisation of channel 0: output = pixel value in [0, 1]."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0] = IMAGENET_STD[0]
            self.conv.bias.fill_(IMAGENET_MEAN[0])

    def forward(self, x):
        return self.conv(x)[:, 0]


class RegionMeanModel(nn.Module):
    """Planted dependence: log-odds of PNEUMONIA = k * (mean brightness over ``region`` - c).

    Outputs two logits (0, log-odds); has a Conv2d (Grad-CAM needs one).
    """

    def __init__(self, region: np.ndarray, k: float = 20.0, c: float = 0.5):
        super().__init__()
        self.pixels = PixelValue()
        self.register_buffer("region", torch.as_tensor(np.asarray(region), dtype=torch.float32))
        self.k, self.c = float(k), float(c)

    def forward(self, x):
        m = (self.pixels(x) * self.region).sum((1, 2)) / self.region.sum()
        lo = self.k * (m - self.c)
        return torch.stack([torch.zeros_like(lo), lo], 1)


def not_tested_analysis(n_images: int, *, small_split_warning: str | None = None,
                        claims: dict[str, str] | None = None):
    """A partial :class:`stats.analysis.Analysis`: ``n_images``, a warning, and one NOT TESTED verdict per claim."""
    from stats.analysis import Analysis
    from stats.verdict import HypothesisVerdict, MetricTest, VerdictReport

    nan = float("nan")
    verdicts = tuple(
        HypothesisVerdict(hypothesis=key, claim=claim, primary_metric="q_laplacian_var", status="not tested",
                          statement="not tested", summary="",
                          primary=MetricTest("q_laplacian_var", "primary", key, -1, 0, 0, nan, nan, nan, nan, nan,
                                             nan, nan, "holm", nan, nan, 0.05, "not tested", "no FPs"))
        for key, claim in (claims or {}).items())
    return Analysis(n_images=n_images, small_split_warning=small_split_warning,
                    primary=VerdictReport(declaration="", alpha=0.05, hypotheses=verdicts, exploratory=()))
