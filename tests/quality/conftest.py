"""Shared fixtures of the quality tests: real test pictures and a tiny dataset tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_XRAY = (Path(__file__).resolve().parents[2].parent / "shared" / "data" / "chest_xray"
               / "test" / "NORMAL" / "IM-0001-0001.jpeg")


def _camera() -> np.ndarray:
    from skimage import data as skdata

    return skdata.camera()  # uint8 512x512, ships with scikit-image


def _xray() -> np.ndarray:
    if not SHARED_XRAY.is_file():
        pytest.skip(f"shared chest X-ray {SHARED_XRAY} is absent")
    from data.io import load_xray  # the toolkit's one decoder; the file is 8-bit, so this is exact

    return np.round(load_xray(SHARED_XRAY) * 255).astype(np.uint8)


@pytest.fixture(params=["camera", pytest.param("xray", marks=pytest.mark.shared_data)])
def real_uint8(request) -> np.ndarray:
    """A real 8-bit picture: scikit-image's camera, or a chest X-ray from ../shared when present."""
    return _camera() if request.param == "camera" else _xray()


@pytest.fixture
def camera_uint8() -> np.ndarray:
    return _camera()


def write_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="PNG")  # PNG bytes under a .jpeg name: the content decides


def smooth_picture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A seeded uint8 picture with structure (gradient + blobs + mild noise)."""
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    img = 0.3 + 0.4 * xx + 0.1 * np.sin(8 * yy) + 0.05 * rng.standard_normal((height, width))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


TREE_FILES = {
    "train/NORMAL/IM-0001-0001.jpeg": (48, 64),
    "train/NORMAL/IM-0002-0001.jpeg": (40, 40),
    "train/PNEUMONIA/person1_bacteria_1.jpeg": (32, 96),
    "train/PNEUMONIA/person2_virus_2.jpeg": (50, 30),
    "test/NORMAL/IM-0003-0001.jpeg": (36, 36),
    "test/PNEUMONIA/person3_bacteria_3.jpeg": (44, 60),
}
"""Relative path -> (height, width) of the tiny synthetic tree."""


@pytest.fixture
def tree_files() -> dict[str, tuple[int, int]]:
    """Relative path -> (height, width) of the files in ``tiny_tree``."""
    return dict(TREE_FILES)


@pytest.fixture
def make_png():
    """``make_png(path, height, width, seed)``: write a seeded smooth_picture as PNG (any file name)."""
    def _make(path: Path, height: int, width: int, seed: int = 0) -> Path:
        write_png(path, smooth_picture(np.random.default_rng(seed), height, width))
        return path

    return _make


@pytest.fixture
def tiny_tree(tmp_path: Path) -> Path:
    """ROOT/{train,test}/{NORMAL,PNEUMONIA}/ with six small PNGs named like the dataset."""
    rng = np.random.default_rng(0)
    root = tmp_path / "tree"
    for rel, (h, w) in TREE_FILES.items():
        write_png(root / rel, smooth_picture(rng, h, w))
    return root
