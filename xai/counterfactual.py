"""Beyond correlation: do blur, contrast or cues outside the lungs move the classifier's output?

``python -m xai.counterfactual [--run runs/latest] [--data ROOT] [--split test] [--per-class 100]
[--regions whole,lungs,outside] [--seed 0] [--device auto]``

Observational statistics (``xai.explain``) can only say that errors go together
with blurry or low-contrast films. Here the film is changed on purpose and the
model asked again. On correctly classified images of each class (up to
``--per-class``, sampled with ``--seed``, with a plausible lung mask), every
intervention of :data:`xai.interventions.INTERVENTIONS` is applied at each
strength to the whole film, inside the lung fields only, and outside them only;
the texture-vs-shape pair (patch shuffling vs low-pass inside the lungs) is
added. P(pneumonia) is recorded before and after, with quality metrics of the
perturbed film (``q_laplacian_var``, ``q_rms_contrast``, ``q_mean``, measured at
the model size like ``quality.csv`` of the explain step), so the dose-response
curves can be read against the observational ones.

Per intervention x strength x region x true class: n, mean change in
P(pneumonia) with a seeded bootstrap 95 % CI, mean |change|, and the flip rate
(NORMAL -> PNEUMONIA for true NORMAL, PNEUMONIA -> NORMAL for true PNEUMONIA)
with a Wilson 95 % interval. A paired comparison of the same images perturbed
inside vs outside the lungs gives the verdict.

Writes ``<run>/explain/<split>/counterfactual/``: ``per_image.csv`` (one row per
image x intervention x strength x region), ``summary.csv``, ``comparison.csv``
(inside vs outside), ``texture_shape.csv``, ``counterfactual.json`` (everything
the report needs), ``config.json`` and the figures drawn by
:mod:`figures.counterfactual_plots`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from data.defaults import defaults_of
from data.errors import ToolkitError
from xai.sweeps import CounterfactualConfig, run_counterfactuals


# ----------------------------------------------------------------------------- the command

def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def parse_args(argv: list[str] | None = None) -> CounterfactualConfig:
    """Command line -> validated :class:`CounterfactualConfig`."""
    d = defaults_of(CounterfactualConfig)  # every default is written once, in CounterfactualConfig
    p = argparse.ArgumentParser(prog="python -m xai.counterfactual", description=__doc__.splitlines()[0])
    p.add_argument("--run", default=d("run"), help="run folder (default %(default)s)")
    p.add_argument("--data", default=d("data"), help="dataset root (default: the run's data)")
    p.add_argument("--split", default=d("split"),
                   help="valid | test | an evaluation set name (default %(default)s)")
    p.add_argument("--per-class", type=int, default=d("per_class"),
                   help="correct images per true class (default %(default)s)")
    p.add_argument("--regions", default=",".join(d("regions")), help="comma-separated (default %(default)s)")
    p.add_argument("--interventions", default=",".join(d("interventions")),
                   help="comma-separated subset (default %(default)s)")
    p.add_argument("--no-texture-shape", dest="texture_shape", action="store_false", default=d("texture_shape"),
                   help="skip the patch-shuffle vs low-pass test inside the lungs")
    p.add_argument("--seed", type=int, default=d("seed"), help="default %(default)s")
    p.add_argument("--device", default=d("device"), help="auto | cpu | cuda (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=d("batch_size"), help="default %(default)s")
    p.add_argument("--n-boot", type=int, default=d("n_boot"), help="bootstrap resamples (default %(default)s)")
    p.add_argument("--min-effect", type=float, default=d("min_effect"),
                   help="mean |change in P(pneumonia)| counted as material (default %(default)s)")
    p.add_argument("--allow-implausible-masks", dest="require_plausible_mask", action="store_false",
                   default=d("require_plausible_mask"),
                   help="also use images whose lung mask is flagged implausible")
    p.add_argument("--cache-dir", default=d("cache_dir"))
    p.add_argument("--workers", type=int, default=d("workers"))
    p.add_argument("--out", default=d("out"), help="output folder (default <run>/explain/<split>/counterfactual)")
    p.add_argument("--no-plots", dest="plots", action="store_false", default=d("plots"))
    p.add_argument("--headline", default=":".join(map(str, d("headline"))),
                   help="the one pre-declared comparison INTERVENTION:STRENGTH:CLASS (default %(default)s)")
    a = p.parse_args(argv)
    parts = a.headline.split(":")
    try:
        headline = (parts[0], float(parts[1]), parts[2]) if len(parts) == 3 else tuple(parts)
    except ValueError:
        headline = tuple(parts)
    return CounterfactualConfig(run=a.run, data=a.data, split=a.split, per_class=a.per_class,
                                regions=_csv(a.regions), interventions=_csv(a.interventions),
                                texture_shape=a.texture_shape, seed=a.seed, device=a.device,
                                batch_size=a.batch_size, n_boot=a.n_boot, min_effect=a.min_effect,
                                require_plausible_mask=a.require_plausible_mask, cache_dir=a.cache_dir,
                                workers=a.workers, out=a.out, plots=a.plots, headline=headline)


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse_args(argv)
        result = run_counterfactuals(cfg)
        if cfg.plots and result["summary"]:
            # The CLI composes: figures (the last layer) draws the curves; the library never imports it.
            from figures.counterfactual_plots import draw_counterfactual_figures

            out = Path(result["out_dir"])
            result["figures"] = draw_counterfactual_figures(out, pd.DataFrame(result["summary"]),
                                                            result["texture_shape"]["rows"])
            (out / "counterfactual.json").write_text(json.dumps(result, indent=2, allow_nan=False))
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for w in result["warnings"]:
        print(f"WARNING: {w}", file=sys.stderr)
    n = result["n_images"]
    print(f"{n['NORMAL']} NORMAL + {n['PNEUMONIA']} PNEUMONIA correct images x {result['n_variants_per_image']} "
          f"perturbations in {result['seconds']['total']:.0f} s")
    print(result["verdict"]["headline"])
    for row in result["texture_shape"]["rows"]:
        print(row["statement"])
    print(f"tables and figures in {result['out_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
