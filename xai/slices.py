"""Where does the model fail? Error slices, found on one half of a split and confirmed on the other.

``python -m xai.slices --run RUN --split test [--data ROOT] [--max-conditions 2] [--no-counterfactual]``

Reads the explain step's ``table.csv`` (run ``python -m xai.explain --run RUN --split
test`` first; Grad-CAM of every image is enough: ``--methods gradcam``), searches
slices within each true class with :func:`stats.slices.find_slices`, and, for each
confirmed slice defined by an image property an intervention can move, runs the
cheap check of :mod:`xai.slice_counterfactual` on the slice's correct films.

Writes into ``<run>/explain/<split>/``: ``slices.csv`` (one row per candidate slice:
conditions, plain-word description, sizes, error rates with Wilson intervals and
lift on both halves, p-values, confirmed), ``slices_halves.csv`` (the half of every
image), ``slices.json`` (everything, with the counterfactual checks),
``slices_config.json`` and ``figures/slices.png``; the investigation report shows
them in its section "Where does the model fail?" the next time it is written
(``--report`` rewrites it now).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from data.errors import ConfigError, ToolkitError
from stats.slices import SliceConfig
from xai.slice_step import SlicesStepConfig, run_slices


def parse_args(argv: list[str] | None = None) -> tuple[Path, SlicesStepConfig, bool]:
    """Command line -> (explain folder, :class:`SlicesStepConfig`, rewrite the report)."""
    p = argparse.ArgumentParser(prog="python -m xai.slices", description=__doc__.splitlines()[0])
    p.add_argument("--run", default="runs/latest", help="run folder (default runs/latest)")
    p.add_argument("--split", default="test", help="valid | test (default test)")
    p.add_argument("--data", default=None, help="dataset root for the counterfactual check (default: the explain step's)")
    p.add_argument("--max-conditions", type=int, default=2, help="conditions per slice, 1-3 (default 2)")
    p.add_argument("--min-support", type=int, default=10, help="fewest discovery images in a slice (default 10)")
    p.add_argument("--top-k", type=int, default=5,
                   help="candidates carried forward per class and family (film / saliency; default 5)")
    p.add_argument("--min-errors", type=int, default=5, help="fewest errors per half to search a class (default 5)")
    p.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate of the confirmation (Holm)")
    p.add_argument("--methods", default="gradcam", help="saliency methods used as features (default gradcam)")
    p.add_argument("--seed", type=int, default=0, help="seed of the discovery/confirmation split")
    p.add_argument("--no-counterfactual", dest="counterfactual", action="store_false",
                   help="skip the intervention check of confirmed slices")
    p.add_argument("--cf-max-images", type=int, default=60, help="correct films per slice in that check")
    p.add_argument("--device", default="auto")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--report", action="store_true", help="rewrite the investigation report now")
    a = p.parse_args(argv)
    if a.split not in ("valid", "test"):
        raise ConfigError(f"--split must be valid or test, got {a.split!r}")
    from training.predict import resolve_run

    out_dir = resolve_run(a.run) / "explain" / a.split
    methods = tuple(m.strip() for m in a.methods.split(",") if m.strip())
    search = SliceConfig(max_conditions=a.max_conditions, min_support=a.min_support, top_k=a.top_k,
                         min_errors=a.min_errors, alpha=a.alpha, seed=a.seed, methods=methods)
    return out_dir, SlicesStepConfig(search=search, counterfactual=a.counterfactual, cf_max_images=a.cf_max_images,
                                     data=a.data, device=a.device, cache_dir=a.cache_dir, workers=a.workers,
                                     n_boot=a.n_boot), a.report


def main(argv: list[str] | None = None) -> int:
    try:
        out_dir, cfg, report = parse_args(argv)
        record = run_slices(out_dir, cfg)
        from figures.slices import plot_slices  # the composition root draws

        plot_slices(pd.read_csv(out_dir / "slices.csv"), out_dir / "figures" / "slices.png")
        print(record["headline"])
        print(f"slices: {out_dir / 'slices.csv'} ({record['seconds']['total']:.1f} s)")
        if report:
            from figures.investigation import write_investigation
            from xai.investigate import investigate

            paths = write_investigation(investigate(out_dir, seed=cfg.search.seed, n_boot=cfg.n_boot))
            print(f"report: {paths['html']}")
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
