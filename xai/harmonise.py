"""Harmonise external images towards the training distribution (the causal test of a domain shift).

Two interventions, both fitted on the images alone (never on their labels):

1. **Histogram matching** (``skimage.exposure.match_histograms``) of every external film to
   the pooled grey-level histogram of the training reference films: brightness,
   contrast and dynamic range become those of training.
2. **Detail matching**: one Gaussian blur (external films sharper than training) or one
   unsharp mask (blurrier) for the whole set, its strength chosen on a grid so that the
   median Laplacian variance (:func:`quality.metrics.laplacian_var`) of the histogram-matched
   external films equals the training median; then the histograms are matched again.

If the model's lost sensitivity/specificity comes back after harmonisation, the failure
lies in those image statistics; if not, in content (or in statistics not harmonised).
All images are float32 in [0, 1] at the model's input size, shape (N, S, S).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.exposure import match_histograms

from data.errors import ConfigError
from quality.metrics import laplacian_var

#: Gaussian sigmas (pixels at the model size) tried when external films are sharper.
BLUR_SIGMAS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0)
#: Unsharp-mask amounts (radius 1 px) tried when external films are blurrier.
SHARPEN_AMOUNTS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
#: Relative difference in median Laplacian variance below which no detail matching is done.
DETAIL_TOLERANCE = 0.05
#: Pixels drawn from all reference films into the pooled histogram (plenty for 256 grey levels;
#: ``match_histograms`` re-sorts its reference on every call, so its size sets the speed).
POOL_PIXELS = 256 * 256


def _as_float(images: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim != 3 or arr.shape[0] == 0:
        raise ConfigError(f"{name} must be a non-empty stack (N, S, S), got shape {arr.shape}")
    return arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)


def reference_pool(reference: np.ndarray, seed: int = 0) -> np.ndarray:
    """A random sample of pixels from all reference films, as a 2-D image whose histogram is the pooled one.

    Args:
        reference: (M, S, S) training films (uint8 or float [0, 1]).
        seed: which pixels are drawn (:data:`POOL_PIXELS`, all when fewer).

    Returns:
        float32 (256, k) in [0, 1].
    """
    flat = _as_float(reference, "reference").ravel()
    if flat.size > POOL_PIXELS:
        flat = flat[np.random.default_rng(seed).choice(flat.size, POOL_PIXELS, replace=False)]
    return flat[: flat.size - flat.size % 256].reshape(256, -1) if flat.size >= 256 else flat.reshape(1, -1)


def match_to_reference(images: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Histogram-match every image to the pooled reference; float32 (N, S, S) in [0, 1]."""
    imgs = _as_float(images, "images")
    return np.stack([match_histograms(img, pool) for img in imgs]).astype(np.float32).clip(0, 1)


def median_detail(images: np.ndarray) -> float:
    """Median Laplacian variance of a stack (float [0, 1] films)."""
    return float(np.median([laplacian_var(img) for img in _as_float(images, "images")]))


def _sharpen(img: np.ndarray, amount: float) -> np.ndarray:
    return np.clip(img + amount * (img - gaussian_filter(img, 1.0)), 0, 1)


def apply_detail(images: np.ndarray, kind: str, strength: float) -> np.ndarray:
    """Blur (``kind='blur'``, sigma ``strength``) or sharpen (``'sharpen'``, amount) every image.

    Returns:
        float32 (N, S, S) in [0, 1]; a copy for ``kind='none'``.
    """
    imgs = _as_float(images, "images")
    if kind == "none":
        return imgs.copy()
    if kind == "blur":
        return np.stack([gaussian_filter(img, strength) for img in imgs]).astype(np.float32)
    if kind == "sharpen":
        return np.stack([_sharpen(img, strength) for img in imgs]).astype(np.float32)
    raise ConfigError(f"detail matching kind must be none, blur or sharpen, got {kind!r}")


@dataclass(frozen=True)
class DetailMatch:
    """The detail-matching step chosen for a set.

    Attributes:
        kind: ``none``, ``blur`` or ``sharpen``.
        strength: Gaussian sigma (blur) or unsharp amount (sharpen); 0 for none.
        target: median Laplacian variance of the training reference.
        before, after: median Laplacian variance of the histogram-matched external films
            before and after the step.
    """

    kind: str
    strength: float
    target: float
    before: float
    after: float


def fit_detail(images: np.ndarray, target: float, *, max_fit_images: int = 64, seed: int = 0) -> DetailMatch:
    """Choose the blur or sharpening whose result has the target median Laplacian variance.

    Args:
        images: histogram-matched external films (N, S, S).
        target: training median Laplacian variance (> 0).
        max_fit_images: films used to fit (a seeded subset; the step is then applied to all).
        seed: subset seed.

    Returns:
        :class:`DetailMatch` (``kind='none'`` when already within :data:`DETAIL_TOLERANCE`).
    """
    imgs = _as_float(images, "images")
    if len(imgs) > max_fit_images:
        imgs = imgs[np.sort(np.random.default_rng(seed).choice(len(imgs), max_fit_images, replace=False))]
    before = median_detail(imgs)
    if not target > 0 or abs(before - target) <= DETAIL_TOLERANCE * target:
        return DetailMatch("none", 0.0, float(target), before, before)
    kind, grid = ("blur", BLUR_SIGMAS) if before > target else ("sharpen", SHARPEN_AMOUNTS)
    levels = [median_detail(apply_detail(imgs, kind, s)) for s in grid]
    best = int(np.argmin([abs(np.log(max(v, 1e-12) / target)) for v in levels]))
    return DetailMatch(kind, float(grid[best]), float(target), before, float(levels[best]))


@dataclass(frozen=True)
class Harmonised:
    """External films after each harmonisation step, float32 (N, S, S) in [0, 1].

    Attributes:
        histogram: histogram-matched to the training pool.
        full: histogram + detail matching (+ histogram again).
        detail: the detail step that was applied.
    """

    histogram: np.ndarray
    full: np.ndarray
    detail: DetailMatch


def harmonise(images: np.ndarray, reference: np.ndarray, *, seed: int = 0) -> Harmonised:
    """Histogram matching, then detail matching, towards the reference films.

    Args:
        images: external films (N, S, S), uint8 or float [0, 1].
        reference: training films (M, S, S) at the same size.
        seed: subsets used for the pool and the detail fit.

    Raises:
        ConfigError: empty stacks or different image sizes.
    """
    imgs, ref = _as_float(images, "images"), _as_float(reference, "reference")
    if imgs.shape[1:] != ref.shape[1:]:
        raise ConfigError(f"external and reference films must have the same size, got {imgs.shape[1:]} and "
                          f"{ref.shape[1:]}")
    pool = reference_pool(ref, seed)
    hist = match_to_reference(imgs, pool)
    detail = fit_detail(hist, median_detail(ref), seed=seed)
    full = hist if detail.kind == "none" else match_to_reference(apply_detail(hist, detail.kind, detail.strength), pool)
    return Harmonised(hist, full, detail)
