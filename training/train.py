"""Fine-tune a classifier with fastai and write a complete, self-describing run folder.

``python -m training.train [--data ROOT] [--arch resnet18] [--epochs 5] [--size 224]
[--weights auto|imagenet|none|PATH] [--valid folder|grouped] [--seed 0]
[--device auto|cpu|cuda] [--out runs/NAME] [--force]``

The run folder holds ``model.pth``, ``run.json`` (resolved config, seed, versions,
weight provenance, device, timings), ``predictions.csv``, ``metrics.json`` and
Figure 1 (``confusion_<split>.png``); ``runs/latest`` points to the newest run.
"""

from __future__ import annotations

import argparse
import sys

from data.errors import ToolkitError
from training.config import TrainConfig
from training.trainer import summary, train


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """Command line -> validated :class:`TrainConfig`."""
    d = TrainConfig.default  # every default is written once, in TrainConfig
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default=d("data"), help="dataset root (default: bundled sample)")
    p.add_argument("--arch", default=d("arch"), help="resnet18 | efficientnet_lite0")
    p.add_argument("--epochs", type=int, default=d("epochs"))
    p.add_argument("--size", type=int, default=d("size"))
    p.add_argument("--weights", default=d("weights"), help="auto | imagenet | none | PATH to a state dict")
    p.add_argument("--valid", default=d("valid"), help="folder (the val folder) | grouped (patient-grouped)")
    p.add_argument("--valid-fraction", type=float, default=d("valid_fraction"))
    p.add_argument("--seed", type=int, default=d("seed"))
    p.add_argument("--device", default=d("device"), help="auto | cpu | cuda")
    p.add_argument("--batch-size", type=int, default=d("batch_size"))
    p.add_argument("--lr", type=float, default=d("lr"), help="base learning rate")
    p.add_argument("--flips", action="store_true", default=d("flips"), help="allow horizontal flips")
    p.add_argument("--out", default=d("out"), help="run folder (default runs/<arch>-<size>px-<time>)")
    p.add_argument("--force", action="store_true", default=d("force"),
                   help="write into an existing non-empty run folder")
    p.add_argument("--cache-dir", default=d("cache_dir"))
    p.add_argument("--workers", type=int, default=d("workers"))
    return TrainConfig(**vars(p.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse_args(argv)
        run_dir = train(cfg)
        from figures.confusion import draw_figure1  # the CLI composes; training never imports figures

        draw_figure1(run_dir)
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
