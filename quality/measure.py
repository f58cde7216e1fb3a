"""Measure image quality for every image of a dataset, at one analysis size.

``python -m quality.measure [--data ROOT] [--split valid|test|train|all] [--size 224]
[--out FILE] [--workers N]``

The command: parse, resolve a :class:`quality.batch.MeasureConfig`, measure with
:func:`quality.batch.measure_dataset`, write the outputs. Output: a CSV, one row
per image keyed by the scan table's ``image_id``, with ``OUTPUT_COLUMNS``; beside
it ``<same stem>.json`` holding the resolved config.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from data.errors import ToolkitError
from quality import metrics as qm
from quality.batch import DEFAULT_DATA, SPLIT_CHOICES, MeasureConfig, measure_dataset, write_outputs


def run(cfg: MeasureConfig) -> pd.DataFrame:
    """Measure every image of ``cfg.split`` and write the CSV and its config JSON; returns the table."""
    start = time.perf_counter()
    table = measure_dataset(cfg)
    write_outputs(table, cfg, time.perf_counter() - start)
    return table


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m quality.measure", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dataset root (default: the bundled sample)")
    parser.add_argument("--split", default="all", help=f"one of {', '.join(SPLIT_CHOICES)} (default: all)")
    parser.add_argument("--size", type=int, default=qm.ANALYSIS_SIZE, help="analysis side in px (default: 224)")
    parser.add_argument("--out", type=Path, default=None,
                        help="CSV to write (default: runs/quality/quality_<split>_<size>.csv)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: every core)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 on a toolkit error)."""
    args = build_parser().parse_args(argv)
    try:
        cfg = MeasureConfig(data=args.data, split=args.split, size=args.size, out=args.out,
                            workers=args.workers, progress=not args.no_progress)
        table = run(cfg)
    except ToolkitError as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 2
    n_err = int((table["error"] != "").sum())
    print(f"measured {len(table)} images at {cfg.size}px ({n_err} failed) -> {cfg.out} (+ {cfg.config_path.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
