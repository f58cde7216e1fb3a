"""Pure, no-reference image quality metrics for grayscale chest X-rays.

Every metric has the signature ``fn(image, mask=None) -> float``:

* ``image`` is a 2-D grayscale array. The toolkit's form is float32 in [0, 1]
  (what :func:`data.io.load_xray` returns); uint8, uint16 and other integer or
  float arrays are converted exactly as ``load_xray`` converts decoded pixels
  (integers by the full range of their dtype, floats kept when inside [0, 1] and
  min-max scaled otherwise), so the same picture gives the same value whatever
  its dtype. The input is never modified.
* ``mask`` is an optional boolean array of the image's shape (any array whose
  non-zero entries mark the region is accepted). The metric is then computed for
  the pixels inside the mask only, e.g. the lung fields. How each kind of metric
  uses the mask:

  - pixel statistics (contrast, exposure): the values ``image[mask]``;
  - neighbourhood filters (Laplacian): the filter runs on the whole image, so
    pixels at the mask border see their true neighbours, and the response is
    aggregated over ``mask``;
  - region methods (FFT share, ``blur_effect``, ``estimate_sigma``): computed on
    the mask's bounding box (the smallest rectangle holding every masked pixel),
    which also includes the unmasked pixels inside that rectangle. These methods
    need a rectangular, gap-free region; filling the holes would create edges.

  A mask that covers the whole image gives exactly the unmasked value.

Edge cases (documented values, never NaN):

* constant image (or constant region): every metric is finite. Sharpness,
  contrast, entropy and noise metrics are 0.0, ``blur_effect`` is 1.0 (no detail
  at all reads as fully blurred), ``mean`` is the constant, and the clipped
  fractions are 0.0 or 1.0 according to where the constant lies.
* empty mask, mask of the wrong shape, or a region method whose bounding box is
  smaller than ``MIN_SIDE`` pixels on a side: :class:`MaskError` is raised (a
  :class:`data.errors.ToolkitError` and a ``ValueError``).
* an image smaller than ``MIN_SIDE`` on a side, not 2-D, or holding NaN/inf:
  ``ValueError``.

Analysis size: the metrics themselves do not resize. Sharpness and noise values
depend on pixel size, so values are only comparable between images measured at
the same size. The toolkit measures everything at ``ANALYSIS_SIZE`` = 224 px
square (see :func:`quality.batch.measure_image`), the size the model sees; the
ranges quoted below assume that, and the frequency cut-off is in cycles per
pixel of the analysis image.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import lru_cache

import cv2
import numpy as np
from scipy.stats import entropy as _shannon_entropy
from skimage.filters import window as _sk_window
from skimage.measure import blur_effect as _sk_blur_effect

from data.errors import ToolkitError
from data.io import scale_to_unit  # the toolkit's one pixel-value conversion

ANALYSIS_SIZE = 224
"""Default side (px) of the square analysis image every metric is computed at."""

MIN_SIDE = 8
"""Smallest image side, or mask bounding-box side for region metrics, accepted."""

HIGHFREQ_CUTOFF = 0.15
"""Cut-off radius of the spectral metrics in cycles/pixel (Nyquist is 0.5): periods shorter than about 6.7 px.

Deliberately off the 8-px JPEG block grid: block edges of a 224-px JPEG put energy at
exactly 1/8 = 0.125 cycles/px (and its harmonics), and a cut-off sitting on that line
would make the share jump with compression rather than with detail."""

CLIP_TOL = 0.02
"""Pixels ``<= CLIP_TOL`` count as clipped low, ``>= 1 - CLIP_TOL`` as clipped high (about 5/255)."""

ENTROPY_BINS = 256
"""Histogram bins over [0, 1] for :func:`histogram_entropy` (8-bit levels)."""

BLUR_H_SIZE = 11
"""Size of the re-blurring filter of :func:`blur_effect` (scikit-image's default)."""


class MaskError(ToolkitError, ValueError):
    """A mask is empty, of the wrong shape, or too small for the metric asked for."""


# ---------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------

def to_unit_float(image: np.ndarray) -> np.ndarray:
    """Convert any 2-D grayscale array to the toolkit's float32 [0, 1] form.

    Uses the same conversion as :func:`data.io.load_xray`: integer dtypes are
    divided by their full range (uint8 ``x`` and uint16 ``257 * x`` agree), bool
    becomes 0/1, floats inside [0, 1] are kept and other floats min-max scaled.

    Args:
        image: 2-D array, at least ``MIN_SIDE`` pixels on each side.

    Returns:
        A new float32 array of the same shape (the input is never modified).

    Raises:
        ValueError: not 2-D, too small, or holding NaN/inf.
    """
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {arr.shape}")
    if min(arr.shape) < MIN_SIDE:
        raise ValueError(f"image must be at least {MIN_SIDE}x{MIN_SIDE} px, got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * np.uint8(255)
    if not np.issubdtype(arr.dtype, np.integer) and not np.all(np.isfinite(arr)):
        raise ValueError("image holds NaN or infinite values")
    out = scale_to_unit(arr)
    return out.copy() if np.shares_memory(out, arr) else out


def _prepare(image: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(float32 [0, 1] image, bool mask or None); a full mask becomes None."""
    img = to_unit_float(image)
    if mask is None:
        return img, None
    m = np.asarray(mask)
    if m.shape != img.shape:
        raise MaskError(f"mask shape {m.shape} does not match image shape {img.shape}")
    m = m.astype(bool, copy=False)
    if not m.any():
        raise MaskError("mask is empty (no pixel selected); expected at least one True pixel")
    if m.all():
        return img, None
    return img, m


def _values(img: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Pixel values (float64, flat) inside the mask, or all of them."""
    chosen = img if mask is None else img[mask]
    return chosen.astype(np.float64).ravel()


def _region(img: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The mask's bounding box of ``img`` (float64), or the whole image."""
    if mask is None:
        return img.astype(np.float64)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    box = img[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    if min(box.shape) < MIN_SIDE:
        raise MaskError(f"mask bounding box is {box.shape[0]}x{box.shape[1]} px; "
                        f"region metrics need at least {MIN_SIDE}x{MIN_SIDE}")
    return box.astype(np.float64)


# ---------------------------------------------------------------------------
# sharpness / blur
# ---------------------------------------------------------------------------

def laplacian_var(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Sharpness as the variance of the Laplacian.

    The 3x3 Laplacian (``cv2.Laplacian``, ksize=1, reflected borders) is applied
    to the whole image and the variance of its response is taken over the mask
    (or all pixels). Sharp edges and fine texture give large values; blur lowers
    it. It grows with the square of contrast and strongly with resolution, so it
    is only comparable at one analysis size (224 px).

    Reference: Pech-Pacheco et al., "Diatom autofocusing in brightfield
    microscopy: a comparative study", ICPR 2000.

    Args:
        image: 2-D grayscale image (see module docs for dtypes).
        mask: optional boolean region (filter on the whole image, variance inside).

    Returns:
        Variance >= 0 (at most 16 for [0, 1] images; typically 1e-4..1e-2 for
        X-rays at 224 px). 0.0 for a constant image.
    """
    img, m = _prepare(image, mask)
    response = cv2.Laplacian(img.astype(np.float64), cv2.CV_64F, ksize=1, borderType=cv2.BORDER_REFLECT_101)
    values = response.ravel() if m is None else response[m]
    return float(np.var(values))


@lru_cache(maxsize=8)
def _spectral_layout(shape: tuple[int, int], cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Hann window, high-frequency selector, non-DC selector) for one region shape."""
    hann = _sk_window("hann", shape)
    radius = np.hypot(np.fft.fftfreq(shape[0])[:, None], np.fft.fftfreq(shape[1])[None, :])
    return hann, radius > cutoff, radius > 0


def _band_powers(image: np.ndarray, mask: np.ndarray | None, cutoff: float) -> tuple[float, float]:
    """(power above ``cutoff``, non-DC power at or below it), each divided by the region's pixel count squared.

    The normalisation makes both a mean squared amplitude (Parseval: their sum is the
    variance of the windowed, mean-removed region), comparable across region sizes.
    """
    if not 0.0 < cutoff < 0.5 * np.sqrt(2.0):
        raise ValueError(f"cutoff {cutoff!r} must lie in (0, 0.707) cycles/pixel")
    img, m = _prepare(image, mask)
    region = _region(img, m)
    if region.max() == region.min():
        return 0.0, 0.0
    hann, high, non_dc = _spectral_layout(region.shape, float(cutoff))
    power = np.abs(np.fft.fft2((region - region.mean()) * hann)) ** 2 / float(region.size) ** 2
    hi = float(power[high].sum())
    return hi, float(power[non_dc].sum()) - hi


def highfreq_power(image: np.ndarray, mask: np.ndarray | None = None, cutoff: float = HIGHFREQ_CUTOFF) -> float:
    """Absolute high-frequency power: the numerator of :func:`highfreq_share` on its own.

    Mean squared amplitude (intensity units squared) of the Hann-windowed, mean-removed
    region at radial frequency ``> cutoff`` cycles/pixel. Fine detail AND noise raise it,
    blur lowers it; unlike the share it does not move when low-frequency anatomy changes.

    Args:
        image: 2-D grayscale image.
        mask: optional boolean region; the spectrum of its bounding box is used.
        cutoff: cycles/pixel of the analysis image.

    Returns:
        float >= 0 (0.0 for a constant region); typically 1e-6 to 1e-3 at 224 px.
    """
    return _band_powers(image, mask, cutoff)[0]


def lowfreq_power(image: np.ndarray, mask: np.ndarray | None = None, cutoff: float = HIGHFREQ_CUTOFF) -> float:
    """Low-frequency power: the rest of the denominator of :func:`highfreq_share` (non-DC, ``<= cutoff``).

    Dominated by anatomy (lung fields, mediastinum, body outline) and exposure gradients.
    Reported separately so a change of the share can be attributed to its numerator
    (detail / noise) or its denominator (coarse structure).

    Args:
        image: 2-D grayscale image.
        mask: optional boolean region (bounding box).
        cutoff: cycles/pixel of the analysis image.

    Returns:
        float >= 0 (0.0 for a constant region), intensity units squared.
    """
    return _band_powers(image, mask, cutoff)[1]


def highfreq_share(image: np.ndarray, mask: np.ndarray | None = None, cutoff: float = HIGHFREQ_CUTOFF) -> float:
    """Sharpness as the share of spectral energy above a cut-off frequency.

    The region (whole image, or the mask's bounding box) has its mean removed and
    is tapered by a 2-D Hann window (``skimage.filters.window``) so the image
    border does not leak energy into high frequencies; then ``numpy.fft.fft2``
    gives the power spectrum. The result is the power at radial frequency
    ``> cutoff`` cycles/pixel divided by all power except the DC term. Blur
    removes high frequencies and lowers it; noise raises it.

    Reference: frequency-domain focus measures, e.g. Firestone et al.,
    "Comparison of autofocus methods for automated microscopy", Cytometry 1991;
    De & Masilamani, "Image sharpness measure for blurred images in frequency
    domain", Procedia Eng. 2013.

    Args:
        image: 2-D grayscale image.
        mask: optional boolean region; the spectrum of its bounding box is used.
        cutoff: radius in cycles/pixel of the analysis image, in (0, 0.5*sqrt(2)).
            The default 0.15 keeps detail with periods under about 6.7 px (at 224 px,
            under 3 % of the film width), off the 8-px JPEG block grid.

    Returns:
        Share in [0, 1]. 0.0 for a constant image or region.

    Raises:
        MaskError: bounding box smaller than ``MIN_SIDE`` px.
    """
    high, low = _band_powers(image, mask, cutoff)
    total = high + low
    return float(high / total) if total > 0.0 else 0.0


def blur_effect(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Perceptual blur as scikit-image's ``blur_effect`` (Crete-Roffet et al.).

    The image is re-blurred along each axis with an ``h_size`` = 11 box filter and
    the loss of gradient (Sobel) variation is compared with the original: a sharp
    image loses much, a blurred one little. Per-axis scores are reduced with max
    (scikit-image's default). Unlike the other sharpness metrics it *rises* with
    blur.

    Reference: Crete, Dolmiere, Ladret, Nicolas, "The blur effect: perception and
    estimation with a new no-reference perceptual blur metric", Proc. SPIE 6492
    (2007); ``skimage.measure.blur_effect``.

    Args:
        image: 2-D grayscale image.
        mask: optional boolean region; computed on its bounding box.

    Returns:
        Blur in [0, 1], 0 sharp and 1 fully blurred (about 0.2-0.5 for X-rays at
        224 px). 1.0 for a constant image or region.

    Raises:
        MaskError: bounding box smaller than ``MIN_SIDE`` px.
    """
    img, m = _prepare(image, mask)
    region = _region(img, m)
    if region.max() == region.min():
        return 1.0
    per_axis = _sk_blur_effect(region, h_size=BLUR_H_SIZE, reduce_func=None)
    return float(np.clip(max(b if np.isfinite(b) else 1.0 for b in per_axis), 0.0, 1.0))


# ---------------------------------------------------------------------------
# contrast
# ---------------------------------------------------------------------------

def rms_contrast(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """RMS contrast: the standard deviation of pixel values (population, ddof=0).

    Reference: Peli, "Contrast in complex images", JOSA A 7(10), 1990.

    Args:
        image: 2-D grayscale image.
        mask: optional boolean region (statistics of ``image[mask]``).

    Returns:
        Std in [0, 0.5] (on the [0, 1] scale). 0.0 for a constant image.
    """
    img, m = _prepare(image, mask)
    return float(np.std(_values(img, m)))


def michelson_contrast(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Michelson contrast on robust percentiles: ``(p95 - p5) / (p95 + p5)``.

    Percentiles (linear interpolation) replace min/max so a few hot or dead
    pixels, labels or burnt-in text do not decide the value.

    Reference: Michelson, "Studies in Optics", 1927.

    Args:
        image: 2-D grayscale image.
        mask: optional boolean region.

    Returns:
        Contrast in [0, 1]. 0.0 for a constant image (including all black, where
        the ratio would be 0/0).
    """
    img, m = _prepare(image, mask)
    p5, p95 = np.percentile(_values(img, m), [5, 95])
    denom = p95 + p5
    return 0.0 if denom <= 0.0 else float((p95 - p5) / denom)


def dynamic_range(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Robust dynamic range: the 99th minus the 1st percentile of pixel values.

    Reference: robust range as used in exposure QC of radiographs, e.g. the
    percentile-based "exposure latitude"; the percentiles drop outliers.

    Args:
        image: 2-D grayscale image.
        mask: optional boolean region.

    Returns:
        Range in [0, 1]. 0.0 for a constant image.
    """
    img, m = _prepare(image, mask)
    p1, p99 = np.percentile(_values(img, m), [1, 99])
    return float(p99 - p1)


# ---------------------------------------------------------------------------
# exposure
# ---------------------------------------------------------------------------

def mean_brightness(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean pixel value (brightness; on X-rays, low mean suggests over-exposure).

    Args:
        image: 2-D grayscale image.
        mask: optional boolean region.

    Returns:
        Mean in [0, 1]; the constant for a constant image.
    """
    img, m = _prepare(image, mask)
    return float(np.mean(_values(img, m)))


def clip_low_fraction(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Fraction of pixels clipped near black (``value <= CLIP_TOL`` = 0.02).

    Args:
        image: 2-D grayscale image.
        mask: optional boolean region.

    Returns:
        Fraction in [0, 1]; for a constant image 1.0 if the constant is
        ``<= CLIP_TOL`` else 0.0.
    """
    img, m = _prepare(image, mask)
    return float(np.mean(_values(img, m) <= CLIP_TOL))


def clip_high_fraction(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Fraction of pixels clipped near white (``value >= 1 - CLIP_TOL`` = 0.98).

    Args:
        image: 2-D grayscale image.
        mask: optional boolean region.

    Returns:
        Fraction in [0, 1]; for a constant image 1.0 if the constant is
        ``>= 1 - CLIP_TOL`` else 0.0.
    """
    img, m = _prepare(image, mask)
    return float(np.mean(_values(img, m) >= 1.0 - CLIP_TOL))


def histogram_entropy(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Shannon entropy (bits) of the 256-bin grey-level histogram over [0, 1].

    A well-exposed film spreads over many levels; a washed-out or clipped one
    concentrates in few. Computed with ``numpy.histogram`` and
    ``scipy.stats.entropy(base=2)``.

    Reference: Shannon, "A mathematical theory of communication", 1948.

    Args:
        image: 2-D grayscale image.
        mask: optional boolean region.

    Returns:
        Entropy in [0, 8] bits. 0.0 for a constant image.
    """
    img, m = _prepare(image, mask)
    counts, _ = np.histogram(_values(img, m), bins=ENTROPY_BINS, range=(0.0, 1.0))
    return float(_shannon_entropy(counts, base=2))


# ---------------------------------------------------------------------------
# noise
# ---------------------------------------------------------------------------

def noise_sigma(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Estimated Gaussian noise standard deviation (``skimage.restoration.estimate_sigma``).

    Robust wavelet estimator: the median absolute value of the finest diagonal
    (db2) detail coefficients divided by 0.6745. Needs PyWavelets.

    Reference: Donoho & Johnstone, "Ideal spatial adaptation by wavelet
    shrinkage", Biometrika 81(3), 1994.

    Args:
        image: 2-D grayscale image.
        mask: optional boolean region; computed on its bounding box.

    Returns:
        Sigma >= 0 on the [0, 1] scale (about 1e-3..1e-2 for these JPEGs at
        224 px). 0.0 for a constant image or when every detail coefficient is 0.

    Raises:
        MaskError: bounding box smaller than ``MIN_SIDE`` px.
        ImportError: PyWavelets is not installed.
    """
    from skimage.restoration import estimate_sigma

    img, m = _prepare(image, mask)
    region = _region(img, m)
    if region.max() == region.min():
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # median of no non-zero coefficient
        sigma = float(estimate_sigma(region, channel_axis=None))
    return sigma if np.isfinite(sigma) else 0.0


# ---------------------------------------------------------------------------
# all together
# ---------------------------------------------------------------------------

METRICS: dict[str, Callable[..., float]] = {
    "q_laplacian_var": laplacian_var,
    "q_highfreq_share": highfreq_share,
    "q_highfreq_power": highfreq_power,
    "q_lowfreq_power": lowfreq_power,
    "q_blur_effect": blur_effect,
    "q_rms_contrast": rms_contrast,
    "q_michelson": michelson_contrast,
    "q_dynamic_range": dynamic_range,
    "q_mean": mean_brightness,
    "q_clip_low": clip_low_fraction,
    "q_clip_high": clip_high_fraction,
    "q_entropy": histogram_entropy,
    "q_noise_sigma": noise_sigma,
}
"""Output column -> metric function, in output order."""

QUALITY_COLUMNS: list[str] = list(METRICS)
"""The stable ``q_`` column names produced by :func:`quality_metrics`."""

BLUR_METRICS = ("q_laplacian_var", "q_highfreq_share", "q_highfreq_power", "q_lowfreq_power", "q_blur_effect")
CONTRAST_METRICS = ("q_rms_contrast", "q_michelson", "q_dynamic_range")
EXPOSURE_METRICS = ("q_mean", "q_clip_low", "q_clip_high", "q_entropy")
NOISE_METRICS = ("q_noise_sigma",)
#: Metrics that use a mask's bounding box, not its pixels: meaningless for a region
#: whose bounding box is the whole film (e.g. everything outside the lungs).
BOUNDING_BOX_METRICS = ("q_highfreq_share", "q_highfreq_power", "q_lowfreq_power", "q_blur_effect",
                        "q_noise_sigma")


def quality_metrics(image: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """Every metric of this module for one image, at the image's own size.

    Resize to the analysis size first (or use :func:`quality.batch.measure_image`,
    which does) so values are comparable across images.

    Args:
        image: 2-D grayscale image (see module docs for dtypes).
        mask: optional boolean region of the same shape.

    Returns:
        ``{column: value}`` for ``QUALITY_COLUMNS``, in that order; all finite.

    Raises:
        MaskError: empty or mis-shaped mask, or a bounding box too small.
    """
    img, m = _prepare(image, mask)  # validate and convert once
    return {column: fn(img, m) for column, fn in METRICS.items()}
