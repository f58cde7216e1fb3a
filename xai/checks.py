"""Beyond correlation, as a step of the main command: counterfactual sweeps, saliency sanity, faithfulness.

Each check writes its tables next to the explain outputs, where the report step
(``figures.investigation``) finds and renders them:

- ``counterfactual/`` (:mod:`xai.counterfactual`): interventions on correct images;
- ``sanity.csv`` and ``sanity_maps.npz`` (:mod:`xai.sanity`): cascading randomisation;
- ``faithfulness.csv`` and ``faithfulness_curves.npz`` (:mod:`xai.faithfulness`);
- ``slices.csv`` and ``slices.json`` (:mod:`xai.slice_step`): error slices confirmed on held-out images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.layout import explain_layout
from data.errors import ConfigError
from training.predict import load_run


@dataclass(frozen=True)
class ChecksConfig:
    """Which checks to run and how big.

    Attributes:
        counterfactuals: run the intervention sweeps.
        cf_per_class: correct images per class in the sweeps (>= 1).
        sanity_images: images in the randomisation test (0 = skip).
        faithfulness: run the faithfulness measure on the explained images.
        faithfulness_measure: ``road`` (default; Rong et al. 2022) or ``deletion`` (black-fill
            deletion / blurred-canvas insertion).
        faithfulness_limit: at most this many explained images (ROAD costs one sparse
            solve per image, map and removed share; None = all).
        slices: error-slice search (:mod:`xai.slice_step`): ``on``, ``off``, or ``auto`` = only on
            splits of at least ``xai.slice_step.AUTO_MIN_IMAGES`` images.
        data, split, device, seed, n_boot, cache_dir, workers: as in the explain step.
    """

    counterfactuals: bool = False
    cf_per_class: int = 100
    sanity_images: int = 0
    faithfulness: bool = False
    faithfulness_measure: str = "road"
    faithfulness_limit: int | None = 40
    data: str | None = None
    split: str = "valid"
    device: str = "auto"
    seed: int = 0
    n_boot: int = 2000
    cache_dir: str | None = None
    workers: int | None = None
    slices: str = "auto"

    def __post_init__(self):
        if self.slices not in ("auto", "on", "off"):
            raise ConfigError(f"--slices must be auto, on or off, got {self.slices!r}")

    @property
    def any(self) -> bool:
        return self.counterfactuals or self.sanity_images > 0 or self.faithfulness or self.slices != "off"


def run_checks(out_dir: str | Path, run_dir: str | Path, cfg: ChecksConfig) -> dict:
    """Run the requested checks for one explain folder; returns the headline of each.

    Args:
        out_dir: ``<run>/explain/<split>`` written by ``xai.explain``.
        run_dir: the run folder.
        cfg: which checks.

    Returns:
        ``{"counterfactual": headline, "sanity": {method: verdict}, "faithfulness": n_images}``
        for the checks that ran.
    """
    out_dir = Path(out_dir)
    done: dict = {}
    if cfg.counterfactuals:
        from xai.sweeps import CounterfactualConfig, run_counterfactuals

        result = run_counterfactuals(CounterfactualConfig(
            run=str(run_dir), data=cfg.data, split=cfg.split, per_class=cfg.cf_per_class, seed=cfg.seed,
            device=cfg.device, n_boot=cfg.n_boot, cache_dir=cfg.cache_dir, workers=cfg.workers,
            out=str(explain_layout(out_dir).counterfactual.root)))
        done["counterfactual"] = result["verdict"]["headline"]
    if cfg.sanity_images or cfg.faithfulness:
        run = load_run(run_dir)
        config_path = explain_layout(out_dir).config
        explained = json.loads(config_path.read_text()).get("methods") if config_path.is_file() else None
        methods = tuple(m for m in (explained or ("gradcam", "ig")) if m in ("gradcam", "ig"))
    if cfg.sanity_images:
        from xai.sanity import sanity_from_explain, sanity_verdict

        frame, maps, saved = sanity_from_explain(out_dir, run.model, run.mean, run.std,
                                                 n_images=cfg.sanity_images, seed=cfg.seed, methods=methods)
        frame.to_csv(explain_layout(out_dir).sanity, index=False)
        explain_layout(out_dir).sanity_excluded.write_text(json.dumps(saved["excluded"]))
        np.savez_compressed(explain_layout(out_dir).sanity_maps, image=saved["images"][0],
                            **{m: np.stack([step[0] for step in maps[m]]) for m in maps})
        verdict = sanity_verdict(frame)
        done["sanity"] = {m: status.upper() for m, status in zip(verdict["method"], verdict["status"])}
    if cfg.faithfulness:
        from xai.faithfulness import faithfulness_from_explain, mean_curves

        table, curves = faithfulness_from_explain(out_dir, run.model, run.mean, run.std, seed=cfg.seed,
                                                  return_curves=True, measure=cfg.faithfulness_measure,
                                                  methods=methods,
                                                  limit=cfg.faithfulness_limit)
        table.to_csv(explain_layout(out_dir).faithfulness, index=False)
        explain_layout(out_dir).faithfulness_excluded.write_text(json.dumps(table.attrs.get("excluded", {})))
        np.savez_compressed(explain_layout(out_dir).faithfulness_curves,
                            **{f"{m}__{k}": v for m, c in mean_curves(curves).items() for k, v in c.items()})
        done["faithfulness"] = int(table["image_id"].nunique())
    if cfg.slices == "on" or (cfg.slices == "auto" and _slices_by_default(out_dir)):
        from xai.slice_step import SlicesStepConfig, run_slices
        from stats.slices import SliceConfig

        record = run_slices(out_dir, SlicesStepConfig(search=SliceConfig(seed=cfg.seed), data=cfg.data,
                                                      device=cfg.device, cache_dir=cfg.cache_dir,
                                                      workers=cfg.workers, n_boot=cfg.n_boot))
        done["slices"] = record["headline"]
    return done


def _slices_by_default(out_dir: Path) -> bool:
    """The slice step runs by default on a split of at least ``AUTO_MIN_IMAGES`` fully tabulated images."""
    from xai.slice_step import AUTO_MIN_IMAGES, split_size

    config_path = explain_layout(out_dir).config
    if config_path.is_file():
        config = json.loads(config_path.read_text())
        if config.get("limit") is not None or not config.get("reference", True):
            return False  # the table lacks images of the split (see xai.slice_step.check_complete)
    return split_size(out_dir) >= AUTO_MIN_IMAGES
