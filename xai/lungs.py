"""Classical lung-field mask for frontal chest X-rays (no learned weights).

Method (lengths scale with the image side, so it runs at any analysis size;
run it at the size the saliency maps have, e.g. 224):

1. Contrast: clip to the 1st-99th intensity percentile, rescale to [0, 1],
   Gaussian smoothing (sigma = side / 150).
2. Body: 3-class multi-Otsu; the largest component brighter than the lowest
   threshold (the patient, not the outside air), closed and hole-filled, then
   eroded by side / 25 with the image border counted as outside. The erosion
   strips the chest-wall soft tissue and a frame along the border, which would
   otherwise connect the lungs to the outside air, arms and shoulders.
3. Dark regions: body pixels darker than an Otsu threshold computed over the
   body's central part (10-85 % of the height, 10-90 % of the width), then a
   morphological opening (radius side / 60) to cut thin links.
4. Lungs: the midline is the brightest column of the central 30-70 % (spine and
   mediastinum). Components are cut at the midline, so two lungs joined through
   the trachea separate, and the largest part on each side whose component has
   its centroid in the central band (20-85 % of the height, 10-90 % of the
   width) is kept.
5. Clean-up per lung: a leak above the apex (neck, shoulder) is cut at the
   narrowest row, if that row is in the upper 35 % of the image and the lung
   widens again above it; closing (radius side / 40)
   bridges the ribs; holes are filled; the largest piece is kept.

When only one side yields a lung, that lung alone is returned (one component)
and flagged. Quality flag (``plausible``) is False when the area fraction is
outside [0.08, 0.6], the mask does not have exactly two components, the smaller
lung is under a quarter of the larger, or the mask is barely darker than a ring
around it (median contrast < 0.05 in normalised units: no lungs to find).

Known limits: pneumonic consolidation whitens the lung, so a consolidated lobe is
often missed (the mask covers only the aerated part, and very white lungs get
flagged as asymmetric); the lateral lung periphery and the costophrenic angles
are trimmed by the body erosion; rotated or unusual crops may leak into the
shoulder or lose a lung. Flags are more frequent for PNEUMONIA images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from skimage import filters, measure, morphology

from data.errors import ConfigError

AREA_RANGE = (0.08, 0.6)
MIN_SIDE_RATIO = 0.25
MIN_CONTRAST = 0.05
APEX_MAX_ROW = 0.35  # lung apices lie in the upper third of a frontal film


@dataclass
class LungMask:
    """A lung-field mask and whether it looks anatomically plausible.

    Attributes:
        mask: bool (H, W), True inside the lung fields.
        plausible: False when the checks in ``reasons`` failed.
        reasons: why the mask is implausible (empty when plausible).
        area_fraction: mask pixels / all pixels, in [0, 1].
        n_components: connected components in ``mask`` (2 expected).
        contrast: median intensity of a ring around the mask minus the median
            inside it, on the percentile-normalised image (lungs are darker:
            typically 0.1-0.4; near 0 when there are no lungs to find).
    """

    mask: np.ndarray
    plausible: bool
    reasons: list[str] = field(default_factory=list)
    area_fraction: float = 0.0
    n_components: int = 0
    contrast: float = 0.0


def _disk(radius: float) -> np.ndarray:
    return morphology.disk(max(1, int(round(radius))))


def _normalise(image: np.ndarray, side: int) -> np.ndarray:
    lo, hi = np.percentile(image, [1, 99])
    img = np.clip((image - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(image)
    return filters.gaussian(img, sigma=max(0.5, side / 150), preserve_range=True)


def _midline(img: np.ndarray) -> int:
    """Column of the spine: brightest column profile in the central 30-70 %."""
    h, w = img.shape
    profile = ndi.uniform_filter1d(img[int(0.2 * h):int(0.9 * h)].mean(axis=0), size=max(3, w // 20))
    lo, hi = int(0.3 * w), int(0.7 * w)
    return lo + int(np.argmax(profile[lo:hi]))


def _body(img: np.ndarray, side: int, t_low: float) -> np.ndarray:
    """Largest bright-enough component (the patient), closed and hole-filled."""
    body = ndi.binary_opening(img > t_low, _disk(side / 80))
    labels = measure.label(body)
    if labels.max() == 0:
        return body
    body = labels == (1 + int(np.argmax(np.bincount(labels.ravel())[1:])))
    body = ndi.binary_closing(body, _disk(side / 30), border_value=1)
    return ndi.binary_fill_holes(body)


def _candidates(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape
    t_low, t_high = filters.threshold_multiotsu(img, classes=3, nbins=64)
    inner = ndi.binary_erosion(_body(img, side, t_low), _disk(side / 25), border_value=0)
    centre = np.zeros_like(inner)
    centre[int(0.1 * h):int(0.85 * h), int(0.1 * w):int(0.9 * w)] = True
    vals = img[inner & centre]
    t = filters.threshold_otsu(vals) if vals.size > 10 else t_high
    dark = inner & (img < t)
    dark = ndi.binary_opening(dark, _disk(side / 60))
    return measure.label(dark, connectivity=1)


def _select(labels: np.ndarray, mid: int) -> tuple[np.ndarray, np.ndarray]:
    """Largest in-band component left and right of the midline column ``mid``."""
    h, w = labels.shape
    sides = {"left": (0, np.zeros_like(labels, bool)), "right": (0, np.zeros_like(labels, bool))}
    for region in measure.regionprops(labels):
        cy, cx = region.centroid
        if not (0.2 * h <= cy <= 0.85 * h and 0.1 * w <= cx <= 0.9 * w):
            continue
        comp = labels == region.label
        parts = {"left": comp.copy(), "right": comp.copy()}
        parts["left"][:, mid:] = False
        parts["right"][:, :mid] = False
        for name, part in parts.items():
            area = int(part.sum())
            if area > sides[name][0]:
                sides[name] = (area, part)
    return sides["left"][1], sides["right"][1]


def _cut_top(part: np.ndarray, side: int) -> np.ndarray:
    """Cut a leak above the lung apex (neck, shoulder) at its narrowest row.

    Scanning up from the widest row of the lower two thirds, the width of a lung
    shrinks towards the apex; if it widens again well above a narrow row, what
    lies above that row is not lung and is removed.
    """
    rows = np.flatnonzero(part.any(axis=1))
    if rows.size < 8:
        return part
    widths = ndi.uniform_filter1d(part.sum(axis=1).astype(float), size=max(3, side // 30))
    top, bottom = rows[0], rows[-1]
    lower = top + (bottom - top) // 3
    ref = lower + int(np.argmax(widths[lower:bottom + 1]))
    wmax = widths[ref]
    running_min, min_row = wmax, ref
    for r in range(ref, top - 1, -1):
        if widths[r] < running_min:
            running_min, min_row = widths[r], r
        elif (min_row < APEX_MAX_ROW * part.shape[0] and running_min < 0.5 * wmax
              and widths[r] > 1.5 * running_min + 0.02 * side):
            part = part.copy()
            part[:min_row] = False
            break
    return part


def _clean(part: np.ndarray, side: int) -> np.ndarray:
    if not part.any():
        return part
    part = _cut_top(part, side)
    part = ndi.binary_closing(part, _disk(side / 40))
    part = ndi.binary_fill_holes(part)
    labels = measure.label(part)
    if labels.max() > 1:
        sizes = np.bincount(labels.ravel())[1:]
        part = labels == (1 + int(np.argmax(sizes)))
    return part


def lung_mask(image: np.ndarray) -> LungMask:
    """Segment the two lung fields of a frontal chest X-ray (method in module doc).

    Args:
        image: float32 (H, W) in [0, 1], bone bright, any size >= 32 px (run it
            at the analysis size, e.g. 224).

    Returns:
        LungMask with a bool (H, W) mask and a plausibility flag.

    Raises:
        ConfigError: not a 2-D image, smaller than 32 px, or non-finite values.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < 32:
        raise ConfigError(f"image must be 2-D and at least 32x32, got shape {img.shape}")
    if not np.all(np.isfinite(img)):
        raise ConfigError("image has NaN/inf values; expected float values in [0, 1]")
    side = min(img.shape)
    img = _normalise(img, side)
    if float(img.max() - img.min()) < 1e-3 or np.unique(np.round(img, 3)).size < 3:
        empty = np.zeros(img.shape, dtype=bool)
        return _assess(empty, img, 0, 0, side)
    mid = _midline(img)
    left, right = _select(_candidates(img, side), mid)
    left, right = _clean(left, side), _clean(right, side)
    left[:, mid:] = False  # keep one empty column between the lungs
    right[:, :mid + 1] = False
    mask = left | right
    return _assess(mask, img, int(left.sum()), int(right.sum()), side)


def _contrast(mask: np.ndarray, img: np.ndarray, side: int) -> float:
    """Median of a ring around the mask minus median inside it (normalised units)."""
    if not mask.any():
        return 0.0
    ring = ndi.binary_dilation(mask, _disk(side / 15)) & ~mask
    if not ring.any():
        return 0.0
    return float(np.median(img[ring]) - np.median(img[mask]))


def _assess(mask: np.ndarray, img: np.ndarray, left_area: int, right_area: int, side: int) -> LungMask:
    fraction = float(mask.mean())
    contrast = _contrast(mask, img, side)
    n_components = int(measure.label(mask).max())
    reasons = []
    if not AREA_RANGE[0] <= fraction <= AREA_RANGE[1]:
        reasons.append(f"area fraction {fraction:.3f} outside [{AREA_RANGE[0]}, {AREA_RANGE[1]}]")
    if n_components != 2:
        reasons.append(f"{n_components} components, expected 2")
    big, small = max(left_area, right_area), min(left_area, right_area)
    if big > 0 and small / big < MIN_SIDE_RATIO:
        reasons.append(f"asymmetric lungs: smaller/larger area {small / big:.2f} < {MIN_SIDE_RATIO}")
    if contrast < MIN_CONTRAST:
        reasons.append(f"lungs barely darker than their surround: contrast {contrast:.3f} < {MIN_CONTRAST}")
    return LungMask(mask=mask, plausible=not reasons, reasons=reasons,
                    area_fraction=fraction, n_components=n_components, contrast=contrast)


def mask_outline(mask: np.ndarray) -> np.ndarray:
    """One-pixel inner outline of a mask, for drawing over an image.

    Args:
        mask: bool (H, W).

    Returns:
        bool (H, W), True on mask pixels that have a 4-neighbour outside the mask.
    """
    m = np.asarray(mask).astype(bool)
    if m.ndim != 2:
        raise ConfigError(f"mask must be 2-D, got shape {m.shape}")
    return m & ~ndi.binary_erosion(m, border_value=0)
