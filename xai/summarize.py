"""Scalar summaries of one saliency map relative to the lung fields.

Two kinds of summary:

* Area-normalised relevance rank accuracy (Arras et al. 2022, CLEVR-XAI), the
  localisation statistic the verdicts use: ``lung_rank_ratio_k{k}`` = (share of
  the top-k % pixels of the RAW map inside the lungs) / (lung area fraction).
  It depends only on the ranking of the pixels (shift- and scale-invariant: no
  per-image ReLU or min-max decides which pixels count), is defined for every
  map, and is 1.0 at chance (a map that ignores where the lungs are), > 1 when
  the most salient pixels concentrate in the lungs, < 1 when they avoid them.
* Descriptive summaries of the positive part of the (display) map: the map is
  clipped at 0 and normalised to a distribution ``p`` over pixels
  (``lung_share`` etc.). These depend on where the ReLU cuts, so they are kept
  for description only, never for a verdict.

Keys carry no method prefix; the caller adds ``gradcam_`` / ``ig_``.
"""

from __future__ import annotations

import numpy as np

from data.errors import ConfigError
from stats.primary import LOCALISATION_TOP_PERCENTS

#: Values returned for a map without positive mass (all <= 0): "no evidence".
EMPTY_SUMMARY: dict[str, float] = {
    "lung_share": 0.0,
    "peak_in_lung": 0.0,
    "entropy": 1.0,
    "spread": 0.5,
    "centroid_y": 0.5,
    "centroid_x": 0.5,
    "empty": 1.0,
}

_TIE_RTOL = 1e-6

#: Chance level of ``lung_rank_ratio_k*``: a map whose ranking ignores the lungs.
RANK_RATIO_CHANCE = 1.0


def rank_ratio_keys(top_percents=LOCALISATION_TOP_PERCENTS) -> list[str]:
    """``["lung_rank_ratio_k5", "lung_rank_ratio_k10", "lung_rank_ratio_k20"]`` (unprefixed)."""
    return [f"lung_rank_ratio_k{int(k)}" for k in top_percents]


def top_share_inside(raw: np.ndarray, mask: np.ndarray, top_percent: float) -> float:
    """Share of the top ``top_percent`` % pixels of ``raw`` that lie inside ``mask``.

    Ties at the cut-off are shared out evenly (the expected share under a random
    tie-break): pixels strictly above the k-th value count fully, pixels equal to
    it count for the fraction of them still needed. An all-equal map therefore
    gives exactly the mask's area fraction (ratio 1.0, chance).

    Args:
        raw: float (H, W), finite, any sign and scale.
        mask: bool (H, W).
        top_percent: in (0, 100].

    Returns:
        float in [0, 1].
    """
    flat = np.asarray(raw, np.float64).ravel()
    inside = np.asarray(mask, bool).ravel()
    n_top = max(1, int(round(flat.size * float(top_percent) / 100.0)))
    order = np.sort(flat)[::-1]
    cut = order[n_top - 1]
    above = flat > cut
    tied = flat == cut
    need = n_top - int(above.sum())
    share_tied = need / int(tied.sum())
    count_in = float(np.sum(above & inside)) + share_tied * float(np.sum(tied & inside))
    return count_in / n_top


def lung_rank_ratios(raw: np.ndarray, lung_mask: np.ndarray,
                     top_percents=LOCALISATION_TOP_PERCENTS) -> dict[str, float]:
    """Area-normalised relevance rank accuracy at each top-k % (see the module docstring).

    Args:
        raw: float (H, W) raw map (Grad-CAM before ReLU/min-max, signed IG); finite.
        lung_mask: bool (H, W).
        top_percents: the k values.

    Returns:
        ``{"lung_rank_ratio_k{k}": ratio}``; ratio in [0, 1 / area fraction],
        1.0 = chance; NaN only when the mask is empty or covers the whole image
        (no area to normalise by; :func:`rank_ratio_reason` names it).
    """
    mask = np.asarray(lung_mask, bool)
    area = float(mask.mean())
    keys = rank_ratio_keys(top_percents)
    if not 0.0 < area < 1.0:
        return {k: float("nan") for k in keys}
    return {key: top_share_inside(raw, mask, k) / area for key, k in zip(keys, top_percents)}


def rank_ratio_reason(raw: np.ndarray, lung_mask: np.ndarray) -> str:
    """Why a map's rank ratios are NaN or uninformative ('' when they are fine).

    ``lung mask empty`` / ``lung mask covers the whole image`` (NaN), or
    ``constant map`` (defined by ties: exactly 1.0, chance, and counted).
    """
    mask = np.asarray(lung_mask, bool)
    if not mask.any():
        return "lung mask empty"
    if mask.all():
        return "lung mask covers the whole image"
    if np.ptp(np.asarray(raw, np.float64)) == 0:
        return "constant map"
    return ""


def saliency_summary(saliency: np.ndarray, lung_mask: np.ndarray, raw: np.ndarray | None = None
                     ) -> dict[str, float]:
    """Where a saliency map puts its positive mass, relative to a lung mask.

    Keys (plain floats; only the rank ratios can be NaN, see :func:`lung_rank_ratios`):

    - ``lung_rank_ratio_k5``, ``_k10``, ``_k20``: area-normalised rank accuracy
      of the RAW map (``raw``, or ``saliency`` when None); 1.0 = chance.
    - ``map_constant`` 0 or 1: the raw map is constant (its ratios are 1.0 by ties).

    - ``lung_share`` in [0, 1]: share of positive mass inside the mask.
    - ``peak_in_lung`` 0 or 1 (pointing game): the maximum lies inside the mask;
      with tied maxima (plateaus of an upsampled Grad-CAM), 1 when at least half
      of the tied pixels are inside.
    - ``entropy`` in [0, 1]: Shannon entropy of ``p`` divided by ``log(H*W)``;
      0 = all mass on one pixel, 1 = uniform.
    - ``spread`` in (0, 1]: smallest share of pixels holding 50 % of the
      positive mass (0.5 for a uniform map, ~0 for a point).
    - ``centroid_y``, ``centroid_x`` in (0, 1): centre of positive mass,
      ``(row + 0.5) / H`` and ``(col + 0.5) / W`` (0 = top / left edge).
    - ``empty`` 0 or 1: 1 when the map has no positive mass. Then the other
      keys take the documented :data:`EMPTY_SUMMARY` values (lung_share 0,
      peak_in_lung 0, entropy 1, spread 0.5, centroids 0.5); filter on ``empty``.

    Args:
        saliency: float (H, W), any sign and scale (Grad-CAM [0, 1], IG signed).
        lung_mask: bool (H, W), True inside the lung fields; same shape.
        raw: float (H, W) map before any ReLU / min-max (Grad-CAM); default ``saliency``.

    Returns:
        dict of the keys above.

    Raises:
        ConfigError: shapes differ or are not 2-D, or the map has NaN/inf.
    """
    sal = np.asarray(saliency, dtype=np.float64)
    mask = np.asarray(lung_mask).astype(bool)
    if sal.ndim != 2 or mask.shape != sal.shape:
        raise ConfigError(f"saliency and lung_mask must be 2-D of one shape, got {sal.shape} and {mask.shape}")
    raw_map = sal if raw is None else np.asarray(raw, dtype=np.float64)
    if raw_map.shape != sal.shape:
        raise ConfigError(f"raw map shape {raw_map.shape} differs from the saliency shape {sal.shape}")
    for name, arr in (("saliency", sal), ("raw map", raw_map)):
        if not np.all(np.isfinite(arr)):
            raise ConfigError(f"{name} has {int(np.sum(~np.isfinite(arr)))} NaN/inf values; expected finite numbers")
    ranks = {**lung_rank_ratios(raw_map, mask), "map_constant": float(np.ptp(raw_map) == 0)}
    pos = np.clip(sal, 0.0, None)
    total = float(pos.sum())
    if not total > 0.0:
        return {**ranks, **EMPTY_SUMMARY}
    p = pos / total
    height, width = p.shape

    peak = sal.max()
    tied = sal >= peak - _TIE_RTOL * abs(peak)
    peak_in_lung = 1.0 if mask[tied].mean() >= 0.5 else 0.0

    nz = p[p > 0]
    entropy = float(-(nz * np.log(nz)).sum() / np.log(p.size)) if p.size > 1 else 0.0

    ranked = np.sort(p, axis=None)[::-1]
    needed = int(np.searchsorted(np.cumsum(ranked), 0.5 - 1e-12)) + 1
    spread = min(needed, p.size) / p.size

    rows = (np.arange(height) + 0.5) / height
    cols = (np.arange(width) + 0.5) / width
    return {
        **ranks,
        "lung_share": float(np.clip(p[mask].sum(), 0.0, 1.0)),
        "peak_in_lung": peak_in_lung,
        "entropy": float(np.clip(entropy, 0.0, 1.0)),
        "spread": float(spread),
        "centroid_y": float(p.sum(axis=1) @ rows),
        "centroid_x": float(p.sum(axis=0) @ cols),
        "empty": 0.0,
    }
