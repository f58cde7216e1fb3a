"""The pre-declared primary metric of each hypothesis about false positives.

One primary test per hypothesis (FP vs TN within true NORMAL); the three primaries
are corrected together with Holm, every other metric is reported as exploratory.
Declared here, before any result is read, so that every layer uses the same choice.
"""

from __future__ import annotations

#: hypothesis key -> the one column of the per-image table that carries its primary test.
PRIMARY_METRICS: dict[str, str] = {
    "blur": "q_laplacian_var",  # the study's own measure of blur
    "contrast": "q_rms_contrast",
    # area-normalised relevance rank accuracy of Grad-CAM inside the lungs at the top 10 %
    # of pixels: (share of the top-k % pixels inside the lungs) / (lung area fraction); 1 = chance
    "saliency_outside_lungs": "gradcam_lung_rank_ratio_k10",
}

#: top-k percentages at which the area-normalised localisation statistic is computed.
LOCALISATION_TOP_PERCENTS: tuple[int, ...] = (5, 10, 20)
