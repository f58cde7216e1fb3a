"""Turn an explain folder into what a person reads: panels, gallery, plots and the report.

Reads the tables written by ``xai.explain`` (``table.csv``, ``saliency.csv``,
``maps/*.npz``) and the run's ``run.json``; computes the statistics with
``stats.analysis.analyse``; writes ``panels/*.png``, ``index.html`` (gallery),
``figures/*.png`` and ``report.{md,json,html}`` into the same folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from figures.confusion import confusion_counts, draw_confusion
from figures.context import caption_context
from figures.gallery import write_gallery
from figures.panels import draw_panel
from figures.plots import plot_distributions, plot_dose_response, plot_localisation
from figures.report import write_report
from data.labels import safe_name
from quality.metrics import QUALITY_COLUMNS
from stats.analysis import analyse
from stats.primary import LOCALISATION_TOP_PERCENTS, PRIMARY_METRICS
from stats.classification import binary_metrics
from stats.intervals import format_metric

METHODS = ("gradcam", "ig")
#: Geometry adjusted for in the regressions: whether a film is a squeezed 224x224 copy, and its
#: aspect ratio (width and height themselves take a handful of values and separate the outcome).
GEOMETRY = ("is_224_copy", "aspect_ratio")
#: Predictors of the multivariable regressions (besides geometry), when present.
REGRESSION_METRICS = ("q_laplacian_var", "q_highfreq_share", "q_rms_contrast",
                      PRIMARY_METRICS["saliency_outside_lungs"])
#: Localisation summaries tested (per method prefix): the area-normalised rank ratios and the pointing game.
#: ``*_lung_share`` (positive mass after a per-image ReLU) is descriptive only and never tested.
LOCALISATION_SUFFIXES = (*(f"lung_rank_ratio_k{k}" for k in LOCALISATION_TOP_PERCENTS), "peak_in_lung")
#: Metrics drawn in the figures (all are tested in the statistics).
KEY_METRICS = ("q_laplacian_var", "q_highfreq_share", "q_blur_effect", "q_rms_contrast", "q_dynamic_range",
               "q_mean", "q_laplacian_var_lung", "q_rms_contrast_lung")
CAPTION_KEYS = ("q_laplacian_var", "q_rms_contrast", "q_highfreq_share", "q_mean")


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


def explained_class(row, target: str) -> str:
    """The class whose log-odds the maps of ``row`` explain (``true`` or else the prediction)."""
    return row.label if target == "true" else row.pred


def beyond_correlation_sections(out_dir: Path, *, n_boot: int, seed: int) -> tuple[list, list[str]]:
    """Report sections of the checks that ran (``xai.checks``), and panel warnings for failed maps.

    Returns:
        (sections as (title, html) pairs, warning lines for every panel).
    """
    from figures.counterfactual_plots import (counterfactual_section, faithfulness_section, plot_faithfulness,
                                              plot_sanity, plot_sanity_maps, sanity_section)

    sections, warnings = [], []
    figs = out_dir / "figures"
    cf = out_dir / "counterfactual" / "counterfactual.json"
    if cf.is_file():
        result = json.loads(cf.read_text())
        result["out_dir"] = str(cf.parent)  # wherever the folder now lives
        sections.append(counterfactual_section(result))
    if (out_dir / "sanity.csv").is_file():
        from xai.sanity import sanity_verdict

        frame = pd.read_csv(out_dir / "sanity.csv")
        verdict = sanity_verdict(frame)
        plot_sanity(frame, figs / "sanity.png")
        paths = {"curves": figs / "sanity.png"}
        if (out_dir / "sanity_maps.npz").is_file():
            steps = list(dict.fromkeys(frame[frame["step"] > 0].sort_values("step")["layer"]))
            with np.load(out_dir / "sanity_maps.npz") as saved:
                maps = {m: list(saved[m]) for m in saved.files if m != "image"}
                plot_sanity_maps(maps, steps, figs / "sanity_maps.png", image=saved["image"])
            paths["maps"] = figs / "sanity_maps.png"
        excluded_path = out_dir / "sanity_excluded.json"
        excluded = json.loads(excluded_path.read_text()) if excluded_path.is_file() else None
        sections.append(sanity_section(verdict, paths, excluded=excluded))
        warnings += [f"{row.method} map FAILED the randomisation sanity check: not the model's reasoning"
                     for row in verdict.itertuples() if row.status == "fail"]
    if (out_dir / "faithfulness.csv").is_file():
        from xai.faithfulness import faithfulness_summary

        table = pd.read_csv(out_dir / "faithfulness.csv")
        figure_path = None
        if (out_dir / "faithfulness_curves.npz").is_file():
            with np.load(out_dir / "faithfulness_curves.npz") as saved:
                curves: dict = {}
                for key in saved.files:
                    method, name = key.split("__", 1)
                    curves.setdefault(method, {})[name] = saved[key]
            figure_path = plot_faithfulness(curves, figs / "faithfulness.png")
        excluded_path = out_dir / "faithfulness_excluded.json"
        excluded = json.loads(excluded_path.read_text()) if excluded_path.is_file() else None
        sections.append(faithfulness_section(faithfulness_summary(table, n_boot=n_boot, seed=seed), figure_path,
                                             excluded=excluded))
    return sections, warnings


def natural_dose_sections(out_dir: Path, table: pd.DataFrame, *, n_boot: int, seed: int) -> list:
    """The counterfactual doses in natural units, when the counterfactual sweep ran (else nothing)."""
    per_image_csv = out_dir / "counterfactual" / "per_image.csv"
    if not per_image_csv.is_file():
        return []
    from figures.verdict_sections import natural_dose_section
    from stats.natural_dose import natural_doses

    doses = natural_doses(pd.read_csv(per_image_csv), table, n_boot=n_boot, seed=seed)
    (out_dir / "counterfactual" / "natural_dose.json").write_text(
        json.dumps([d.to_dict() for d in doses], indent=2, allow_nan=False))
    return [natural_dose_section(doses)]


def error_slice_sections(out_dir: Path) -> list:
    """The section of the error-slice step (``xai.slices``) when it ran, else nothing."""
    from figures.slices import slices_sections

    return slices_sections(out_dir)


def model_and_context(out_dir: Path, table: pd.DataFrame, run_dir: Path, split: str,
                      split_metrics: dict) -> tuple[dict | None, dict | None]:
    """The chance check of the model and the per-error context of this explain folder (issue 14).

    The model is judged on the largest split with metrics (the run's ``metrics.json``
    and the analysed split). Each error is placed among the correct images of its true
    class in the reference pool written by the explain step (``context_pool.csv``).

    Returns:
        (``ChanceCheck.to_dict()`` or None, context dict for the report or None).
    """
    from stats.chance import chance_check
    from stats.context import per_error_context, within_class_testable

    metrics_file = run_dir / "metrics.json"
    by_split = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    by_split = {**by_split, split: split_metrics}
    check = chance_check(by_split)
    info = json.loads((out_dir / "explain.json").read_text()) if (out_dir / "explain.json").is_file() else {}
    pool_info = info.get("context_pool")
    errors = table[table["outcome"].isin(["FP", "FN"])]
    context = {"testable": within_class_testable(split_metrics["counts"]), "rows": [], "pool": None,
               "pool_by_class": {}}
    if pool_info and (out_dir / pool_info["table"]).is_file() and len(errors):
        pool = pd.read_csv(out_dir / pool_info["table"])
        pool_name = f"{pool_info['split']} split" + (" (this split)" if pool_info["split"] == split else "")
        rows = per_error_context(_blank_implausible_lungs(errors), _blank_implausible_lungs(pool),
                                 pool_name=pool_name)
        context.update(pool=pool_name, pool_by_class=pool_info.get("by_class", {}),
                       rows=[r.to_dict() for r in rows])
    return (check.to_dict() if check else None), context


def _blank_implausible_lungs(frame: pd.DataFrame) -> pd.DataFrame:
    """Lung-relative saliency columns set to NaN where the lung mask is implausible (as in the tests)."""
    out = frame.copy()
    if "lung_mask_plausible" in out:
        bad = ~out["lung_mask_plausible"].astype(bool)
        cols = [c for c in out.columns if any(c.startswith(f"{m}_") and "lung" in c for m in METHODS)]
        out.loc[bad, cols] = np.nan
    return out


def evaluation_set_sections(config: dict, run_dir: Path) -> list[tuple[str, str]]:
    """For a named evaluation set: what the set is (name, root, layout, size) and, when it ran, the shift section."""
    info = config.get("evaluation_set")
    if not info:
        return []
    import html

    counts = ", ".join(f"{k}: {v}" for k, v in (info.get("n_by_label") or {}).items())
    body = (f"<p>Evaluation set <b>{html.escape(info['name'])}</b>: {info['n_images']} films ({html.escape(counts)}) "
            f"from <code>{html.escape(info['root'])}</code> ({html.escape(info['layout'])} layout"
            f"{', subsets ' + ', '.join(info['subsets']) if info.get('subsets') else ''}), predicted by this run "
            f"at {info.get('model_size')} px on {html.escape(str(info.get('created')))}. The run's own "
            "predictions are untouched; this set's are in <code>eval/" + html.escape(info['name']) +
            "/predictions.csv</code>.</p>")
    sections = [("Evaluation set", body)]
    shift_dir = run_dir / "eval" / info["name"] / "shift"
    if (shift_dir / "shift.json").is_file():
        from figures.shift_plots import shift_section

        sections.append(shift_section(shift_dir))
    else:
        sections.append(("Domain shift", "<p class=\"note\">Not analysed: run <code>python -m xai.shift --run "
                         f"{html.escape(str(run_dir))} --split {html.escape(info['name'])}</code> (needs the "
                         "training images, or --shift-reference ROOT).</p>"))
    return sections


def draw_panels(out_dir: Path, table: pd.DataFrame, config: dict, force: bool = False,
                warnings: list[str] | None = None, context: dict | None = None) -> pd.DataFrame:
    """One panel per explained image with maps; returns rows for the gallery."""
    panels = out_dir / "panels"
    panels.mkdir(exist_ok=True)
    rows = []
    for row in table[table["explained"]].itertuples(index=False):
        maps_file = out_dir / "maps" / f"{safe_name(row.image_id)}.npz"
        if not maps_file.is_file():
            continue
        target = panels / f"{safe_name(row.image_id)}.png"
        if force or not target.is_file():
            with np.load(maps_file) as maps:
                image = maps["image"].astype(np.float32) / 255.0
                caption = {k: getattr(row, k) for k in ("image_id", "label", "pred", "p_pneumonia", "outcome")}
                caption.update({k: getattr(row, k) for k in CAPTION_KEYS if hasattr(row, k)})
                for key in ("ig_completeness_error", "ig_steps", "ig_evaluations", "ig_converged",
                            "gradcam_lung_share", "ig_lung_share",
                            "gradcam_peak_in_lung", "ig_peak_in_lung"):
                    if hasattr(row, key):
                        caption[key] = getattr(row, key)
                caption["lung_mask_plausible"] = bool(row.lung_mask_plausible)
                if isinstance(getattr(row, "lung_mask_reasons", None), str):
                    caption["lung_mask_reasons"] = row.lung_mask_reasons.split("; ")
                caption["explained_class"] = explained_class(row, config.get("target", "predicted"))
                if warnings:
                    caption["warnings"] = list(warnings)
                caption["context"] = caption_context(context, row.image_id)
                draw_panel(image, gradcam=maps["gradcam"] if "gradcam" in maps else None,
                           ig=maps["ig"] if "ig" in maps else None, lung_mask=maps["lung_mask"],
                           caption=caption, path=target)
        rows.append({"image_id": row.image_id, "panel": f"panels/{target.name}", "label": row.label,
                     "pred": row.pred, "p_pneumonia": row.p_pneumonia, "outcome": row.outcome})
    return pd.DataFrame(rows, columns=["image_id", "panel", "label", "pred", "p_pneumonia", "outcome"])


def write_investigation(out_dir: str | Path, *, n_boot: int = 2000, seed: int = 0, force: bool = False) -> dict:
    """Write panels, gallery, figures and the report for one explain folder.

    Args:
        out_dir: ``<run>/explain/<split>`` as written by ``xai.explain``.
        n_boot: bootstrap resamples for the statistics.
        seed: bootstrap seed.
        force: redraw panels that exist.

    Returns:
        Paths: ``html``, ``md``, ``json``, ``gallery``.
    """
    out_dir = Path(out_dir)
    table = pd.read_csv(out_dir / "table.csv")
    config = json.loads((out_dir / "config.json").read_text())
    run_dir = Path(config["resolved_run"])
    run_info = json.loads((run_dir / "run.json").read_text())
    split = config["split"]
    figs = out_dir / "figures"
    figs.mkdir(exist_ok=True)

    y = (table["label"] == "PNEUMONIA").astype(int).to_numpy()
    split_metrics = binary_metrics(y, table["p_pneumonia"].to_numpy(), n_boot=n_boot, seed=seed)
    draw_confusion(confusion_counts(split_metrics["counts"]), figs / "confusion.png",
                   title=f"Figure 1 - {split} split, n={split_metrics['n']} ({run_info['config']['arch']}, "
                         f"init {run_info['weights']['init']})",
                   subtitle=f"accuracy {format_metric(split_metrics['accuracy'])}")

    stats_table, source_geo = with_source_geometry(analysis_table(table), config.get("resolved_data"))
    quality_cols = [c for c in stats_table.columns if any(c == q or c.startswith(q + "_") for q in QUALITY_COLUMNS)]
    localisation = [f"{m}_{suffix}" for m in METHODS for suffix in LOCALISATION_SUFFIXES
                    if f"{m}_{suffix}" in stats_table]
    analysis = analyse(stats_table, quality_metrics=quality_cols, localisation_metrics=localisation,
                       geometry=[g for g in GEOMETRY if g in stats_table] + source_geo, n_boot=n_boot, seed=seed,
                       regression_metrics=[m for m in REGRESSION_METRICS if m in stats_table])
    comparisons = pd.DataFrame(analysis["comparisons"])
    dose = pd.DataFrame(analysis["dose_response"])
    shown = [m for m in KEY_METRICS if m in stats_table]
    plot_distributions(stats_table, shown, figs / "distributions.png", comparisons=comparisons)
    plot_dose_response(stats_table, shown, figs / "dose_response.png", dose=dose)
    methods = [m for m in METHODS if f"{m}_lung_rank_ratio_k10" in stats_table or f"{m}_lung_share" in stats_table]
    plot_localisation(stats_table, methods, figs / "localisation.png",
                      comparisons=pd.DataFrame(analysis["localisation"]))

    extra_sections, panel_warnings = beyond_correlation_sections(out_dir, n_boot=n_boot, seed=seed)
    from figures.saliency_evidence import localisation_evidence_section
    from xai.exclusions import saliency_accounting

    extra_sections.insert(0, localisation_evidence_section(
        saliency_accounting(table, METHODS), primary=PRIMARY_METRICS["saliency_outside_lungs"],
        top_percents=LOCALISATION_TOP_PERCENTS))
    extra_sections += natural_dose_sections(out_dir, stats_table, n_boot=n_boot, seed=seed)
    extra_sections += error_slice_sections(out_dir)
    extra_sections = evaluation_set_sections(config, run_dir) + extra_sections
    model_check, context = model_and_context(out_dir, table, run_dir, split, split_metrics)
    if model_check and model_check["no_better_than_chance"]:
        panel_warnings = ["model no better than chance (see the report)"] + panel_warnings
    gallery_rows = draw_panels(out_dir, table, config, warnings=panel_warnings, context=context,
                               force=force or bool(panel_warnings) or bool(context and context["rows"]))
    gallery = write_gallery(gallery_rows, out_dir / "index.html")
    explain_info = json.loads((out_dir / "explain.json").read_text()) if (out_dir / "explain.json").is_file() else {}
    run_summary = {**run_info, "explain": {"config": config, **explain_info},
                   "lung_masks": {"n": int(len(table)),
                                  "implausible": int((~table["lung_mask_plausible"].astype(bool)).sum())}}
    paths = write_report(
        out_dir, analysis=analysis, run_info=run_summary, split_metrics=split_metrics,
        figures={"confusion": "figures/confusion.png", "distributions": "figures/distributions.png",
                 "dose_response": "figures/dose_response.png", "localisation": "figures/localisation.png"},
        gallery="index.html",
        tables={"table": "table.csv", "saliency": "saliency.csv", "quality": "quality.csv"},
        title=(f"Why does {run_info['config']['arch']} fail on the {split} split?" if not config.get("evaluation_set")
               else f"Why does {run_info['config']['arch']} fail on evaluation set '{split}'?"),
        extra_sections=extra_sections, model_check=model_check, context=context)
    return {"html": paths["html"], "md": paths["md"], "json": paths["json"], "gallery": gallery}
