"""Controlled image interventions for counterfactual tests of the classifier.

Every function takes a float (H, W) image in [0, 1] at the analysis (model) size,
never modifies it, and returns a new float32 (H, W) image in [0, 1]. Lengths
(``sigma``, ``length``, ``patch``) are in pixels **at that size** (224 px for the
toolkit's runs).

Region restriction: with ``region=None`` the whole film is perturbed. With a
boolean ``region`` mask the result is composited with a FEATHERED weight, never
a hard switch: ``alpha = clip(2 * GaussianBlur(region, FEATHER_SIGMA) - 1, 0, 1)``
(0 on and outside the region's border, rising smoothly to 1 a few pixels
inside) and ``out = alpha * perturbed + (1 - alpha) * image``, so no seam (a
sharp edge the model could read) is drawn along the mask and no pixel outside
the region is touched. The effective edited area is ``alpha.sum()``
(:func:`feather`), which the area-matched control matches.
Filters (Gaussian and motion blur, like ``low_pass``) restricted to a region use
normalised convolution, ``filter(image * region) / filter(region)``: only the
region's own pixels are averaged, so the bright chest wall does not bleed into
the dark lung fields (and vice versa). A consequence for the point operations:
``scale_contrast`` moves the pixels of the region toward the **film's** mean,
so restricted to the dark lung fields it also brightens them a little (as a
washed-out film would).

``shuffle_patches`` and ``low_pass`` always act inside a region; they form the
texture-vs-shape pair: shuffling patches keeps the local texture statistics and
destroys the anatomy, low-pass filtering keeps the coarse anatomy and removes
the texture.

:data:`INTERVENTIONS` maps a name to ``(function, default strengths)`` for the
sweeps; :data:`TEXTURE_SHAPE` does the same for the texture-vs-shape pair.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from data.errors import ConfigError

__all__ = [
    "FEATHER_SIGMA", "INTERVENTIONS", "TEXTURE_SHAPE", "apply", "feather", "gamma", "gaussian_blur", "gaussian_noise", "low_pass",
    "motion_blur", "motion_kernel", "scale_contrast", "shuffle_coverage", "shuffle_patches",
]


# ----------------------------------------------------------------------------- checks and helpers

def _check_image(image: np.ndarray) -> np.ndarray:
    """The image as float32 (H, W) in [0, 1] (a copy never aliases the caller's array)."""
    arr = np.asarray(image)
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise ConfigError(f"image must be a 2-D array (H, W), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ConfigError(f"image must be float in [0, 1], got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ConfigError("image holds NaN or inf")
    if arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
        raise ConfigError(f"image must lie in [0, 1], got range [{arr.min():.3g}, {arr.max():.3g}]")
    return np.clip(arr, 0.0, 1.0).astype(np.float32)  # astype copies


def _check_region(region: np.ndarray | None, shape: tuple[int, int], *, required: bool = False) -> np.ndarray | None:
    if region is None:
        if required:
            raise ConfigError("this intervention needs a boolean region mask")
        return None
    mask = np.asarray(region)
    if mask.shape != shape:
        raise ConfigError(f"region shape {mask.shape} does not match image shape {shape}")
    if mask.dtype != bool:
        raise ConfigError(f"region must be a boolean mask, got dtype {mask.dtype}")
    return mask


#: Standard deviation (pixels at the analysis size) of the feathered compositing weight.
FEATHER_SIGMA = 2.0


def feather(region: np.ndarray, sigma: float = FEATHER_SIGMA) -> np.ndarray:
    """Soft compositing weight of a boolean region: float32 (H, W) in [0, 1], 0 outside it.

    ``clip(2 * GaussianBlur(region) - 1, 0, 1)``: 0 on the border and outside, 1 deeper than
    about ``2 * sigma`` inside, continuous in between. Reflected borders: a region touching
    the film's edge keeps weight 1 there.
    """
    smooth = cv2.GaussianBlur(np.asarray(region, dtype=np.float32), (0, 0), sigmaX=float(sigma),
                              borderType=cv2.BORDER_REFLECT_101)
    return np.clip(2.0 * smooth - 1.0, 0.0, 1.0) * np.asarray(region, dtype=bool)


def _restrict(image: np.ndarray, perturbed: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    """``perturbed`` composited into ``image`` with the feathered ``region`` weight (everywhere when None)."""
    if region is None:
        out = perturbed
    else:
        alpha = feather(region)
        out = alpha * perturbed + (1.0 - alpha) * image
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def _normalised_filter(image: np.ndarray, region: np.ndarray | None, filt: Callable[[np.ndarray], np.ndarray],
                       border: int) -> np.ndarray:
    """``filt`` of the whole film, or normalised convolution ``filt(image * w) / filt(w)`` over ``region``.

    Where the filter sees no region pixel at all the original value is kept.
    """
    if region is None:
        return filt(image, border)
    weight = region.astype(np.float32)
    num = filt(image * weight, cv2.BORDER_CONSTANT)
    den = filt(weight, cv2.BORDER_CONSTANT)
    return np.divide(num, den, out=image.copy(), where=den > 1e-6)


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
    return value


# ----------------------------------------------------------------------------- interventions

def gaussian_blur(image: np.ndarray, sigma: float, *, region: np.ndarray | None = None) -> np.ndarray:
    """Isotropic Gaussian blur (OpenCV, reflected borders).

    Args:
        image: float (H, W) in [0, 1].
        sigma: standard deviation in pixels, > 0.
        region: optional bool (H, W); blurred by normalised convolution over the region's own
            pixels and composited with the feathered weight (see the module docstring).

    Returns:
        float32 (H, W) in [0, 1].
    """
    img = _check_image(image)
    mask = _check_region(region, img.shape)
    sigma = _positive("sigma", sigma)
    blurred = _normalised_filter(
        img, mask, lambda x, b: cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, borderType=b), cv2.BORDER_REFLECT_101)
    return _restrict(img, blurred, mask)


def motion_kernel(length: int, angle: float = 0.0) -> np.ndarray:
    """Normalised line kernel of a linear motion blur.

    Args:
        length: line length in pixels, >= 1 (odd lengths are centred exactly).
        angle: direction in degrees, counter-clockwise from horizontal.

    Returns:
        float32 (K, K) kernel summing to 1, K = length rounded up to odd.
    """
    if int(length) != length or int(length) < 1:
        raise ConfigError(f"motion-blur length must be an integer >= 1, got {length!r}")
    length = int(length)
    k = length if length % 2 else length + 1
    c = (k - 1) / 2.0
    t = np.linspace(-(length - 1) / 2.0, (length - 1) / 2.0, max(4 * length, 2))
    rad = np.deg2rad(float(angle))
    xs = np.rint(c + t * np.cos(rad)).astype(int)
    ys = np.rint(c - t * np.sin(rad)).astype(int)
    kernel = np.zeros((k, k), np.float32)
    kernel[ys, xs] = 1.0
    return kernel / kernel.sum()


def motion_blur(image: np.ndarray, length: int, angle: float = 0.0, *,
                region: np.ndarray | None = None) -> np.ndarray:
    """Linear motion blur: ``cv2.filter2D`` with a line kernel (reflected borders).

    Args:
        image: float (H, W) in [0, 1].
        length: blur length in pixels, >= 1 (1 = identity).
        angle: direction in degrees (0 = horizontal).
        region: optional bool (H, W); blurred by normalised convolution over the region's own
            pixels and composited with the feathered weight (see the module docstring).

    Returns:
        float32 (H, W) in [0, 1].
    """
    img = _check_image(image)
    mask = _check_region(region, img.shape)
    kernel = motion_kernel(length, angle)
    blurred = _normalised_filter(img, mask, lambda x, b: cv2.filter2D(x, -1, kernel, borderType=b),
                                 cv2.BORDER_REFLECT_101)
    return _restrict(img, blurred, mask)


def scale_contrast(image: np.ndarray, factor: float, *, region: np.ndarray | None = None) -> np.ndarray:
    """Scale deviations from the film's mean: ``mean + factor * (image - mean)``.

    ``factor`` 1 is the identity, < 1 washes the film out, > 1 raises contrast
    (clipped to [0, 1]). The mean is the whole film's, also with a region (see
    the module docstring).

    Args:
        image: float (H, W) in [0, 1].
        factor: >= 0.
        region: optional bool (H, W).

    Returns:
        float32 (H, W) in [0, 1].
    """
    img = _check_image(image)
    mask = _check_region(region, img.shape)
    factor = float(factor)
    if not np.isfinite(factor) or factor < 0:
        raise ConfigError(f"contrast factor must be >= 0, got {factor!r}")
    mean = float(img.mean())
    return _restrict(img, mean + factor * (img - mean), mask)


def gamma(image: np.ndarray, g: float, *, region: np.ndarray | None = None) -> np.ndarray:
    """Gamma curve ``image ** g`` (g < 1 brightens mid-tones, g > 1 darkens them; 0 and 1 stay).

    Args:
        image: float (H, W) in [0, 1].
        g: exponent, > 0 (1 = identity).
        region: optional bool (H, W).

    Returns:
        float32 (H, W) in [0, 1].
    """
    img = _check_image(image)
    mask = _check_region(region, img.shape)
    return _restrict(img, np.power(img, _positive("gamma", g)), mask)


def gaussian_noise(image: np.ndarray, sigma: float, seed: int = 0, *,
                   region: np.ndarray | None = None) -> np.ndarray:
    """Additive white Gaussian noise (clipped to [0, 1]).

    Args:
        image: float (H, W) in [0, 1].
        sigma: noise standard deviation in intensity units (0.05 = 5 % of full scale), > 0.
        seed: seed of ``numpy.random.default_rng``; the same seed gives the same noise.
        region: optional bool (H, W).

    Returns:
        float32 (H, W) in [0, 1].
    """
    img = _check_image(image)
    mask = _check_region(region, img.shape)
    noise = np.random.default_rng(seed).normal(0.0, _positive("noise sigma", sigma), img.shape)
    return _restrict(img, img + noise.astype(np.float32), mask)


def _patch_grid(region: np.ndarray, patch: int) -> list[tuple[int, int]]:
    """Top-left corners of the grid patches lying entirely inside ``region``."""
    h, w = region.shape
    if patch > min(h, w):
        return []
    ny, nx = h // patch, w // patch
    tiles = region[:ny * patch, :nx * patch].reshape(ny, patch, nx, patch)
    full = tiles.all(axis=(1, 3))
    return [(int(y) * patch, int(x) * patch) for y, x in zip(*np.nonzero(full))]


def _check_patch(patch: int) -> int:
    if int(patch) != patch or int(patch) < 1:
        raise ConfigError(f"patch must be an integer >= 1 (pixels), got {patch!r}")
    return int(patch)


def shuffle_coverage(region: np.ndarray, patch: int) -> float:
    """Share of the region's pixels that :func:`shuffle_patches` moves (0 for an empty region).

    Args:
        region: bool (H, W).
        patch: patch side in pixels.

    Returns:
        float in [0, 1].
    """
    region = np.asarray(region, bool)
    total = int(region.sum())
    if total == 0:
        return 0.0
    patch = _check_patch(patch)
    return len(_patch_grid(region, patch)) * patch * patch / total


def shuffle_patches(image: np.ndarray, region: np.ndarray, patch: int, seed: int = 0) -> np.ndarray:
    """Shuffle square patches inside a region: keeps texture statistics, destroys anatomy.

    The film is tiled into ``patch x patch`` squares on a grid anchored at (0, 0);
    the squares lying entirely inside ``region`` are permuted among themselves
    (seeded). Pixels of the region in squares that straddle its border stay as
    they are (see :func:`shuffle_coverage`), so no outside content is moved
    into the region and the region's outline is kept. The set of pixel values
    inside the region is unchanged.

    Args:
        image: float (H, W) in [0, 1].
        region: bool (H, W), e.g. the lung fields.
        patch: square side in pixels, >= 1.
        seed: seed of the permutation.

    Returns:
        float32 (H, W) in [0, 1]; a copy of the image when fewer than two
        squares fit inside the region.
    """
    img = _check_image(image)
    mask = _check_region(region, img.shape, required=True)
    patch = _check_patch(patch)
    corners = _patch_grid(mask, patch)
    out = img.copy()
    if len(corners) < 2:
        return out
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(corners))
    if np.array_equal(order, np.arange(len(corners))):
        order = np.roll(order, 1)  # a permutation that moves nothing is no intervention
    tiles = [img[y:y + patch, x:x + patch] for y, x in corners]
    for (y, x), src in zip(corners, order):
        out[y:y + patch, x:x + patch] = tiles[src]
    return out


def low_pass(image: np.ndarray, region: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian low-pass filter inside a region: keeps coarse anatomy, removes fine texture.

    Normalised convolution: ``blur(image * region) / blur(region)``, so only the
    region's own pixels are averaged (the bright chest wall does not bleed into
    the lung fields); the result replaces the image inside the region.

    Args:
        image: float (H, W) in [0, 1].
        region: bool (H, W), e.g. the lung fields.
        sigma: Gaussian standard deviation in pixels, > 0.

    Returns:
        float32 (H, W) in [0, 1]; a copy of the image when the region is empty.
    """
    img = _check_image(image)
    mask = _check_region(region, img.shape, required=True)
    sigma = _positive("sigma", sigma)
    if not mask.any():
        return img.copy()
    weight = mask.astype(np.float32)
    num = cv2.GaussianBlur(img * weight, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_CONSTANT)
    den = cv2.GaussianBlur(weight, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_CONSTANT)
    smooth = np.divide(num, den, out=img.copy(), where=den > 1e-6)
    return _restrict(img, smooth, mask)


# ----------------------------------------------------------------------------- registries

Intervention = Callable[..., np.ndarray]

#: name -> (function(image, strength, *, region=None), default strengths, from mild to strong).
INTERVENTIONS: dict[str, tuple[Intervention, list[float]]] = {
    "gaussian_blur": (gaussian_blur, [1.0, 2.0, 4.0]),
    "motion_blur": (motion_blur, [5, 9, 15]),
    "contrast": (scale_contrast, [0.8, 0.6, 0.4]),
    "gamma": (gamma, [0.6, 1.5]),
    "noise": (gaussian_noise, [0.02, 0.05, 0.1]),
}

#: The texture-vs-shape pair, always inside the lung fields:
#: name -> (function(image, region, strength, ...), default strengths in pixels at 224 px).
TEXTURE_SHAPE: dict[str, tuple[Intervention, list[float]]] = {
    "shuffle_patches": (shuffle_patches, [8, 16]),
    "low_pass": (low_pass, [2.0, 4.0]),
}

#: Interventions whose result depends on a seed.
SEEDED = ("noise", "shuffle_patches")


def apply(name: str, image: np.ndarray, strength: float, *, region: np.ndarray | None = None,
          seed: int = 0) -> np.ndarray:
    """Apply a registered intervention by name.

    Args:
        name: a key of :data:`INTERVENTIONS` or :data:`TEXTURE_SHAPE`.
        image: float (H, W) in [0, 1].
        strength: the intervention's parameter (sigma, length, factor, g, patch).
        region: bool (H, W) or None (whole film); required for the texture-vs-shape pair.
        seed: used by the seeded interventions (:data:`SEEDED`).

    Returns:
        float32 (H, W) in [0, 1].
    """
    if name in INTERVENTIONS:
        fn = INTERVENTIONS[name][0]
        if name == "motion_blur":
            return fn(image, int(strength), region=region)
        if name in SEEDED:
            return fn(image, strength, seed, region=region)
        return fn(image, strength, region=region)
    if name in TEXTURE_SHAPE:
        if region is None:
            raise ConfigError(f"{name} needs a region (e.g. the lung fields)")
        if name == "shuffle_patches":
            return shuffle_patches(image, region, int(strength), seed)
        return low_pass(image, region, strength)
    known = ", ".join([*INTERVENTIONS, *TEXTURE_SHAPE])
    raise ConfigError(f"unknown intervention {name!r}; known: {known}")
