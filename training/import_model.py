"""Import a classifier this toolkit did not train into a run folder every later command can use.

``python -m training.import_model --torchscript model.pt --size 224 --head softmax --pneumonia-index 1 --out runs/mine``
``python -m training.import_model --timm densenet121 --state-dict w.pth --size 224 --head multilabel --pneumonia-index 7 --out runs/chex``
``python -m training.import_model --torchvision resnet18 --state-dict w.pth --size 224 --head sigmoid --out runs/rn``

Preprocessing is stated, never guessed: ``--size`` (square side; films are squeezed),
``--channels 1|3``, ``--mean``/``--std`` (ImageNet by default). ``--train-data ROOT``
names the model's training images (any layout), used as the reference of the
domain-shift analysis (``python -m xai.shift``). Everything is checked before the run
folder is created: a bad input leaves no trace.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from data.errors import ConfigError, ToolkitError
from training.backbones import IMAGENET_MEAN, IMAGENET_STD
from training.imported import (HEADS, ModelSpec, check_head, file_sha256, infer_num_outputs, load_state_model,
                               load_torchscript, probe_outputs, read_state_dict)
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


def _floats(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise ConfigError(f"expected comma-separated numbers, got {text!r}") from exc


def parse_args(argv: list[str] | None = None) -> ImportConfig:
    p = argparse.ArgumentParser(prog="python -m training.import_model", description=__doc__.splitlines()[0])
    src = p.add_argument_group("the model (one of)")
    src.add_argument("--torchscript", default=None, help="TorchScript file (torch.jit.save)")
    src.add_argument("--torchvision", default=None, help="torchvision architecture name, with --state-dict")
    src.add_argument("--timm", default=None, help="timm architecture name, with --state-dict")
    p.add_argument("--state-dict", default=None, help="state dict file for --torchvision/--timm")
    p.add_argument("--num-outputs", type=int, default=None, help="head width K (default: read from the state dict)")
    p.add_argument("--size", type=int, required=True, help="square input side in pixels")
    p.add_argument("--channels", type=int, default=3, help="1 or 3 input channels (default 3)")
    p.add_argument("--mean", default=None, help="comma-separated per-channel mean (default ImageNet)")
    p.add_argument("--std", default=None, help="comma-separated per-channel std (default ImageNet)")
    p.add_argument("--resize", default="squeeze", help="squeeze (the only rule: films are squeezed to a square)")
    p.add_argument("--head", required=True, help="softmax | sigmoid | multilabel")
    p.add_argument("--pneumonia-index", type=int, default=None, help="output index of PNEUMONIA")
    p.add_argument("--train-data", default=None, help="the model's training images (reference for xai.shift)")
    p.add_argument("--out", required=True, help="run folder to create")
    p.add_argument("--force", action="store_true", help="write into an existing non-empty folder")
    a = p.parse_args(argv)
    return ImportConfig(out=a.out, size=a.size, head=a.head, torchscript=a.torchscript, torchvision=a.torchvision,
                        timm=a.timm, state_dict=a.state_dict, pneumonia_index=a.pneumonia_index,
                        num_outputs=a.num_outputs, channels=a.channels, mean=_floats(a.mean), std=_floats(a.std),
                        resize=a.resize, train_data=a.train_data, force=a.force)


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse_args(argv)
        out = import_model(cfg)
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    info = json.loads((out / "run.json").read_text())
    spec = info["import"]["spec"]
    print(f"imported {info['config']['arch']} into {out}: input {spec['channels']}x{spec['size']}x{spec['size']}, "
          f"{spec['head']} head, PNEUMONIA = output {spec['pneumonia_index']} of {spec['num_outputs']}")
    print(f"next: python -m training.evaluate --run {out} --images ROOT --name NAME")
    return 0


if __name__ == "__main__":
    sys.exit(main())
