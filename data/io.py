"""The toolkit's one image decoder and the one resize the model and metrics share.

Every other module reads pixels through :func:`load_xray`, so that grayscale
conversion, bit depth, EXIF orientation and DICOM windowing are decided once.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from data.errors import ImageLoadError

DICOM_SUFFIXES = {".dcm", ".dicom"}
_DICOM_MAGIC_OFFSET = 128


def _is_dicom(path: Path, head: bytes) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    return head[_DICOM_MAGIC_OFFSET:_DICOM_MAGIC_OFFSET + 4] == b"DICM"


def scale_to_unit(pixels: np.ndarray) -> np.ndarray:
    """Map an integer or float array onto float32 [0, 1].

    Integers use the full range of their dtype (so 8- and 16-bit images of the same
    picture agree); floats are min-max scaled unless already inside [0, 1].
    """
    if np.issubdtype(pixels.dtype, np.integer):
        info = np.iinfo(pixels.dtype)
        out = (pixels.astype(np.float64) - info.min) / float(info.max - info.min)
        return out.astype(np.float32)
    out = pixels.astype(np.float32)
    lo, hi = float(np.nanmin(out)), float(np.nanmax(out))
    if lo >= 0.0 and hi <= 1.0:
        return out
    if hi <= lo:
        return np.zeros_like(out)
    return (out - lo) / (hi - lo)


def _pil_to_gray(image: Image.Image) -> np.ndarray:
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(image, dtype=np.uint16)
    if mode == "I":
        arr = np.asarray(image, dtype=np.int64)
        if arr.min() >= 0 and arr.max() <= 65535:
            return arr.astype(np.uint16)
        return arr.astype(np.float64)
    if mode == "F":
        return np.asarray(image, dtype=np.float32)
    if mode == "L":
        return np.asarray(image, dtype=np.uint8)
    if mode in ("LA", "PA"):
        return np.asarray(image.convert("L"), dtype=np.uint8)
    if mode == "RGBA":
        # Composite onto black: transparent regions carry no X-ray signal.
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image)
    # RGB, P (palette), CMYK, YCbCr, 1 ...: PIL's ITU-R 601-2 luma conversion.
    return np.asarray(image.convert("L"), dtype=np.uint8)


def _load_dicom(path: Path) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(str(path))
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises many types; surface one
        raise ImageLoadError(path, f"invalid DICOM ({type(exc).__name__}: {exc})") from exc
    if pixels.ndim == 3 and getattr(ds, "SamplesPerPixel", 1) == 1:
        pixels = pixels[0]  # multi-frame: the first frame
    if pixels.ndim == 3:
        raise ImageLoadError(path, f"colour DICOM (SamplesPerPixel={ds.SamplesPerPixel}) is not supported")
    values = apply_modality_lut(pixels, ds)
    values = apply_voi_lut(values, ds)
    values = np.asarray(values, dtype=np.float64)
    lo, hi = float(values.min()), float(values.max())
    unit = np.zeros_like(values) if hi <= lo else (values - lo) / (hi - lo)
    if str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper() == "MONOCHROME1":
        unit = 1.0 - unit  # MONOCHROME1: high values are dark; make bone bright
    return unit.astype(np.float32)


def load_xray(path: str | os.PathLike) -> np.ndarray:
    """Decode any supported image file into one grayscale float image.

    Handles 8/16-bit grayscale, RGB, RGBA, palette and CMYK images in any format
    PIL reads (the content decides, not the extension), JPEG EXIF orientation, and
    DICOM (modality LUT / rescale slope-intercept, VOI LUT or window, MONOCHROME1
    inverted so that bone is bright).

    Args:
        path: file to read.

    Returns:
        float32 array of shape (H, W) with values in [0, 1].

    Raises:
        ImageLoadError: the file is missing, empty, truncated, not an image or of an
            unsupported kind. The message names the file and the reason.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(_DICOM_MAGIC_OFFSET + 4)
    except FileNotFoundError as exc:
        raise ImageLoadError(path, "file not found") from exc
    except OSError as exc:
        raise ImageLoadError(path, f"cannot open ({exc.strerror or exc})") from exc
    if not head:
        raise ImageLoadError(path, "file is empty (0 bytes)")
    if _is_dicom(path, head):
        return _load_dicom(path)
    try:
        with Image.open(path) as image:
            image.load()
            pixels = _pil_to_gray(image)
    except UnidentifiedImageError as exc:
        raise ImageLoadError(path, "not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(path, f"truncated or corrupt image data ({exc})") from exc
    if pixels.ndim != 2 or pixels.size == 0:
        raise ImageLoadError(path, f"unsupported pixel layout {pixels.shape}")
    return scale_to_unit(pixels)


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a grayscale image to ``size x size`` the way the model sees it.

    The image is squeezed to a square (aspect ratio not kept), as fastai's default
    ``Resize(method='squish')`` and as the dataset's 224x224 copies were made.
    Area interpolation when shrinking, bilinear when enlarging.

    Args:
        image: float32 (H, W) in [0, 1].
        size: output side in pixels, >= 8.

    Returns:
        float32 (size, size) in [0, 1]; a new array (the input is not modified).
    """
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {image.shape}")
    if int(size) < 8:
        raise ValueError(f"size must be >= 8 pixels, got {size}")
    size = int(size)
    if image.shape == (size, size):
        return image.astype(np.float32, copy=True)
    shrinking = image.shape[0] >= size and image.shape[1] >= size
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    out = cv2.resize(image.astype(np.float32), (size, size), interpolation=interp)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
