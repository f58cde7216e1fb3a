"""Fine-tune a classifier with fastai and write a complete, self-describing run folder (the library of ``python -m training.train``).

The run folder holds ``model.pth``, ``run.json`` (resolved config, seed, versions,
weight provenance, device, timings), ``predictions.csv`` and ``metrics.json``;
``runs/latest`` points to the newest run. Figure 1 is drawn by the command.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from data.cache import load_resized
from data.errors import ConfigError
from data.layout import run_layout
from data.scan import scan_dataset
from data.splits import grouped_train_valid_split
from stats.classification import binary_metrics
from stats.intervals import format_metric
from training.backbones import IMAGENET_MEAN, IMAGENET_STD, build_classifier, imagenet_backbone
from training.config import TrainConfig
from training.device import resolve_device
from training.predict import CLASSES, outcome_table, predict_proba


def prepare_run_dir(cfg: TrainConfig) -> Path:
    """Create the run folder; refuse an existing non-empty one unless ``force``."""
    if cfg.out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{cfg.arch}-{cfg.size}px-{stamp}"
        suffix = 1
        while out.exists():
            out = Path("runs") / f"{cfg.arch}-{cfg.size}px-{stamp}-{suffix}"
            suffix += 1
    else:
        out = Path(cfg.out)
    if out.exists() and any(out.iterdir()) and not cfg.force:
        raise ConfigError(f"run folder {out} exists and is not empty; choose another --out or pass --force")
    out.mkdir(parents=True, exist_ok=True)
    return out


def split_rows(table: pd.DataFrame, cfg: TrainConfig) -> pd.DataFrame:
    """Rows used by this run, with column ``role`` in train / valid / test.

    ``folder``: train = the train folder, valid = the val folder. ``grouped``: a
    patient-grouped share of the train folder becomes valid (the val folder is unused).
    """
    train = table[table["split"] == "train"].copy()
    if train.empty:
        raise ConfigError(f"no training images under {table.attrs['root']}/train")
    if cfg.valid == "folder":
        valid = table[table["split"] == "valid"].copy()
        if valid.empty:
            raise ConfigError(f"--valid folder needs {table.attrs['root']}/val; use --valid grouped instead")
        train["role"], valid["role"] = "train", "valid"
        parts = [train, valid]
    else:
        train["role"] = grouped_train_valid_split(train, cfg.valid_fraction, cfg.seed).values
        parts = [train]
    test = table[table["split"] == "test"].copy()
    test["role"] = "test"
    rows = pd.concat(parts + [test], ignore_index=True)
    for role in ("train", "valid"):
        if rows.loc[rows["role"] == role, "label"].nunique() < 2:
            raise ConfigError(f"the {role} set needs images of both classes")
    return rows


def train_batch_size(n_train: int, batch_size: int) -> int:
    """The batch size used for training: ``batch_size``, or the nearest size that leaves no batch of one image.

    Every training image is used every epoch (the last, partial batch is kept), but a
    batch of one image cannot be trained with batch normalisation, so a remainder of
    exactly 1 is avoided by taking a slightly smaller batch.
    """
    bs = max(1, min(batch_size, n_train))
    for candidate in [*range(bs, 1, -1), *range(bs + 1, n_train + 1)]:  # smaller first, larger if need be
        if n_train % candidate != 1:
            return candidate
    return bs


def make_dataloaders(pixels: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, valid_idx: np.ndarray,
                     cfg: TrainConfig, device: str, mean, std):
    """fastai DataLoaders over cached uint8 pixels (no second decode path).

    Items are indices into ``pixels``; each becomes a uint8 3-channel TensorImage;
    batches are scaled to [0, 1], augmented (small rotation, zoom, brightness and
    contrast; flips only if ``cfg.flips``) and normalised. The training loader keeps
    its last partial batch (fastai drops it by default), so every training image is
    seen every epoch; see :func:`train_batch_size`.
    """
    from fastai.vision.all import Categorize, Datasets, IntToFloatTensor, Normalize, TensorImage, aug_transforms

    images = torch.from_numpy(pixels)

    def get_x(i):
        return TensorImage(images[i][None].expand(3, -1, -1).contiguous())

    def get_y(i):
        return CLASSES[int(labels[i])]

    items = list(range(len(pixels)))
    dsets = Datasets(items, tfms=[[get_x], [get_y, Categorize(vocab=list(CLASSES))]],
                     splits=[list(map(int, train_idx)), list(map(int, valid_idx))])
    batch_tfms = [IntToFloatTensor(),
                  *aug_transforms(do_flip=cfg.flips, max_rotate=7.0, max_zoom=1.1, max_lighting=0.2,
                                  max_warp=0.0, size=cfg.size),
                  Normalize.from_stats(list(mean), list(std))]
    return dsets.dataloaders(bs=train_batch_size(len(train_idx), cfg.batch_size), val_bs=cfg.batch_size,
                             after_batch=batch_tfms, device=torch.device(device), num_workers=0, shuffle=True,
                             drop_last=False)


class EpochTimer:
    """fastai callback factory recording seconds per epoch."""

    @staticmethod
    def create(store: list):
        from fastai.callback.core import Callback

        class _Timer(Callback):
            order = 100

            def before_epoch(self):
                self._t0 = time.perf_counter()

            def after_epoch(self):
                store.append(round(time.perf_counter() - self._t0, 3))

        return _Timer()


def fit(cfg: TrainConfig, pixels: np.ndarray, labels: np.ndarray, train_idx, valid_idx, device: str):
    """Fit the classifier; returns (model, provenance, schedule, epoch_seconds)."""
    from fastai.learner import Learner
    from fastai.losses import CrossEntropyLossFlat
    from fastai.metrics import accuracy
    from fastai.torch_core import set_seed

    from training.fastai_compat import default_split, resnet_split

    set_seed(cfg.seed, reproducible=True)
    backbone, provenance = imagenet_backbone(cfg.arch, cfg.weights)  # warns (UserWarning) when it falls back
    set_seed(cfg.seed, reproducible=True)
    model = build_classifier(cfg.arch, backbone)
    dls = make_dataloaders(pixels, labels, train_idx, valid_idx, cfg, device, IMAGENET_MEAN, IMAGENET_STD)
    splitter = resnet_split if cfg.arch == "resnet18" else default_split
    epoch_seconds: list[float] = []
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), metrics=accuracy, splitter=splitter,
                    cbs=[EpochTimer.create(epoch_seconds)])
    if provenance.pretrained:
        schedule = f"fine_tune({cfg.epochs}, base_lr={cfg.lr}): 1 frozen epoch + {cfg.epochs} unfrozen"
        learn.freeze()
        learn.fine_tune(cfg.epochs, base_lr=cfg.lr)
    else:
        schedule = f"fit_one_cycle({cfg.epochs}, lr_max={cfg.lr}) (random init: nothing to freeze)"
        learn.fit_one_cycle(cfg.epochs, lr_max=cfg.lr)
    return learn.model.eval(), provenance, schedule, epoch_seconds


def _versions() -> dict:
    import fastai
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "fastai": fastai.__version__, "numpy": np.__version__}


def point_latest(run_dir: Path) -> None:
    """Make ``<runs>/latest`` point at ``run_dir`` (a relative symlink, or a file naming it)."""
    latest = run_layout(run_dir).latest
    if latest.is_symlink() or latest.is_file():
        latest.unlink()
    elif latest.exists():
        return  # a real folder called 'latest': leave it alone
    try:
        latest.symlink_to(run_dir.name, target_is_directory=True)
    except OSError:
        latest.write_text(run_dir.name + "\n")


def train(cfg: TrainConfig) -> Path:
    """Train, predict and write the run folder; returns its path.

    Raises:
        ToolkitError: bad data layout, configuration or weights.
    """
    t_start = time.perf_counter()
    device = resolve_device(cfg.device)
    table = scan_dataset(cfg.data)
    rows = split_rows(table, cfg)
    run_dir = prepare_run_dir(cfg)
    root = Path(table.attrs["root"])
    t0 = time.perf_counter()
    pixels = load_resized([root / p for p in rows["path"]], cfg.size, cache_dir=cfg.cache_dir,
                          workers=cfg.workers, desc="decode + resize")
    decode_s = time.perf_counter() - t0
    labels = (rows["label"] == "PNEUMONIA").to_numpy().astype(int)
    train_idx = np.flatnonzero(rows["role"].to_numpy() == "train")
    valid_idx = np.flatnonzero(rows["role"].to_numpy() == "valid")
    t0 = time.perf_counter()
    model, provenance, schedule, epoch_seconds = fit(cfg, pixels, labels, train_idx, valid_idx, device)
    fit_s = time.perf_counter() - t0
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, run_layout(run_dir).model)

    t0 = time.perf_counter()
    predictions, metrics = [], {}
    for split in cfg.predict_splits:
        idx = np.flatnonzero(rows["role"].to_numpy() == split)
        if len(idx) == 0:
            continue
        p = predict_proba(model, pixels[idx], IMAGENET_MEAN, IMAGENET_STD, device=device)
        part = outcome_table(rows.iloc[idx].assign(split=split), p)
        predictions.append(part)
        metrics[split] = binary_metrics(labels[idx], p, seed=cfg.seed)
    predict_s = time.perf_counter() - t0
    pd.concat(predictions, ignore_index=True).to_csv(run_layout(run_dir).predictions, index=False)
    run_layout(run_dir).metrics.write_text(json.dumps(metrics, indent=2))
    info = {
        "config": {**cfg.to_dict(), "out": str(run_dir)},
        "data_root": str(root),
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
        "weights": {"init": provenance.init, "reason": provenance.reason, "source": provenance.source},
        "schedule": schedule,
        "normalisation": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                          "input": "grayscale replicated to 3 channels, squeezed to size x size"},
        "n_images": {role: int((rows["role"] == role).sum()) for role in ("train", "valid", "test")},
        "train_batch_size": train_batch_size(len(train_idx), cfg.batch_size),
        "train_images_per_epoch": int(len(train_idx)),  # the last partial batch is kept
        "timings_s": {"decode": round(decode_s, 2), "fit": round(fit_s, 2), "epochs": epoch_seconds,
                      "predict": round(predict_s, 2), "total": round(time.perf_counter() - t_start, 2),
                      "train_images_per_s": round(len(train_idx) * len(epoch_seconds) / max(sum(epoch_seconds), 1e-9), 1)},
        "versions": _versions(),
        "threads": torch.get_num_threads(),
        "host": {"cpus": os.cpu_count()},
    }
    run_layout(run_dir).run_info.write_text(json.dumps(info, indent=2))
    point_latest(run_dir)
    return run_dir


def summary(run_dir: Path) -> str:
    """Multi-line text summary of a finished run (weights provenance first)."""
    info = json.loads(run_layout(run_dir).run_info.read_text())
    metrics = json.loads(run_layout(run_dir).metrics.read_text())
    lines = [f"run: {run_dir}", f"weights: {info['weights']['init']} - {info['weights']['reason']}",
             f"device: {info['device']}; fit {info['timings_s']['fit']} s; epochs {info['timings_s']['epochs']}"]
    for split, m in metrics.items():
        lines.append(f"[{split}] accuracy {format_metric(m['accuracy'])}; sensitivity "
                     f"{format_metric(m['sensitivity'])}; specificity {format_metric(m['specificity'])}; "
                     f"ROC AUC {format_metric(m['roc_auc'], percent=False)}")
        if "small_split_warning" in m:
            lines.append(f"WARNING [{split}]: {m['small_split_warning']}")
    return "\n".join(lines)
