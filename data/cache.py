"""Decoded-image cache: decode and resize each file once, keyed by content hash and size.

Training reads every image once per epoch; multi-megapixel originals would be
decoded again each time. The cache stores the model-size uint8 pixels of each file
under ``<cache_dir>/<size>/<sha256 of the file bytes>.npy``, so a renamed or moved
file is still found and an edited file is never served stale.
"""

from __future__ import annotations

import hashlib
import os
from functools import partial
from pathlib import Path

import numpy as np

from data.io import load_xray, resize_square
from data.parallel import parallel_map


def default_cache_dir() -> Path:
    """``$CXR_CACHE``, else ``$XDG_CACHE_HOME/cxr-toolkit``, else ``~/.cache/cxr-toolkit``."""
    if os.environ.get("CXR_CACHE"):
        return Path(os.environ["CXR_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cxr-toolkit"


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 [0, 255], rounded."""
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def _cached_one(path: str, size: int, cache_dir: str) -> np.ndarray:
    target = Path(cache_dir) / str(size) / f"{file_sha256(path)}.npy"
    if target.exists():
        try:
            cached = np.load(target)
            if cached.shape == (size, size) and cached.dtype == np.uint8:
                return cached
        except (OSError, ValueError):
            pass  # a damaged cache entry is rebuilt below
    pixels = to_uint8(resize_square(load_xray(path), size))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, pixels)
    os.replace(tmp, target)  # atomic: concurrent workers never read half a file
    return pixels


def load_resized(paths: list[str | Path], size: int, *, cache_dir: str | Path | None = None,
                 workers: int | None = None, desc: str = "decode") -> np.ndarray:
    """Model-size pixels of many files, decoded through :func:`data.io.load_xray` once.

    Args:
        paths: image files.
        size: square side in pixels.
        cache_dir: cache root (default :func:`default_cache_dir`).
        workers: decode processes (None: all cores).
        desc: progress-bar label.

    Returns:
        uint8 array (N, size, size), in the order of ``paths``.
    """
    cache_dir = str(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    fn = partial(_cached_one, size=int(size), cache_dir=cache_dir)
    arrays = parallel_map(fn, [str(p) for p in paths], workers=workers, desc=desc, chunksize=32)
    if not arrays:
        return np.zeros((0, size, size), np.uint8)
    return np.stack(arrays)
