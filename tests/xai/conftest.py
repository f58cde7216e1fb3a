"""Fixtures for the xai tests: tiny seeded models and a synthetic chest phantom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

SHARED_XRAYS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "chest_xray"


def make_chest_phantom(size: int, *, lungs: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic frontal chest image and its planted lung mask.

    Dark background, a bright-ish body ellipse, two dark lung ellipses left and
    right of a bright spine/mediastinum band, Gaussian noise.

    Returns:
        (image float32 (size, size) in [0, 1], lungs bool (size, size)).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    image = np.full((size, size), 0.05)
    body = ((yy - 0.52) / 0.46) ** 2 + ((xx - 0.5) / 0.42) ** 2 <= 1
    image[body] = 0.6
    planted = np.zeros((size, size), bool)
    for cx in (0.31, 0.69):
        planted |= ((yy - 0.45) / 0.27) ** 2 + ((xx - cx) / 0.13) ** 2 <= 1
    if lungs:
        image[planted] = 0.22
    spine = body & (np.abs(xx - 0.5) < 0.06)
    image[spine] = 0.85
    image += rng.normal(0, 0.04, image.shape)
    return np.clip(image, 0, 1).astype(np.float32), planted


class TinyCNN(nn.Module):
    """Conv(3->4) - ReLU - Conv(4->8) - ReLU - global average - Linear(8->2)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
            nn.Conv2d(4, 8, 3, padding=1, stride=2), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


@pytest.fixture
def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return TinyCNN().eval()


@pytest.fixture
def tiny_batch() -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(3, 3, 32, 32, generator=gen)


@pytest.fixture
def chest_phantom():
    """Factory fixture: ``chest_phantom(size, lungs=True, seed=0) -> (image, planted)``."""
    return make_chest_phantom


@pytest.fixture
def shared_xrays() -> Path:
    """The shared chest X-ray folder; skips the test when it is absent."""
    if not SHARED_XRAYS.is_dir():
        pytest.skip(f"shared chest X-rays not found at {SHARED_XRAYS}")
    return SHARED_XRAYS
