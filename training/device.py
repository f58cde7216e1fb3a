"""The compute device every command runs on: one resolver."""

from __future__ import annotations

import torch

from data.errors import ConfigError


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was given but torch sees no CUDA device")
    return device
