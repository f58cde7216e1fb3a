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
import sys

from data.errors import ConfigError, ToolkitError
from training.importing import ImportConfig, import_model


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
