"""Scalar summaries of one saliency map relative to the lung fields.

Only positive attribution counts as evidence *for* the explained class: the map
is clipped at 0 and normalised to a distribution ``p`` over pixels. Keys carry no
method prefix; the caller adds ``gradcam_`` / ``ig_``.
"""

from __future__ import annotations

import numpy as np

from data.errors import ConfigError

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


def saliency_summary(saliency: np.ndarray, lung_mask: np.ndarray) -> dict[str, float]:
    """Where a saliency map puts its positive mass, relative to a lung mask.

    Keys (all plain floats, never NaN):

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

    Returns:
        dict of the keys above.

    Raises:
        ConfigError: shapes differ or are not 2-D, or the map has NaN/inf.
    """
    sal = np.asarray(saliency, dtype=np.float64)
    mask = np.asarray(lung_mask).astype(bool)
    if sal.ndim != 2 or mask.shape != sal.shape:
        raise ConfigError(f"saliency and lung_mask must be 2-D of one shape, got {sal.shape} and {mask.shape}")
    if not np.all(np.isfinite(sal)):
        raise ConfigError(f"saliency has {int(np.sum(~np.isfinite(sal)))} NaN/inf values; expected finite numbers")
    pos = np.clip(sal, 0.0, None)
    total = float(pos.sum())
    if not total > 0.0:
        return dict(EMPTY_SUMMARY)
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
        "lung_share": float(np.clip(p[mask].sum(), 0.0, 1.0)),
        "peak_in_lung": peak_in_lung,
        "entropy": float(np.clip(entropy, 0.0, 1.0)),
        "spread": float(spread),
        "centroid_y": float(p.sum(axis=1) @ rows),
        "centroid_x": float(p.sum(axis=0) @ cols),
        "empty": 0.0,
    }
