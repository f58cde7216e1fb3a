"""The statistics of one explain folder, computed once: what the report then shows.

Reads the tables written by the explain step (``table.csv``, ``config.json``,
``explain.json``, the checks' ``sanity.csv`` / ``faithfulness.csv`` /
``counterfactual/counterfactual.json``) and the run's ``run.json``; computes the
split's classification metrics, the within-class analysis
(:func:`stats.analysis.analyse`), the sanity verdicts and faithfulness
summaries, and the localisation accounting. Returns one :class:`Investigation`;
draws nothing and writes nothing (``figures.investigation`` does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data.labels import PNEUMONIA
from data.layout import ExplainLayout, explain_layout, run_layout
from quality.metrics import QUALITY_COLUMNS
from stats.analysis import Analysis, analyse
from stats.chance import ChanceCheck
from stats.classification import binary_metrics
from stats.context import PerErrorContext
from stats.pointing import pointing_game
from stats.primary import LOCALISATION_TOP_PERCENTS, PRIMARY_METRICS
from xai.counterfactual_result import CounterfactualResult
from xai.exclusions import saliency_accounting

METHODS = ("gradcam", "ig")
#: Geometry adjusted for in the regressions: whether a film is a squeezed 224x224 copy, and its
#: aspect ratio (width and height themselves take a handful of values and separate the outcome).
GEOMETRY = ("is_224_copy", "aspect_ratio")
#: Predictors of the multivariable regressions (besides geometry), when present.
REGRESSION_METRICS = ("q_laplacian_var", "q_highfreq_share", "q_rms_contrast", PRIMARY_METRICS["saliency_outside_lungs"])
#: Localisation summaries tested (per method prefix): the area-normalised rank ratios and the pointing game.
#: ``*_lung_share`` (positive mass after a per-image ReLU) is descriptive only and never tested.
LOCALISATION_SUFFIXES = (*(f"lung_rank_ratio_k{k}" for k in LOCALISATION_TOP_PERCENTS), "peak_in_lung")
#: Metrics drawn in the figures (all are tested in the statistics).
KEY_METRICS = ("q_laplacian_var", "q_highfreq_share", "q_blur_effect", "q_rms_contrast", "q_dynamic_range",
               "q_mean", "q_laplacian_var_lung", "q_rms_contrast_lung")


@dataclass(frozen=True)
class SanityResult:
    """The randomisation sanity check of the maps, judged.

    Attributes:
        frame: ``sanity.csv`` (one row per method x image x step).
        verdict: :func:`xai.sanity.sanity_verdict` of it (one row per method).
        steps: layer names of the cascade in order (for the map strip), or ().
        maps: ``{method: [map per step]}`` saved for one image, or None.
        image: that image (uint8), or None.
        excluded: maps left out of the check and why (``sanity_excluded.json``), or None.
    """

    frame: pd.DataFrame
    verdict: pd.DataFrame
    steps: tuple[str, ...] = ()
    maps: dict | None = None
    image: np.ndarray | None = None
    excluded: dict | None = None


@dataclass(frozen=True)
class FaithfulnessResult:
    """ROAD / deletion-insertion faithfulness, summarised per outcome group x method.

    Attributes:
        summary: :func:`xai.faithfulness.faithfulness_summary` (means with bootstrap CIs).
        curves: ``{method: {curve name: array}}`` for the figure, or None.
        excluded: maps left out and why, or None.
    """

    summary: pd.DataFrame
    curves: dict | None = None
    excluded: dict | None = None


@dataclass(frozen=True)
class Investigation:
    """Everything the report of one explain folder states, computed.

    Attributes:
        layout: the explain folder.
        config: the explain step's resolved configuration (``config.json``).
        run_info: the run's ``run.json``.
        explain_info: timings and warnings of the explain step (``explain.json``; {} if absent).
        split: the analysed split.
        table: the per-image table as written.
        stats_table: the table the statistics read (lung-relative saliency blanked
            where the lung mask is implausible; see :func:`analysis_table`).
        split_metrics: :func:`stats.classification.binary_metrics` of the split.
        analysis: :func:`stats.analysis.analyse` output (:class:`stats.analysis.Analysis`).
        shown_metrics: the quality metrics drawn in the figures.
        methods: saliency methods with localisation columns.
        accounting: :func:`xai.exclusions.saliency_accounting` (n used / excluded and why).
        counterfactual: ``counterfactual.json`` of the sweeps (:class:`xai.counterfactual_result.CounterfactualResult`),
            or None.
        natural_doses: :func:`stats.natural_dose.natural_doses` of the sweeps (the doses in natural
            units), or None when the sweeps did not run.
        sanity: the sanity check, or None.
        faithfulness: the faithfulness summary, or None.
        model_check: :func:`stats.chance.chance_check` of the run's splits and this one, or None.
        context: each error placed among the correct images of its true class in the explain
            step's reference pool (:class:`stats.context.PerErrorContext`).
        panel_warnings: lines every panel must carry (a model no better than chance; maps that
            failed the sanity check).
        pointing: per method, the pointing game per outcome on ``stats_table``
            (:func:`stats.pointing.pointing_game`: ``{method: {outcome: proportion dict}}``).
    """

    layout: ExplainLayout
    config: dict
    run_info: dict
    explain_info: dict
    split: str
    table: pd.DataFrame
    stats_table: pd.DataFrame
    split_metrics: dict
    analysis: Analysis
    shown_metrics: tuple[str, ...]
    methods: tuple[str, ...]
    accounting: pd.DataFrame
    counterfactual: CounterfactualResult | None
    natural_doses: list | None
    sanity: SanityResult | None
    faithfulness: FaithfulnessResult | None
    model_check: ChanceCheck | None
    context: PerErrorContext | None
    panel_warnings: tuple[str, ...]
    pointing: dict

    @property
    def arch(self) -> str:
        return str(self.run_info.get("config", {}).get("arch", "?"))


def analysis_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table the statistics read: lung-saliency columns blanked where the lung mask is implausible.

    A saliency share "inside the lungs" means nothing when the lungs were not found,
    and masks fail more often on pneumonia films (consolidation), so those rows are
    left out of the localisation tests rather than counted as "outside". The same
    holds for quality measured inside (``q_*_lung``) or outside (``q_*_outside``) the
    mask: those columns are blanked too; whole-film quality is kept.
    """
    out = table.copy()
    if "lung_mask_plausible" in out:
        bad = ~out["lung_mask_plausible"].astype(bool)
        region_quality = [c for c in out.columns if c.startswith("q_") and c.endswith(("_lung", "_outside"))]
        saliency = [c for m in METHODS for c in (f"{m}_lung_share", *(f"{m}_{suffix}" for suffix in LOCALISATION_SUFFIXES))
                    if c in out]
        for col in region_quality + saliency:
            out.loc[bad, col] = np.nan
    return out


def with_source_geometry(table: pd.DataFrame, data_root: str | Path | None) -> tuple[pd.DataFrame, list[str]]:
    """Add ``source_aspect`` / ``source_squeeze`` from the data root's MANIFEST.csv when it has one.

    Returns:
        (table, geometry covariates to adjust for): the MANIFEST ones only when every
        image of the table is in the manifest; otherwise the table unchanged.
    """
    from data.join import join_on_image_id
    from data.manifest import source_geometry

    side = source_geometry(data_root) if data_root else None
    if side is None or not set(table["image_id"]) <= set(side["image_id"]):
        return table, []
    joined = join_on_image_id(table, side, left_name="table.csv", right_name="MANIFEST.csv", allow_missing="left")
    return joined, ["source_aspect", "source_squeeze"]


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def load_sanity(layout: ExplainLayout) -> SanityResult | None:
    """The sanity check of an explain folder, judged; None when it did not run."""
    if not layout.sanity.is_file():
        return None
    from xai.sanity import sanity_verdict

    frame = pd.read_csv(layout.sanity)
    steps, maps, image = (), None, None
    if layout.sanity_maps.is_file():
        steps = tuple(dict.fromkeys(frame[frame["step"] > 0].sort_values("step")["layer"]))
        with np.load(layout.sanity_maps) as saved:
            maps = {m: list(saved[m]) for m in saved.files if m != "image"}
            image = saved["image"]
    return SanityResult(frame, sanity_verdict(frame), steps, maps, image, _json(layout.sanity_excluded))


def load_faithfulness(layout: ExplainLayout, *, n_boot: int, seed: int) -> FaithfulnessResult | None:
    """The faithfulness summary of an explain folder; None when it did not run."""
    if not layout.faithfulness.is_file():
        return None
    from xai.faithfulness import faithfulness_summary

    curves = None
    if layout.faithfulness_curves.is_file():
        curves = {}
        with np.load(layout.faithfulness_curves) as saved:
            for key in saved.files:
                method, name = key.split("__", 1)
                curves.setdefault(method, {})[name] = saved[key]
    summary = faithfulness_summary(pd.read_csv(layout.faithfulness), n_boot=n_boot, seed=seed)
    return FaithfulnessResult(summary, curves, _json(layout.faithfulness_excluded))


def load_counterfactual(layout: ExplainLayout) -> CounterfactualResult | None:
    """``counterfactual.json`` of the sweeps (``out_dir`` set to where it lives now); None when absent."""
    result = _json(layout.counterfactual.result)
    if result is None:
        return None
    return CounterfactualResult.from_json({**result, "out_dir": str(layout.counterfactual.root)})


def load_natural_doses(layout: ExplainLayout, stats_table: pd.DataFrame, *, n_boot: int, seed: int) -> list | None:
    """The counterfactual doses in natural units (:func:`stats.natural_dose.natural_doses`); None without sweeps."""
    if not layout.counterfactual.per_image.is_file():
        return None
    from stats.natural_dose import natural_doses

    return natural_doses(pd.read_csv(layout.counterfactual.per_image), stats_table, n_boot=n_boot, seed=seed)


def model_and_context(layout: ExplainLayout, explain_info: dict, table: pd.DataFrame, run_dir: str | Path,
                      split: str, split_metrics: dict) -> tuple[ChanceCheck | None, PerErrorContext]:
    """The chance check of the model and the per-error context of this explain folder.

    The model is judged on the largest split with metrics (the run's ``metrics.json``
    and the analysed split). Each error is placed among the correct images of its true
    class in the reference pool written by the explain step (``context_pool.csv``).

    Returns:
        (the :class:`stats.chance.ChanceCheck` or None, the :class:`stats.context.PerErrorContext`).
    """
    from stats.chance import chance_check
    from stats.context import per_error_context, within_class_testable

    by_split = {**(_json(run_layout(run_dir).metrics) or {}), split: split_metrics}
    check = chance_check(by_split)
    pool_info = explain_info.get("context_pool")
    errors = table[table["outcome"].isin(["FP", "FN"])]
    testable = within_class_testable(split_metrics["counts"])
    if pool_info and (layout.root / pool_info["table"]).is_file() and len(errors):
        pool = pd.read_csv(layout.root / pool_info["table"])
        pool_name = f"{pool_info['split']} split" + (" (this split)" if pool_info["split"] == split else "")
        rows = per_error_context(_blank_implausible_lungs(errors), _blank_implausible_lungs(pool),
                                 pool_name=pool_name)
        return check, PerErrorContext(testable, rows, pool_name, pool_info.get("by_class", {}))
    return check, PerErrorContext(testable)


def _blank_implausible_lungs(frame: pd.DataFrame) -> pd.DataFrame:
    """Lung-relative saliency columns set to NaN where the lung mask is implausible (as in the tests)."""
    out = frame.copy()
    if "lung_mask_plausible" in out:
        bad = ~out["lung_mask_plausible"].astype(bool)
        cols = [c for c in out.columns if any(c.startswith(f"{m}_") and "lung" in c for m in METHODS)]
        out.loc[bad, cols] = np.nan
    return out


def investigate(out_dir: str | Path, *, n_boot: int = 2000, seed: int = 0) -> Investigation:
    """Compute every statistic the report of one explain folder shows.

    Args:
        out_dir: ``<run>/explain/<split>`` as written by the explain step.
        n_boot: bootstrap resamples of every interval.
        seed: bootstrap seed.

    Returns:
        :class:`Investigation`.
    """
    layout = explain_layout(out_dir)
    table = pd.read_csv(layout.table)
    config = json.loads(layout.config.read_text())
    run_info = json.loads(run_layout(config["resolved_run"]).run_info.read_text())
    y = (table["label"] == PNEUMONIA).astype(int).to_numpy()
    split_metrics = binary_metrics(y, table["p_pneumonia"].to_numpy(), n_boot=n_boot, seed=seed)

    stats_table, source_geo = with_source_geometry(analysis_table(table), config.get("resolved_data"))
    quality_cols = [c for c in stats_table.columns if any(c == q or c.startswith(q + "_") for q in QUALITY_COLUMNS)]
    localisation = [f"{m}_{suffix}" for m in METHODS for suffix in LOCALISATION_SUFFIXES
                    if f"{m}_{suffix}" in stats_table]
    analysis = analyse(stats_table, quality_metrics=quality_cols, localisation_metrics=localisation,
                       geometry=[g for g in GEOMETRY if g in stats_table] + source_geo, n_boot=n_boot, seed=seed,
                       regression_metrics=[m for m in REGRESSION_METRICS if m in stats_table])
    methods = tuple(m for m in METHODS if f"{m}_lung_rank_ratio_k10" in stats_table or f"{m}_lung_share" in stats_table)
    sanity = load_sanity(layout)
    warnings = () if sanity is None else tuple(
        f"{row.method} map FAILED the randomisation sanity check: not the model's reasoning"
        for row in sanity.verdict.itertuples() if row.status == "fail")
    explain_info = _json(layout.explain_info) or {}
    model_check, context = model_and_context(layout, explain_info, table, config["resolved_run"], config["split"],
                                             split_metrics)
    if model_check and model_check.no_better_than_chance:
        warnings = ("model no better than chance (see the report)", *warnings)
    return Investigation(
        layout=layout, config=config, run_info=run_info, explain_info=explain_info,
        split=config["split"], table=table, stats_table=stats_table, split_metrics=split_metrics,
        analysis=analysis, shown_metrics=tuple(m for m in KEY_METRICS if m in stats_table), methods=methods,
        accounting=saliency_accounting(table, METHODS), counterfactual=load_counterfactual(layout),
        natural_doses=load_natural_doses(layout, stats_table, n_boot=n_boot, seed=seed),
        sanity=sanity, faithfulness=load_faithfulness(layout, n_boot=n_boot, seed=seed),
        model_check=model_check, context=context, panel_warnings=warnings,
        pointing={m: pointing_game(stats_table, f"{m}_peak_in_lung") for m in methods})
