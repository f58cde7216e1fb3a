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
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import ConfigError, ToolkitError
from stats.slice_features import slice_features
from stats.slices import SliceConfig, SliceResult, find_slices, slice_mask

#: The step of the main command runs by default only on splits with at least this many images:
#: on smaller splits (the 16-image ``val`` folder) halves of a class hold a handful of errors.
AUTO_MIN_IMAGES = 200


@dataclass(frozen=True)
class SlicesStepConfig:
    """Resolved configuration of the slice step.

    Attributes:
        search: the :class:`stats.slices.SliceConfig`.
        counterfactual: run the intervention check on confirmed slices (needs the run's model and the images).
        cf_max_images: at most this many correct films per slice in that check.
        data: dataset root (None: the explain step's).
        device, cache_dir, workers, n_boot: as in the explain step.
    """

    search: SliceConfig = SliceConfig()
    counterfactual: bool = True
    cf_max_images: int = 60
    data: str | None = None
    device: str = "auto"
    cache_dir: str | None = None
    workers: int | None = None
    n_boot: int = 2000

    def __post_init__(self):
        if self.cf_max_images < 1:
            raise ConfigError(f"--cf-max-images must be >= 1, got {self.cf_max_images}")


def _counterfactuals(out_dir: Path, table: pd.DataFrame, result: SliceResult, cfg: SlicesStepConfig) -> list[dict]:
    """The intervention check of every confirmed slice (loads the model and images only when needed)."""
    from xai.slice_counterfactual import correct_members, natural_difference, slice_counterfactual, slice_property

    todo = [c for c in result.confirmed if slice_property(c.conditions)]
    checks = [{"true_class": c.true_class, "rank": c.rank, "tested": False,
               "reason": "no condition on a property an intervention moves (blur/detail, contrast, exposure)"}
              for c in result.confirmed if not slice_property(c.conditions)]
    if not todo:
        return checks
    from data.cache import load_resized
    from training.predict import load_run
    from training.device import resolve_device

    config = json.loads((out_dir / "config.json").read_text())
    run = load_run(config["resolved_run"])
    root = Path(cfg.data or config["resolved_data"])
    device = resolve_device(cfg.device)
    for cand in todo:
        part = table[table["label"] == cand.true_class].reset_index(drop=True)
        features = slice_features(part, cand.true_class, quality=result.config.quality, methods=result.config.methods)
        members = slice_mask(features.frame, cand.conditions)
        prop = slice_property(cand.conditions)
        diff = natural_difference(pd.to_numeric(part[prop], errors="coerce").to_numpy(float), members)
        rows = correct_members(part, members, cfg.cf_max_images, result.config.seed)
        if rows.empty:
            checks.append({"true_class": cand.true_class, "rank": cand.rank, "property": prop, "tested": False,
                           "reason": "the slice has no correctly classified film"})
            continue
        missing = [p for p in rows["path"] if not (root / p).is_file()]
        if missing:
            raise ConfigError(f"{len(missing)} images of the slice are missing under {root}, e.g. {missing[0]} "
                              "(pass --data ROOT, or --no-counterfactual)")
        pixels = load_resized([root / p for p in rows["path"]], run.size, cache_dir=cfg.cache_dir,
                              workers=cfg.workers, desc="slice films")
        check = slice_counterfactual(run.model.to(device).eval(), pixels.astype(np.float32) / 255.0,
                                     true_class=cand.true_class, rank=cand.rank, prop=prop, difference=diff,
                                     mean=run.mean, std=run.std, device=device, n_boot=cfg.n_boot,
                                     seed=result.config.seed)
        checks.append(check.to_dict())
    return checks


def check_complete(out_dir: Path) -> None:
    """Refuse an explain folder whose table lacks images of the split (error rates would be wrong).

    ``--limit`` leaves the errors beyond the limit out of ``table.csv``, and
    ``--no-reference`` leaves out the correct images.
    """
    path = out_dir / "config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    if config.get("limit") is not None:
        raise ConfigError(f"the explain step of {out_dir} ran with --limit {config['limit']}: errors beyond it are "
                          "not in table.csv, so slice error rates would be wrong; rerun it without --limit "
                          "(--methods gradcam keeps it cheap)")
    if config.get("only_errors", True) and not config.get("reference", True):
        raise ConfigError(f"the explain step of {out_dir} ran with --no-reference: correct images are not in "
                          "table.csv; rerun it without --no-reference")


def run_slices(out_dir: str | Path, cfg: SlicesStepConfig = SlicesStepConfig()) -> dict:
    """Search, confirm and check error slices of one explain folder; write the tables.

    Args:
        out_dir: ``<run>/explain/<split>`` written by ``xai.explain``.
        cfg: :class:`SlicesStepConfig`.

    Returns:
        The content of ``slices.json`` (``headline``, ``classes``, ``candidates``,
        ``counterfactual``, ``seconds``, ``files``).

    Raises:
        ToolkitError: no ``table.csv`` there, or a table the search cannot read.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    table_path = out_dir / "table.csv"
    if not table_path.is_file():
        raise ConfigError(f"no {table_path}; run `python -m xai.explain --run <run> --split <split>` first "
                          "(the slice search reads its per-image table)")
    table = pd.read_csv(table_path)
    check_complete(out_dir)
    result = find_slices(table, cfg.search)
    t_search = time.perf_counter() - t0
    checks = _counterfactuals(out_dir, table, result, cfg) if cfg.counterfactual else []
    result.frame().to_csv(out_dir / "slices.csv", index=False)
    result.halves.to_csv(out_dir / "slices_halves.csv", index=False)
    record = {**result.to_dict(), "counterfactual": checks,
              "seconds": {"search": t_search, "total": time.perf_counter() - t0},
              "files": {"csv": "slices.csv", "halves": "slices_halves.csv"}}
    (out_dir / "slices_config.json").write_text(json.dumps(
        {**asdict(cfg), "explain_dir": str(out_dir)}, indent=2, default=list))
    (out_dir / "slices.json").write_text(json.dumps(record, indent=2, allow_nan=False))
    return record


def split_size(out_dir: str | Path) -> int:
    """Images in the explain folder's table (0 when there is none)."""
    path = Path(out_dir) / "table.csv"
    return int(len(pd.read_csv(path, usecols=["image_id"]))) if path.is_file() else 0


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
