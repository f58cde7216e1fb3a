"""Predict a run (trained or imported) on a new folder as a named evaluation set.

``python -m training.evaluate --run runs/latest --images /data/adult --name adult``

The folder may be ``ROOT/{train,val,test}/{NORMAL,PNEUMONIA}/`` (``--subsets test``
to take part of it), ``ROOT/{NORMAL,PNEUMONIA}/`` (one class may be absent) or a
folder of unlabelled images. Writes ``<run>/eval/<name>/``: ``predictions.csv``,
``metrics.json`` (with 95% intervals), ``quality.csv`` (every quality metric at the
model's input size), ``eval.json`` and Figure 1 (``confusion_<name>.png``); the run's
own ``predictions.csv`` is not touched. Then: ``python -m xai.explain --split <name>``
and ``python -m xai.shift --split <name>``.
"""

from __future__ import annotations

import argparse
import sys

from data.errors import ToolkitError
from training.evalsets import EvalSetConfig, evaluate_set
from stats.intervals import format_metric
from training.device import resolve_device


def parse_args(argv: list[str] | None = None) -> EvalSetConfig:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--run", default="runs/latest", help="run folder (trained or imported)")
    p.add_argument("--images", required=True, help="folder to predict (split, flat or unlabelled layout)")
    p.add_argument("--name", required=True, help="name of the evaluation set (used as --split later)")
    p.add_argument("--subsets", default=None, help="split layout only: comma-separated train,valid,test (default all)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--force", action="store_true", help="replace an existing set of that name")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    subsets = tuple(s.strip() for s in a.subsets.split(",") if s.strip()) if a.subsets else None
    return EvalSetConfig(run=a.run, images=a.images, name=a.name, subsets=subsets, device=resolve_device(a.device),
                         cache_dir=a.cache_dir, workers=a.workers, force=a.force, n_boot=a.n_boot, seed=a.seed)


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse_args(argv)
        result = evaluate_set(cfg)
        # The command composes the layers: quality (measured on what the model saw) and Figure 1.
        from figures.confusion import confusion_counts, draw_confusion
        from quality.arrays import quality_of_pixels

        quality_of_pixels(result.predictions["image_id"], result.pixels, desc=f"quality {cfg.name}").to_csv(
            result.out_dir / "quality.csv", index=False)
        if result.metrics:
            m = result.metrics
            draw_confusion(confusion_counts(m["counts"]), result.out_dir / f"confusion_{cfg.name}.png",
                           title=f"Figure 1 - set '{cfg.name}', n={m['n']} ({result.run_dir.name})",
                           subtitle=f"accuracy {format_metric(m['accuracy'])}")
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"set '{cfg.name}': {result.n_images} images from {result.root} ({result.layout} layout) -> {result.out_dir}")
    if result.metrics:
        m = result.metrics
        for key in ("accuracy", "sensitivity", "specificity"):
            print(f"  {key}: {format_metric(m[key])}")
        print(f"  ROC AUC: {format_metric(m['roc_auc'], percent=False)}")
        if "small_split_warning" in m:
            print(f"WARNING: {m['small_split_warning']}")
    else:
        print(f"  no label-dependent metrics: {result.missing_reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
