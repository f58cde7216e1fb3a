"""Benchmark ``quality.measure``: images/second and total seconds per worker count.

``python bench/bench_quality.py [--data ROOT] [--split all] [--size 224] [--workers 1 2] [--profile N]``

Not a test. Each run is the full :func:`quality.measure.run` (scan, decode, resize,
metrics, CSV + JSON written to a temporary folder). ``--profile N`` also times the
stages (decode, resize, each metric) on the first N images in this process.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from data.io import load_xray, resize_square
from data.scan import scan_dataset
from quality import metrics as qm
from quality.batch import DEFAULT_DATA, MeasureConfig
from quality.measure import run


def bench_run(data: Path, split: str, size: int, workers: int) -> tuple[int, int, float]:
    """(images, images that failed to decode, seconds) of one full run."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = MeasureConfig(data=data, split=split, size=size, workers=workers, progress=False,
                            out=Path(tmp) / "quality.csv")
        start = time.perf_counter()
        table = run(cfg)
        return len(table), int((table["error"] != "").sum()), time.perf_counter() - start


def profile_stages(data: Path, split: str, size: int, n: int) -> dict[str, float]:
    """Mean milliseconds per image of each stage over the first ``n`` images."""
    scan = scan_dataset(data, splits=None if split == "all" else (split,))
    root = Path(scan.attrs["root"])
    paths = [root / p for p in scan["path"].iloc[:n]]
    timings: dict[str, float] = {}
    start = time.perf_counter()
    images = [load_xray(p) for p in paths]
    timings["decode (load_xray)"] = time.perf_counter() - start
    start = time.perf_counter()
    small = [resize_square(im, size) for im in images]
    timings["resize_square"] = time.perf_counter() - start
    for column, fn in qm.METRICS.items():
        start = time.perf_counter()
        for im in small:
            fn(im)
        timings[column] = time.perf_counter() - start
    return {k: 1000 * v / len(paths) for k, v in timings.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="all")
    parser.add_argument("--size", type=int, default=qm.ANALYSIS_SIZE)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="also time stages on N images")
    args = parser.parse_args(argv)
    print(f"data={args.data} split={args.split} size={args.size}")
    for workers in args.workers:
        load = os.getloadavg()[0]  # the machine may be shared: a busy one explains slow runs
        n, n_err, seconds = bench_run(args.data, args.split, args.size, workers)
        print(f"workers={workers}: {n} images ({n_err} failed) in {seconds:.1f} s = {n / seconds:.1f} images/s"
              f"  [load average before: {load:.2f}]", flush=True)
    if args.profile:
        stages = profile_stages(args.data, args.split, args.size, args.profile)
        print(f"per-image stage cost over {args.profile} images (ms, one process):")
        for name, ms in stages.items():
            print(f"  {name:22s} {ms:7.2f}")
        print(f"  {'total':22s} {sum(stages.values()):7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
