"""Shared fixtures: tiny synthetic dataset trees (no network, no shared data needed)."""

from __future__ import annotations

import gc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "chest_xray"


def pytest_collection_finish(session):
    """Freeze what collection imported (torch, fastai, matplotlib...: millions of long-lived objects).

    Python's full garbage collections would otherwise re-scan them again and again during the run.
    """
    gc.collect()
    gc.freeze()


def chest_phantom(size: int = 64, seed: int = 0, pneumonia: bool = False) -> np.ndarray:
    """uint8 (size, size) chest-like picture: bright body, two dark lungs; pneumonia greys one lung."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 0.15 + 0.55 * (((xx - 0.5) / 0.42) ** 2 + ((yy - 0.55) / 0.48) ** 2 < 1)
    for cx in (0.32, 0.68):
        lung = ((xx - cx) / 0.13) ** 2 + ((yy - 0.5) / 0.28) ** 2 < 1
        img = np.where(lung, 0.25, img)
    if pneumonia:
        patch = ((xx - 0.32) / 0.1) ** 2 + ((yy - 0.6) / 0.12) ** 2 < 1
        img = np.where(patch, 0.55, img)
    img = img + rng.normal(0, 0.03, img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def make_tree(root: Path, layout: dict[str, dict[str, list[str]]], size: int = 64) -> Path:
    """Write a dataset tree: layout[split_folder][label] = list of file names."""
    for split, classes in layout.items():
        for label, names in classes.items():
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for name in names:
                seed = zlib.crc32(f"{split}/{label}/{name}".encode())  # stable across processes
                pixels = chest_phantom(size, seed=seed, pneumonia=label == "PNEUMONIA")
                Image.fromarray(pixels).save(folder / name, format="PNG" if name.endswith(".png") else "JPEG")
    return root


@pytest.fixture
def tiny_tree(tmp_path: Path) -> Path:
    """3 splits x 2 classes, 3 patients per class in train, named like the Kermany files."""
    layout = {
        "train": {"NORMAL": ["IM-0001-0001.jpeg", "IM-0001-0002.jpeg", "IM-0002-0001.jpeg", "NORMAL2-IM-0003-0001.jpeg"],
                  "PNEUMONIA": ["person1_bacteria_1.jpeg", "person1_bacteria_2.jpeg", "person2_virus_3.jpeg",
                                "person3_bacteria_4.jpeg"]},
        "val": {"NORMAL": ["IM-0010-0001.jpeg", "IM-0011-0001.jpeg"],
                "PNEUMONIA": ["person10_virus_20.jpeg", "person11_bacteria_21.jpeg"]},
        "test": {"NORMAL": ["IM-0020-0001.jpeg", "IM-0021-0001.jpeg"],
                 "PNEUMONIA": ["person20_virus_30.jpeg", "person21_bacteria_31.jpeg"]},
    }
    return make_tree(tmp_path / "xray", layout)


@pytest.fixture
def shared_data() -> Path:
    """The full dataset copy beside the project; skips when absent (users will not have it)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"full dataset not present at {SHARED_DATA}")
    return SHARED_DATA
