"""Tiny models for the bring-your-own-model tests, and the planted contrast-dependent model."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

SIZE = 64
#: The planted lesion: a bright disc at a fixed place (row, column, radius) in 64x64 films.
DISC_CENTRE, DISC_RADIUS, DISC_BOOST = (30, 20), 6, 0.35
#: Decision threshold of the planted model on the disc-minus-ring contrast (train: NORMAL < 0, PNEUMONIA > 0.19).
PLANTED_THRESHOLD = 0.175


def tiny_sequential(num_outputs: int = 2, seed: int = 0) -> nn.Sequential:
    """Conv-ReLU-Conv-ReLU-GAP-Linear, a ``Sequential`` (so its TorchScript export can be unrolled)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, padding=1, stride=2), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_outputs)).eval()


def save_torchscript(model: nn.Module, path: Path, size: int = SIZE, channels: int = 3) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(model.eval(), torch.zeros(1, channels, size, size)).save(str(path))
    return path


class NotSequential(nn.Module):
    """A CNN whose TorchScript export cannot be unrolled (Grad-CAM has nothing to hook)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def disc_masks(size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size]
    dist = np.sqrt((yy - DISC_CENTRE[0]) ** 2 + (xx - DISC_CENTRE[1]) ** 2)
    return dist <= DISC_RADIUS, (dist > DISC_RADIUS + 1) & (dist <= DISC_RADIUS + 4)


def plant_lesion(image: np.ndarray) -> np.ndarray:
    """A PNEUMONIA film of the planted world: the disc brightened by :data:`DISC_BOOST`."""
    disc, _ = disc_masks(image.shape[0])
    out = image.astype(np.float32).copy()
    out[disc] = np.clip(out[disc] + DISC_BOOST, 0, 1)
    return out


def planted_contrast_model() -> nn.Sequential:
    """One grey channel in [0, 1] -> one logit = 40 * (mean(disc) - mean(ring) - threshold).

    It reads the lesion's contrast against its surround, so lowering film contrast
    hides the lesion (sensitivity falls) and restoring it brings the lesion back.
    """
    disc, ring = disc_masks()
    kernel = disc / disc.sum() - ring / ring.sum()
    conv = nn.Conv2d(1, 1, SIZE, bias=True)
    conv.weight.data = torch.tensor(40.0 * kernel, dtype=torch.float32)[None, None]
    conv.bias.data = torch.tensor([-40.0 * PLANTED_THRESHOLD])
    return nn.Sequential(conv, nn.Flatten()).eval()
