"""Benchmark the error-slice step on an existing explain folder: seconds of search and of the whole step.

``python bench/bench_slices.py --run RUN [--split test] [--no-counterfactual] [--repeat 1]``

Not a test. Works on a temporary copy of ``<run>/explain/<split>/`` (only
``table.csv`` and ``config.json``), so the run's own ``slices.*`` are not touched.
Goal: under 2 minutes on 2 CPU cores for the 624-image test split, once the explain
tables exist.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from stats.slices import SliceConfig
from training.predict import resolve_run
from xai.slice_step import SlicesStepConfig, run_slices


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--no-counterfactual", dest="counterfactual", action="store_false")
    p.add_argument("--max-conditions", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()
    src = resolve_run(a.run) / "explain" / a.split
    for i in range(a.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / a.split
            out.mkdir()
            for name in ("table.csv", "config.json"):
                shutil.copy(src / name, out / name)
            start = time.perf_counter()
            record = run_slices(out, SlicesStepConfig(search=SliceConfig(max_conditions=a.max_conditions),
                                                      counterfactual=a.counterfactual))
            total = time.perf_counter() - start
            print(f"run {i + 1}: search {record['seconds']['search']:.1f} s, whole step {total:.1f} s; "
                  f"{sum(c['n_slices_tried'] for c in record['classes'])} slices tried, "
                  f"{len(record['candidates'])} carried forward, {record['n_confirmed']} confirmed")


if __name__ == "__main__":
    main()
