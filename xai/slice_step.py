"""The error-slice step of an explain folder (the library of ``python -m xai.slices``): SliceLine on a discovery half, confirmation on the other half, counterfactual checks of the confirmed slices; writes ``slices.csv``, ``slices.json``, ``slices_config.json``."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import ConfigError
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
    from training.device import resolve_device
    from training.predict import load_run

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
