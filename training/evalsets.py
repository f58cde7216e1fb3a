"""Named evaluation sets of a run: predict a new folder without touching the run's own predictions.

A set named NAME lives in ``<run>/eval/NAME/``: ``predictions.csv`` (the run's
columns; ``split`` = NAME; ``label``/``correct``/``outcome`` empty for unlabelled
images), ``metrics.json`` (``{NAME: binary_metrics}``, labelled sets only) and
``eval.json`` (root, layout, sizes, what was skipped). Every later step
(``xai.explain --split NAME``, counterfactuals, the shift analysis) reads it through
:func:`split_predictions`.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data.cache import load_resized
from data.errors import ConfigError
from data.layouts import is_labelled, scan_any_layout
from stats.classification import binary_metrics
from training.predict import PREDICTION_COLUMNS, LoadedRun, load_run, outcome_table, predict_proba

RUN_SPLITS = ("valid", "test")
RESERVED = ("train", "valid", "test", "all")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_set_name(name: str) -> str:
    """A valid evaluation-set name (letters, digits, ``_ . -``; not a run split).

    Raises:
        ConfigError: an empty, reserved or unsafe name.
    """
    if not isinstance(name, str) or not _NAME.match(name) or name in RESERVED:
        raise ConfigError(f"evaluation set name {name!r} must be 1-64 letters, digits, '_', '.' or '-' and not one "
                          f"of {', '.join(RESERVED)}")
    return name


def check_split(split: str) -> str:
    """``valid``, ``test`` or a valid evaluation-set name (what ``--split`` accepts everywhere)."""
    if split in RUN_SPLITS:
        return split
    try:
        return check_set_name(split)
    except ConfigError:
        raise ConfigError(f"--split must be valid, test or the name of an evaluation set "
                          f"(python -m training.evaluate --name NAME), got {split!r}") from None


def eval_dir(run_dir: str | Path, name: str) -> Path:
    """``<run>/eval/<name>``."""
    return Path(run_dir) / "eval" / name


def list_sets(run_dir: str | Path) -> list[str]:
    """Names of the evaluation sets predicted for a run."""
    base = Path(run_dir) / "eval"
    return sorted(p.parent.name for p in base.glob("*/eval.json")) if base.is_dir() else []


def set_info(run_dir: str | Path, name: str) -> dict | None:
    """The parsed ``eval.json`` of a set, or None for the run's own splits."""
    path = eval_dir(run_dir, name) / "eval.json"
    return json.loads(path.read_text()) if path.is_file() else None


def split_predictions(run_dir: str | Path, split: str) -> tuple[pd.DataFrame, Path | None]:
    """Predictions of one split of a run and the root its ``path`` column is relative to.

    Args:
        run_dir: run folder.
        split: ``valid``, ``test`` (the run's ``predictions.csv``; root None = the run's
            data) or an evaluation-set name (``eval/<name>/predictions.csv``; its root).

    Returns:
        (rows of that split, root or None).

    Raises:
        ConfigError: the split was never predicted (the message lists what exists).
    """
    run_dir = Path(run_dir)
    have = list_sets(run_dir)
    if split in RUN_SPLITS:
        path = run_dir / "predictions.csv"
        frame = pd.read_csv(path) if path.is_file() else None
        root = None
    else:
        info = set_info(run_dir, split)
        frame = pd.read_csv(eval_dir(run_dir, split) / "predictions.csv") if info else None
        root = Path(info["root"]) if info else None
    rows = frame[frame["split"] == split].reset_index(drop=True) if frame is not None else pd.DataFrame()
    if rows.empty:
        own = sorted(frame["split"].unique()) if frame is not None and not frame.empty else []
        raise ConfigError(f"the run {run_dir.name} never predicted split '{split}' (it has: "
                          f"{', '.join(own + have) or 'nothing'}; predict a folder with python -m training.evaluate "
                          f"--run {run_dir} --images ROOT --name {split})")
    rows["label"] = rows["label"].fillna("")
    return rows, root


def require_labels(rows: pd.DataFrame, split: str, what: str) -> None:
    """Raise a clear error when a label-dependent step meets an unlabelled set.

    Raises:
        ConfigError: some rows of ``split`` have no NORMAL/PNEUMONIA label.
    """
    missing = int((~rows["label"].isin(["NORMAL", "PNEUMONIA"])).sum())
    if missing:
        raise ConfigError(f"{what} needs true labels, but {missing} of {len(rows)} images of set '{split}' are "
                          "unlabelled (no NORMAL/PNEUMONIA folders); its predictions and quality are written, "
                          "label-dependent statistics are not defined")


@dataclass(frozen=True)
class EvalSetConfig:
    """One named evaluation set of a run.

    Attributes:
        run: run folder (trained or imported).
        images: the folder to predict (split, flat or unlabelled layout; see :mod:`data.layouts`).
        name: name of the set (``--split NAME`` later).
        subsets: for a split-layout folder, which of train/valid/test to take (None: all).
        device: torch device (already resolved: ``cpu`` or ``cuda``).
        cache_dir, workers: decoded-image cache and decode processes.
        force: replace an existing set of that name.
        n_boot, seed: bootstrap of the metric intervals.
    """

    run: str
    images: str
    name: str
    subsets: tuple[str, ...] | None = None
    device: str = "cpu"
    cache_dir: str | None = None
    workers: int | None = None
    force: bool = False
    n_boot: int = 2000
    seed: int = 0

    def __post_init__(self):
        check_set_name(self.name)
        if self.subsets is not None and not set(self.subsets) <= {"train", "valid", "test"}:
            raise ConfigError(f"--subsets must be among train, valid, test; got {list(self.subsets)}")


@dataclass(frozen=True)
class EvalSetResult:
    """What :func:`evaluate_set` wrote.

    Attributes:
        out_dir: ``<run>/eval/<name>``.
        run_dir: the run folder.
        name, root, layout: the set, its absolute root and layout.
        n_images: images predicted.
        labelled: whether every image has a label.
        metrics: ``binary_metrics`` of the set (None when unlabelled).
        missing_reason: why metrics are missing, else None.
        pixels: uint8 (N, S, S) model-size images in predictions order (not saved).
        predictions: the predictions table.
    """

    out_dir: Path
    run_dir: Path
    name: str
    root: Path
    layout: str
    n_images: int
    labelled: bool
    metrics: dict | None
    missing_reason: str | None
    pixels: np.ndarray
    predictions: pd.DataFrame


def evaluate_set(cfg: EvalSetConfig, run: LoadedRun | None = None) -> EvalSetResult:
    """Predict every image of ``cfg.images`` with the run's model as a named set.

    Nothing is written before the run, the folder and every image have been read.

    Raises:
        ToolkitError: missing run, a folder with no images, an existing set without
            ``force``, an image that cannot be decoded.
    """
    run = run or load_run(cfg.run)
    out = eval_dir(run.run_dir, cfg.name)
    if out.exists() and any(out.iterdir()) and not cfg.force:
        raise ConfigError(f"evaluation set '{cfg.name}' already exists in {out}; choose another --name or pass --force")
    table = scan_any_layout(cfg.images, set_name=cfg.name, subsets=cfg.subsets)
    root = Path(table.attrs["root"])
    pixels = load_resized([root / p for p in table["path"]], run.size, cache_dir=cfg.cache_dir,
                          workers=cfg.workers, desc=f"decode {cfg.name}")
    p = predict_proba(run.model, pixels, run.mean, run.std, device=cfg.device)
    labelled = is_labelled(table)
    predictions = outcome_table(table, p)
    metrics, reason = None, None
    if labelled:
        y = (table["label"] == "PNEUMONIA").to_numpy().astype(int)
        metrics = binary_metrics(y, p, n_boot=cfg.n_boot, seed=cfg.seed)
    else:
        unl = ~table["label"].isin(["NORMAL", "PNEUMONIA"]).to_numpy()
        predictions["correct"] = predictions["correct"].astype(object)
        predictions.loc[unl, "correct"] = None
        predictions.loc[unl, "outcome"] = ""
        reason = (f"{int(unl.sum())} of {len(table)} images have no label (no NORMAL/PNEUMONIA folder): "
                  "accuracy, sensitivity, specificity and the error statistics are not defined")
    out.mkdir(parents=True, exist_ok=True)
    predictions[PREDICTION_COLUMNS].to_csv(out / "predictions.csv", index=False)
    (out / "metrics.json").write_text(json.dumps({cfg.name: metrics} if metrics else {}, indent=2))
    counts = table["label"].replace("", "unlabelled").value_counts().to_dict()
    (out / "eval.json").write_text(json.dumps({
        "name": cfg.name, "root": str(root), "layout": table.attrs["layout"],
        "subsets": list(cfg.subsets) if cfg.subsets else None, "n_images": int(len(table)),
        "n_by_label": {k: int(v) for k, v in counts.items()}, "labelled": labelled, "missing_reason": reason,
        "skipped": table.attrs["skipped"], "run": str(run.run_dir), "model_size": run.size,
        "device": cfg.device, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "predicted_pneumonia_rate": float((p >= 0.5).mean()),
    }, indent=2))
    return EvalSetResult(out, run.run_dir, cfg.name, root, table.attrs["layout"], len(table), labelled, metrics,
                         reason, pixels, predictions)
