"""Explain a run's errors: Grad-CAM, Integrated Gradients, lung fields, quality, then the report.

``python -m xai.explain --split valid --only-errors`` (the toolkit's main command).

Writes into ``<run>/explain/<split>/``: ``config.json`` (resolved), ``maps/<id>.npz``
(image, Grad-CAM, IG, lung mask of every explained image), ``saliency.csv`` (one row
per image x method x explained class), ``quality.csv`` (metrics on the whole film, inside
and outside the lung fields), ``table.csv`` (predictions + quality + saliency,
one row per image). The CLI then writes panels, the gallery and the statistical
report through ``figures.investigation``. Images already explained are skipped
unless ``--force``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from data.defaults import defaults_of
from data.errors import ConfigError, ToolkitError
from training.predict import resolve_run
from xai.checks import ChecksConfig, run_checks
from xai.pipeline import ExplainConfig, explain


def ensure_run(cfg: ExplainConfig) -> Path:
    """The run folder; trains a default run on the bundled sample when none exists and that is allowed."""
    try:
        return resolve_run(cfg.run)
    except ToolkitError:
        if not (cfg.train_if_missing and Path(cfg.run) == Path("runs/latest")):
            raise
    from training.config import demo_config
    from training.trainer import summary, train

    train_cfg = demo_config(device=cfg.device, cache_dir=cfg.cache_dir, workers=cfg.workers)
    print(f"No run found at {cfg.run}: training the demo model on the bundled sample ({train_cfg.data}; "
          f"{train_cfg.arch} from offline ImageNet weights, {train_cfg.size} px, 1 frozen + {train_cfg.epochs} "
          "epochs; python -m training.train trains the study's ResNet18). About 1 minute on 2 idle CPU cores.",
          file=sys.stderr)
    run_dir = train(train_cfg)
    print(summary(run_dir), file=sys.stderr)
    return run_dir


# ----------------------------------------------------------------------------- resume (issue 14)

def _tolerance_or_off(text: str) -> float | None:
    """``--ig-pixel-tol``: a relative tolerance, or ``off`` / ``none`` for None."""
    if text.strip().lower() in ("off", "none"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'off', got {text!r}") from None


def parse_args(argv: list[str] | None = None) -> tuple[ChecksConfig, ExplainConfig]:
    """Command line -> validated (:class:`ChecksConfig`, :class:`ExplainConfig`)."""
    d = defaults_of(ExplainConfig)  # every default is written once, in the config dataclasses
    dc = defaults_of(ChecksConfig)
    p = argparse.ArgumentParser(prog="python -m xai.explain", description=__doc__.splitlines()[0])
    p.add_argument("--run", default=d("run"), help="run folder (default %(default)s; trained if missing)")
    p.add_argument("--data", default=d("data"), help="dataset root (default: the run's data)")
    p.add_argument("--split", default=d("split"),
                   help="valid | test | an evaluation set name (training.evaluate; default %(default)s)")
    p.add_argument("--gradcam-layer", default=d("gradcam_layer"),
                   help="submodule Grad-CAM reads, e.g. layer4 (default: found automatically)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--only-errors", dest="only_errors", action="store_true", default=d("only_errors"),
                       help="explain misclassified images (default)")
    which.add_argument("--all", dest="only_errors", action="store_false", help="explain every image of the split")
    p.add_argument("--methods", default=",".join(d("methods")), help="comma-separated (default %(default)s)")
    p.add_argument("--ig-steps", type=int, default=d("ig_steps"),
                   help="IG segments of the first uniform round (refined per image where the path needs it; "
                        "default %(default)s)")
    p.add_argument("--ig-max-steps", type=int, default=d("ig_max_steps"),
                   help="cap on IG segments per image; images above --ig-tol there are flagged (default %(default)s)")
    p.add_argument("--ig-baseline", default=d("ig_baseline"), help="IG baseline: black | blur (default %(default)s)")
    p.add_argument("--ig-split", default=d("ig_split"),
                   help="where a refined IG segment is split: midpoint | kink (estimated jump of the slope) "
                        "(default %(default)s)")
    p.add_argument("--ig-tol", type=float, default=d("ig_tol"),
                   help="IG completeness-error tolerance, relative (default %(default)s)")
    p.add_argument("--ig-pixel-tol", type=_tolerance_or_off, default=d("ig_pixel_tol"),
                   help="IG per-pixel tolerance: a map counts as converged only if dropping every other node "
                        "changes it by at most this (relative L2), and is refined towards it; 'off' checks the "
                        "sum only (default %(default)s)")
    p.add_argument("--target", default=d("target"), help="predicted | true | both (default %(default)s)")
    p.add_argument("--device", default=d("device"), help="auto | cpu | cuda (default %(default)s)")
    p.add_argument("--limit", type=int, default=d("limit"), help="explain at most N errors (most confident first)")
    p.add_argument("--no-reference", dest="reference", action="store_false", default=d("reference"),
                   help="skip Grad-CAM summaries of correct images (the comparison groups)")
    p.add_argument("--force", action="store_true", default=d("force"), help="recompute images already explained")
    p.add_argument("--no-report", dest="report", action="store_false", default=d("report"),
                   help="skip panels, gallery and report")
    p.add_argument("--cache-dir", default=d("cache_dir"))
    p.add_argument("--workers", type=int, default=d("workers"))
    p.add_argument("--n-boot", type=int, default=d("n_boot"), help="bootstrap resamples (default %(default)s)")
    p.add_argument("--seed", type=int, default=d("seed"), help="default %(default)s")
    p.add_argument("--context-pool", default=d("context_pool"),
                   help="split of the run whose correct images place each error in context "
                        "(default %(default)s; none: skip)")
    beyond = p.add_argument_group("beyond correlation (see xai.checks)")
    beyond.add_argument("--counterfactuals", action="store_true", default=dc("counterfactuals"),
                        help="blur/contrast/gamma/noise sweeps on correct images, inside vs outside the lungs")
    beyond.add_argument("--cf-per-class", type=int, default=dc("cf_per_class"),
                        help="correct images per class in the sweeps (default %(default)s)")
    beyond.add_argument("--sanity-images", type=int, default=dc("sanity_images"),
                        help="images in the cascading-randomisation sanity check of the maps (0: skip; "
                             "default %(default)s)")
    beyond.add_argument("--faithfulness", action="store_true", default=dc("faithfulness"),
                        help="faithfulness of the maps (ROAD by default; see --faithfulness-measure)")
    beyond.add_argument("--faithfulness-measure", choices=("road", "deletion"), default=dc("faithfulness_measure"),
                        help="road: remove-and-debias with noisy linear imputation, MoRF/LeRF, blocky random "
                             "control; deletion: black-fill deletion / blurred insertion (default %(default)s)")
    beyond.add_argument("--faithfulness-images", type=int, default=dc("faithfulness_limit") or 0,
                        help="at most N explained images in the faithfulness check (0: all; default %(default)s)")
    beyond.add_argument("--slices", default=dc("slices"), choices=("auto", "on", "off"),
                        help="error slices confirmed on held-out images (xai.slices); auto: on for splits of "
                             ">= 200 images (default %(default)s)")
    beyond.add_argument("--no-shift", dest="shift", action="store_false", default=d("shift"),
                        help="evaluation sets: skip the domain-shift analysis against the training images")
    beyond.add_argument("--shift-reference", default=d("shift_reference"),
                        help="training-distribution images for the shift analysis (default: the run's train split)")
    a = p.parse_args(argv)
    methods = tuple(m.strip() for m in a.methods.split(",") if m.strip())
    if a.faithfulness_images < 0:
        raise ConfigError(f"--faithfulness-images must be >= 0, got {a.faithfulness_images}")
    if a.cf_per_class < 1 or a.sanity_images < 0:
        raise ConfigError(f"--cf-per-class must be >= 1 and --sanity-images >= 0, got {a.cf_per_class} and "
                          f"{a.sanity_images}")
    checks = ChecksConfig(counterfactuals=a.counterfactuals, cf_per_class=a.cf_per_class,
                          sanity_images=a.sanity_images, faithfulness=a.faithfulness,
                          faithfulness_measure=a.faithfulness_measure,
                          faithfulness_limit=a.faithfulness_images or None, data=a.data, split=a.split,
                          device=a.device, seed=a.seed, n_boot=a.n_boot, cache_dir=a.cache_dir, workers=a.workers,
                          slices=a.slices)
    return checks, ExplainConfig(run=a.run, data=a.data, split=a.split, only_errors=a.only_errors, methods=methods,
                         ig_steps=a.ig_steps, ig_max_steps=a.ig_max_steps, ig_tol=a.ig_tol,
                         ig_pixel_tol=a.ig_pixel_tol, ig_baseline=a.ig_baseline, ig_split=a.ig_split, target=a.target,
                         device=a.device, limit=a.limit, reference=a.reference, force=a.force, report=a.report,
                         cache_dir=a.cache_dir, workers=a.workers, n_boot=a.n_boot, seed=a.seed,
                         context_pool=a.context_pool,
                         gradcam_layer=a.gradcam_layer, shift=a.shift, shift_reference=a.shift_reference)


def _shift_step(cfg: ExplainConfig, run_dir: Path) -> None:
    """Run the domain-shift analysis of an evaluation set once (its section joins the report)."""
    from xai.domain_shift import ShiftConfig, run_shift

    if (run_dir / "eval" / cfg.split / "shift" / "shift.json").is_file() and not cfg.force:
        return
    try:
        result = run_shift(ShiftConfig(run=str(run_dir), split=cfg.split, reference=cfg.shift_reference,
                                       device=cfg.device, cache_dir=cfg.cache_dir, workers=cfg.workers,
                                       n_boot=cfg.n_boot, seed=cfg.seed))
        print(f"shift: {result.verdict}")
    except ConfigError as exc:  # e.g. an imported model with no known training images
        print(f"note: no domain-shift section: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    try:
        checks, cfg = parse_args(argv)
        ensure_run(cfg)  # the command, not the library, trains the demo model when no run exists
        result = explain(cfg)
        for w in result.warnings:
            print(f"WARNING: {w}", file=sys.stderr)
        print(f"explained {result.n_explained_now} images now; {result.n_errors} errors in split '{cfg.split}' "
              f"of {result.run_dir.name}; tables in {result.out_dir}")
        if checks.any:
            for name, headline in run_checks(result.out_dir, result.run_dir, checks).items():
                print(f"{name}: {headline}")
        if cfg.shift and cfg.split not in ("valid", "test"):
            _shift_step(cfg, result.run_dir)
        if cfg.report:
            # The CLI is the composition root: figures (the last layer) draws panels and the report.
            from figures.confusion import draw_figure1
            from figures.investigation import write_investigation

            if not any(result.run_dir.glob("confusion_*.png")):
                draw_figure1(result.run_dir)  # a run trained just now by ensure_run
            from xai.investigate import investigate

            paths = write_investigation(investigate(result.out_dir, n_boot=cfg.n_boot, seed=cfg.seed))
            print(f"report: {paths['html']}")
            print(f"gallery: {paths['gallery']}")
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
