"""Counterfactual speed: the full ``xai.counterfactual`` run on N correct images per class, timed.

``python bench/bench_counterfactual.py --run runs/latest [--data ROOT] [--split test] [--per-class 10]
[--target 100] [--device auto] [--threads N] [--out DIR]``

Runs :func:`xai.counterfactual.run_counterfactuals` (sampling, lung masks, every
intervention x strength x region, statistics, figures) and prints the seconds of
each stage, the seconds per image, and the extrapolation to ``--target`` images
per class (sampling and sweep scale with the number of images; statistics and
figures barely do). Goal on a CPU: 100 per class in under 15 minutes. Writes
into a temporary folder unless ``--out`` is given, so real results are never
overwritten.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import torch

from data.errors import ToolkitError
from xai.sweeps import CounterfactualConfig, run_counterfactuals

GOAL_SECONDS = 15 * 60


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="runs/latest")
    p.add_argument("--data", default=None)
    p.add_argument("--split", default="test")
    p.add_argument("--per-class", type=int, default=10)
    p.add_argument("--target", type=int, default=100, help="images per class to extrapolate to")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--out", default=None, help="output folder (default: a temporary one, deleted)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory(prefix="bench_cf_") as tmp:
        cfg = CounterfactualConfig(run=a.run, data=a.data, split=a.split, per_class=a.per_class, device=a.device,
                                   cache_dir=a.cache_dir, workers=a.workers, out=a.out or tmp)
        t0 = time.perf_counter()
        try:
            result = run_counterfactuals(cfg, progress=False)
        except ToolkitError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        wall = time.perf_counter() - t0
    n = sum(result["n_images"].values())
    sec = result["seconds"]
    scalable = sec.get("select", 0.0) + sec.get("sweep", 0.0)
    fixed = wall - scalable
    per_image = scalable / max(n, 1)
    target_total = per_image * 2 * a.target + fixed
    report = {
        "run": result["run_dir"], "split": a.split, "device": result["device"], "threads": torch.get_num_threads(),
        "images": result["n_images"], "variants_per_image": result["n_variants_per_image"],
        "forward_passes": result["n_forward_passes"], "seconds": {k: round(v, 2) for k, v in sec.items()},
        "wall_seconds": round(wall, 2), "seconds_per_image": round(per_image, 3),
        "seconds_per_forward": round(sec.get("sweep", 0.0) / max(result["n_forward_passes"], 1), 4),
        f"extrapolated_seconds_{a.target}_per_class": round(target_total, 1),
        "goal_seconds": GOAL_SECONDS, "goal_met": bool(target_total < GOAL_SECONDS),
    }
    print(json.dumps(report, indent=2))
    print(f"{n} images x {result['n_variants_per_image']} edits: {wall:.1f} s "
          f"({per_image:.2f} s/image); {a.target} per class would take ~{target_total / 60:.1f} min "
          f"({'within' if report['goal_met'] else 'OVER'} the {GOAL_SECONDS // 60}-min goal)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
