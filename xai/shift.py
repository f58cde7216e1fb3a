"""Explain a domain shift: how an evaluation set differs from the training images, and whether it matters.

``python -m xai.shift --run runs/latest --split adult [--reference ROOT] [--per-class 300]``

Three steps, on the films at the model's input size (what the model sees):

1. **Shift**: per true class, external vs training films on every quality metric
   (Mann-Whitney, rank-biserial r with a bootstrap 95% CI; r > 0: external larger;
   Benjamini-Hochberg over all class x metric tests).
2. **Shift vs errors**: within the external set, per true class, errors vs correct films
   (FP vs TN, FN vs TP) on the same metrics; a shift "goes with the errors" when both
   are significant and point the same way.
3. **Harmonisation** (the causal test, :mod:`xai.harmonise`): external films are
   histogram-matched, then detail-matched, to the training films and predicted again.
   Pre-declared primary result: the change in balanced accuracy (mean per-class recall)
   after full harmonisation, with a paired, class-stratified bootstrap 95% CI, and the
   share of the loss (reference minus external) it recovers.

Writes ``<run>/eval/<name>/shift/``: ``comparisons.csv``, ``errors.csv``,
``harmonisation.csv``, ``per_image.csv``, ``shift.json``; the command also draws the
figures and ``shift.html``.
"""

from __future__ import annotations

import argparse
import sys

from data.errors import ToolkitError
from xai.domain_shift import ALPHA, ShiftConfig, run_shift


def parse_args(argv: list[str] | None = None) -> ShiftConfig:
    p = argparse.ArgumentParser(prog="python -m xai.shift", description=__doc__.splitlines()[0])
    p.add_argument("--run", default="runs/latest")
    p.add_argument("--split", required=True, help="the evaluation set (python -m training.evaluate --name)")
    p.add_argument("--reference", default=None, help="training-distribution images (default: the run's train split)")
    p.add_argument("--per-class", type=int, default=300, help="most reference films per class (seeded sample)")
    p.add_argument("--device", default="auto")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    return ShiftConfig(run=a.run, split=a.split, reference=a.reference, per_class=a.per_class, device=a.device,
                       cache_dir=a.cache_dir, workers=a.workers, n_boot=a.n_boot, seed=a.seed)


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse_args(argv)
        result = run_shift(cfg)
        from figures.shift_plots import write_shift_page  # the command composes; xai never draws

        page = write_shift_page(result.out_dir)
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shifted = result.comparisons[result.comparisons["shifted"]]
    print(f"set '{result.split}' vs reference: {len(shifted)} of {len(result.comparisons)} class x metric tests "
          f"shifted (BH q < {ALPHA})")
    for _, row in shifted.sort_values("q_value").head(8).iterrows():
        print(f"  {row['class']} {row['metric']}: r = {row['rank_biserial']:+.2f} "
              f"(95% CI {row['ci_low']:+.2f} to {row['ci_high']:+.2f})")
    print(f"detail matching: {result.detail['kind']} {result.detail['strength']:g}")
    print(f"verdict: {result.verdict}")
    for note in result.notes:
        print(f"note: {note}")
    print(f"page: {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
