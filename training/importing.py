"""Import a model this toolkit did not train into a run folder (the library of ``python -m training.import_model``): TorchScript or torchvision/timm + state dict, with its stated preprocessing and PNEUMONIA output."""

from __future__ import annotations

import json
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from data.errors import ConfigError
from training.backbones import IMAGENET_MEAN, IMAGENET_STD
from training.imported import (
    HEADS,
    ModelSpec,
    check_head,
    file_sha256,
    infer_num_outputs,
    load_state_model,
    load_torchscript,
    probe_outputs,
    read_state_dict,
)
from training.predict import load_run


@dataclass(frozen=True)
class ImportConfig:
    """What the user states about the model (see the module docstring)."""

    out: str
    size: int
    head: str
    torchscript: str | None = None
    torchvision: str | None = None
    timm: str | None = None
    state_dict: str | None = None
    pneumonia_index: int | None = None
    num_outputs: int | None = None
    channels: int = 3
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize: str = "squeeze"
    train_data: str | None = None
    force: bool = False

    def __post_init__(self):
        given = [n for n in ("torchscript", "torchvision", "timm") if getattr(self, n)]
        if len(given) != 1:
            raise ConfigError(f"give exactly one of --torchscript PATH, --torchvision ARCH, --timm ARCH; got "
                              f"{', '.join('--' + g for g in given) or 'none'}")
        if given[0] != "torchscript" and not self.state_dict:
            raise ConfigError(f"--{given[0]} {getattr(self, given[0])} needs --state-dict PATH (the trained weights)")
        if given[0] == "torchscript" and self.state_dict:
            raise ConfigError("--state-dict goes with --torchvision/--timm, not with --torchscript")
        if self.head not in HEADS:
            raise ConfigError(f"--head must be one of {', '.join(HEADS)}, got {self.head!r}")
        if self.train_data is not None and not Path(self.train_data).is_dir():
            raise ConfigError(f"--train-data {self.train_data} is not a folder (expected the model's training images)")

    @property
    def source(self) -> str:
        return next(n for n in ("torchscript", "torchvision", "timm") if getattr(self, n))


def _spec_and_model(cfg: ImportConfig):
    channels = int(cfg.channels)
    default_mean = (float(sum(IMAGENET_MEAN) / 3),) if channels == 1 else IMAGENET_MEAN
    default_std = (float(sum(IMAGENET_STD) / 3),) if channels == 1 else IMAGENET_STD
    mean = tuple(cfg.mean) if cfg.mean else default_mean
    std = tuple(cfg.std) if cfg.std else default_std
    ModelSpec(cfg.source, None, cfg.size, channels, mean, std, cfg.head, 0, 1, cfg.resize)  # validate early
    if cfg.source == "torchscript":
        model = load_torchscript(cfg.torchscript)
        arch = None
    else:
        arch = cfg.torchvision or cfg.timm
        state = read_state_dict(cfg.state_dict)
        k = cfg.num_outputs or infer_num_outputs(state)
        model = load_state_model(cfg.source, arch, state, k, channels)
    k = probe_outputs(model, cfg.size, channels)
    index = check_head(cfg.head, cfg.pneumonia_index, k)
    spec = ModelSpec(cfg.source, arch, int(cfg.size), channels, mean, std, cfg.head, index, k, cfg.resize)
    return spec, model


def import_model(cfg: ImportConfig) -> Path:
    """Check the model against what the user stated, then write the run folder.

    Writes ``model.pt`` (TorchScript, copied) or ``model.pth`` (the state dict, copied),
    ``run.json`` (same provenance keys as a trained run, plus ``import``) and an empty
    ``metrics.json``; the run has no predictions of its own (predict a set with
    ``python -m training.evaluate``).

    Raises:
        ToolkitError: a file that is not a model, a model that refuses the stated input,
            a head without a stated PNEUMONIA output, or an existing non-empty ``out``
            without ``force``. Nothing is written in those cases.
    """
    out = Path(cfg.out)
    if out.exists() and any(out.iterdir()) and not cfg.force:
        raise ConfigError(f"run folder {out} exists and is not empty; choose another --out or pass --force")
    spec, _ = _spec_and_model(cfg)
    source_file = Path(cfg.torchscript or cfg.state_dict)
    model_file = "model.pt" if spec.source == "torchscript" else "model.pth"
    arch_name = f"{spec.source}:{spec.arch or source_file.name}"
    train_root = str(Path(cfg.train_data).expanduser().resolve()) if cfg.train_data else None
    info = {
        "config": {"arch": arch_name, "size": spec.size, "data": train_root},
        "data_root": train_root,
        "device": "cpu",
        "device_name": platform.processor() or "cpu",
        "weights": {"init": "imported", "reason": f"imported from {source_file.resolve()} (not trained by this toolkit)",
                    "source": str(source_file.resolve()), "sha256": file_sha256(source_file)},
        "schedule": "unknown (imported)",
        "normalisation": {"mean": list(spec.mean3), "std": list(spec.std3),
                          "input": (f"grayscale {'as 1 channel' if spec.channels == 1 else 'replicated to 3 channels'}"
                                    f", squeezed to {spec.size} x {spec.size}")},
        "import": {"spec": spec.to_dict(), "model_file": model_file},
        "n_images": {},
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
    }
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source_file, out / model_file)
    (out / "metrics.json").write_text("{}\n")
    (out / "run.json").write_text(json.dumps(info, indent=2))
    load_run(out)  # the saved folder must load exactly as later commands will load it
    return out
