"""Load a finished run and compute P(pneumonia) with the exact preprocessing of training."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from data.errors import ConfigError
from data.layout import run_layout
from data.labels import CLASSES, NORMAL, PNEUMONIA, THRESHOLD  # noqa: F401  (CLASSES re-exported)
from training.backbones import IMAGENET_MEAN, IMAGENET_STD, build_untrained_classifier

PREDICTION_COLUMNS = ["image_id", "path", "split", "label", "pred", "p_pneumonia", "correct", "outcome"]


class RunNotFoundError(ConfigError):
    """A run folder is missing, unfinished or was written by an incompatible version."""


@dataclass
class LoadedRun:
    """A trained classifier with what is needed to feed it.

    Attributes:
        run_dir: the run folder.
        info: the parsed ``run.json``.
        model: ``Sequential(body, head)`` in eval mode on CPU; input (N, 3, S, S)
            normalised, output logits (N, 2), class 1 = PNEUMONIA.
        size: input side S.
        mean, std: per-channel normalisation applied after scaling pixels to [0, 1].
    """

    run_dir: Path
    info: dict
    model: nn.Module
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def model_file(self) -> Path:
        """The weights file (``model.pth``; an imported run names its own in ``run.json``)."""
        return self.run_dir / self.info.get("import", {}).get("model_file", "model.pth")

    @property
    def arch(self) -> str:
        return self.info["config"]["arch"]


def resolve_run(path: str | Path) -> Path:
    """Follow ``runs/latest`` (a link, or a file holding the run folder's name) to a run folder."""
    path = Path(path)
    if path.is_file() and not run_layout(path).run_info.exists():
        target = path.read_text().strip()
        path = (path.parent / target) if not Path(target).is_absolute() else Path(target)
    path = path.resolve()
    if not run_layout(path).run_info.is_file():
        raise RunNotFoundError(f"no finished run at {path} (expected {path}/run.json and model.pth; "
                               "train one with python -m training.train)")
    return path


def load_run(path: str | Path) -> LoadedRun:
    """Rebuild a run's model from ``run.json`` and ``model.pth``."""
    run_dir = resolve_run(path)
    info = json.loads(run_layout(run_dir).run_info.read_text())
    try:
        arch = info["config"]["arch"]
        size = int(info["config"]["size"])
        mean = tuple(info["normalisation"]["mean"])
        std = tuple(info["normalisation"]["std"])
    except KeyError as exc:
        raise RunNotFoundError(f"{run_dir}/run.json lacks {exc}; was it written by this toolkit?") from exc
    if "import" in info:  # a model this toolkit did not train (python -m training.import_model)
        from training.imported import load_imported

        model = load_imported(run_dir, info)
        return LoadedRun(run_dir, info, model, size, mean, std)
    model = build_untrained_classifier(arch)
    try:
        state = torch.load(run_layout(run_dir).model, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except (OSError, RuntimeError) as exc:
        raise RunNotFoundError(f"cannot load {run_dir}/model.pth into {arch}: {exc}") from exc
    model.eval()
    return LoadedRun(run_dir, info, model, size, mean, std)


def to_model_input(pixels: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                   device: str | torch.device = "cpu") -> torch.Tensor:
    """Grayscale images -> the model's normalised 3-channel input (the one place this is done).

    Args:
        pixels: (H, W) or (N, H, W); uint8 in [0, 255] or float in [0, 1].
        mean, std: per-channel normalisation (3 values each) applied after scaling to [0, 1].
        device: where the tensor is put.

    Returns:
        float32 tensor (N, 3, H, W) ((1, 3, H, W) for one image); a new tensor.

    Raises:
        ConfigError: ``pixels`` is not 2-D or 3-D, or mean/std do not have 3 values.
    """
    arr = np.asarray(pixels)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ConfigError(f"images must have shape (H, W) or (N, H, W), got {arr.shape}")
    if len(mean) != 3 or len(std) != 3:
        raise ConfigError(f"mean and std must have 3 values, got mean={tuple(mean)} std={tuple(std)}")
    x = torch.from_numpy(np.ascontiguousarray(arr))
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    x = x[:, None].repeat(1, 3, 1, 1)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - m) / s).to(device)


@torch.no_grad()
def predict_proba(model: nn.Module, pixels: np.ndarray, mean, std, *, device: str = "cpu",
                  batch_size: int = 64) -> np.ndarray:
    """P(PNEUMONIA) for each image.

    Args:
        model: classifier in eval mode (moved to ``device`` here).
        pixels: uint8 (N, S, S) at the model's input size.
        mean, std: normalisation of the run.
        device: torch device.
        batch_size: images per forward pass.

    Returns:
        float64 (N,) in [0, 1].
    """
    model = model.to(device).eval()
    out = []
    for start in range(0, len(pixels), batch_size):
        logits = model(to_model_input(pixels[start:start + batch_size], mean, std, device))
        out.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def outcome_table(rows: pd.DataFrame, p_pneumonia: np.ndarray, threshold: float = THRESHOLD) -> pd.DataFrame:
    """The predictions table: one row per image with pred, correct and TP/TN/FP/FN outcome.

    Args:
        rows: scan-table rows (image_id, path, split, label).
        p_pneumonia: (N,) probabilities aligned with ``rows``.
        threshold: decision threshold.

    Returns:
        DataFrame with :data:`PREDICTION_COLUMNS`.
    """
    table = rows[["image_id", "path", "split", "label"]].reset_index(drop=True).copy()
    table["p_pneumonia"] = np.asarray(p_pneumonia, dtype=float)
    positive = table["p_pneumonia"] >= threshold
    table["pred"] = np.where(positive, PNEUMONIA, NORMAL)
    truth = table["label"] == PNEUMONIA
    table["correct"] = table["pred"] == table["label"]
    table["outcome"] = np.select([truth & positive, ~truth & ~positive, ~truth & positive],
                                 ["TP", "TN", "FP"], default="FN")
    return table[PREDICTION_COLUMNS]
