"""Draw one investigation: panels, gallery, plots and the report of an explain folder.

Takes the :class:`xai.investigate.Investigation` the command computed and writes
``panels/*.png``, ``index.html`` (gallery), ``figures/*.png`` and
``report.{md,json,html}`` into the explain folder. Computes nothing statistical.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from data.layout import ExplainLayout, run_layout
from data.parallel import parallel_map
from figures.confusion import confusion_counts, draw_confusion
from figures.context import caption_context
from figures.gallery import write_gallery
from figures.panels import draw_panel
from figures.plots import plot_distributions, plot_dose_response, plot_localisation
from figures.report import write_report
from figures.slices import slices_sections
from figures.templating import render_section
from stats.analysis import rows_frame
from stats.context import PerErrorContext
from stats.intervals import format_metric
from stats.primary import LOCALISATION_TOP_PERCENTS, PRIMARY_METRICS
from xai.investigate import Investigation

#: Quality values printed in each panel's caption.
CAPTION_KEYS = ("q_laplacian_var", "q_rms_contrast", "q_highfreq_share", "q_mean")


def explained_class(row, target: str) -> str:
    """The class whose log-odds the maps of ``row`` explain (``true`` or else the prediction)."""
    return row.label if target == "true" else row.pred


def beyond_correlation_sections(inv: Investigation) -> list[tuple[str, str]]:
    """Report sections of the checks that ran (counterfactual sweeps, sanity, faithfulness), with their figures."""
    from figures.counterfactual_plots import (counterfactual_section, faithfulness_section, plot_faithfulness,
                                              plot_sanity, plot_sanity_maps, sanity_section)

    layout = inv.layout
    sections = []
    if inv.counterfactual is not None:
        sections.append(counterfactual_section(inv.counterfactual))
    if inv.sanity is not None:
        paths = {"curves": plot_sanity(inv.sanity.frame, layout.figure("sanity"))}
        if inv.sanity.maps is not None:
            paths["maps"] = plot_sanity_maps(inv.sanity.maps, list(inv.sanity.steps), layout.figure("sanity_maps"),
                                             image=inv.sanity.image)
        sections.append(sanity_section(inv.sanity.verdict, paths, excluded=inv.sanity.excluded))
    if inv.faithfulness is not None:
        figure_path = None
        if inv.faithfulness.curves is not None:
            figure_path = plot_faithfulness(inv.faithfulness.curves, layout.figure("faithfulness"))
        sections.append(faithfulness_section(inv.faithfulness.summary, figure_path,
                                             excluded=inv.faithfulness.excluded))
    return sections


def natural_dose_sections(layout: ExplainLayout, doses: list | None) -> list[tuple[str, str]]:
    """The counterfactual doses in natural units (saved beside the sweeps), when the sweeps ran."""
    if doses is None:
        return []
    from figures.verdict_sections import natural_dose_section

    layout.counterfactual.natural_dose.write_text(json.dumps([d.to_dict() for d in doses], indent=2, allow_nan=False))
    return [natural_dose_section(doses)]


def evaluation_set_sections(config: dict, run_dir: Path) -> list[tuple[str, str]]:
    """For a named evaluation set: what the set is (name, root, layout, size) and, when it ran, the shift section."""
    info = config.get("evaluation_set")
    if not info:
        return []
    body = render_section("evaluation_set", name=info["name"], n_images=info["n_images"],
                          counts=", ".join(f"{k}: {v}" for k, v in (info.get("n_by_label") or {}).items()),
                          root=info["root"], layout=info["layout"], subsets=info.get("subsets") or [],
                          model_size=info.get("model_size"), created=str(info.get("created")))
    sections = [("Evaluation set", body)]
    shift_dir = run_dir / "eval" / info["name"] / "shift"
    if (shift_dir / "shift.json").is_file():
        from figures.shift_plots import shift_section

        sections.append(shift_section(shift_dir))
    else:
        sections.append(("Domain shift", render_section("shift_missing", run_dir=str(run_dir), name=info["name"])))
    return sections


def draw_panels(layout: ExplainLayout, table: pd.DataFrame, config: dict, force: bool = False,
                warnings: list[str] | tuple[str, ...] | None = None,
                context: PerErrorContext | None = None, workers: int | None = None) -> pd.DataFrame:
    """One panel per explained image with maps; returns rows for the gallery.

    ``workers``: drawing processes (None: all cores; 1: this process).
    """
    layout.panels_dir.mkdir(exist_ok=True)
    rows, todo = [], []
    for row in table[table["explained"]].itertuples(index=False):
        maps_file = layout.maps(row.image_id)
        if not maps_file.is_file():
            continue
        target = layout.panel(row.image_id)
        if force or not target.is_file():
            caption = {k: getattr(row, k) for k in ("image_id", "label", "pred", "p_pneumonia", "outcome")}
            caption.update({k: getattr(row, k) for k in CAPTION_KEYS if hasattr(row, k)})
            for key in ("ig_completeness_error", "ig_steps", "ig_evaluations", "ig_converged", "ig_half_rule_change",
                        "gradcam_lung_share", "ig_lung_share",
                        "gradcam_peak_in_lung", "ig_peak_in_lung"):
                if hasattr(row, key):
                    caption[key] = getattr(row, key)
            caption["lung_mask_plausible"] = bool(row.lung_mask_plausible)
            if isinstance(getattr(row, "lung_mask_reasons", None), str):
                caption["lung_mask_reasons"] = row.lung_mask_reasons.split("; ")
            caption["explained_class"] = explained_class(row, config.get("target", "predicted"))
            for key in ("ig_tol", "ig_pixel_tol"):  # the run's tolerances, named next to the numbers
                if key in config:
                    caption[key] = config[key]
            if warnings:
                caption["warnings"] = list(warnings)
            caption["context"] = caption_context(context, row.image_id)
            todo.append((maps_file, caption, target))
        rows.append({"image_id": row.image_id, "panel": target.relative_to(layout.root).as_posix(),
                     "label": row.label, "pred": row.pred, "p_pneumonia": row.p_pneumonia, "outcome": row.outcome})
    # Panels are independent files: drawn over all cores (matplotlib's Agg backend in each process).
    parallel_map(_draw_panel_file, todo, workers=workers, desc="panels", chunksize=4, progress=False)
    return pd.DataFrame(rows, columns=["image_id", "panel", "label", "pred", "p_pneumonia", "outcome"])


def _draw_panel_file(job: tuple[Path, dict, Path]) -> None:
    """Draw one panel from its maps file; module level so worker processes can run it."""
    maps_file, caption, target = job
    with np.load(maps_file) as maps:
        draw_panel(maps["image"].astype(np.float32) / 255.0, gradcam=maps["gradcam"] if "gradcam" in maps else None,
                   ig=maps["ig"] if "ig" in maps else None, lung_mask=maps["lung_mask"], caption=caption, path=target)


def write_investigation(inv: Investigation, *, force: bool = False) -> dict:
    """Write panels, gallery, figures and the report of one computed investigation.

    Args:
        inv: :func:`xai.investigate.investigate` output.
        force: redraw panels that exist.

    Returns:
        Paths: ``html``, ``md``, ``json``, ``gallery``.
    """
    layout = inv.layout
    layout.figures_dir.mkdir(exist_ok=True)
    m = inv.split_metrics
    draw_confusion(confusion_counts(m["counts"]), layout.figure("confusion"),
                   title=f"Figure 1 - {inv.split} split, n={m['n']} ({inv.arch}, "
                         f"init {inv.run_info['weights']['init']})",
                   subtitle=f"accuracy {format_metric(m['accuracy'])}")
    analysis = inv.analysis
    shown = list(inv.shown_metrics)
    plot_distributions(inv.stats_table, shown, layout.figure("distributions"),
                       comparisons=rows_frame(analysis.comparisons))
    plot_dose_response(inv.stats_table, shown, layout.figure("dose_response"),
                       dose=rows_frame(analysis.dose_response))
    plot_localisation(inv.stats_table, list(inv.methods), layout.figure("localisation"),
                      comparisons=rows_frame(analysis.localisation), pointing=inv.pointing)

    from figures.saliency_evidence import localisation_evidence_section

    # Panels first: the slices section links the panels of its typical errors and checks they exist.
    gallery_rows = draw_panels(layout, inv.table, inv.config, warnings=inv.panel_warnings, context=inv.context,
                               force=force or bool(inv.panel_warnings) or bool(inv.context and inv.context.rows))
    extra_sections = [*evaluation_set_sections(inv.config, run_layout(inv.config["resolved_run"]).root),
                      localisation_evidence_section(inv.accounting, primary=PRIMARY_METRICS["saliency_outside_lungs"],
                                                    top_percents=LOCALISATION_TOP_PERCENTS),
                      *beyond_correlation_sections(inv), *natural_dose_sections(layout, inv.natural_doses),
                      *slices_sections(layout.root)]
    gallery = write_gallery(gallery_rows, layout.gallery)
    table = inv.table
    run_summary = {**inv.run_info, "explain": {"config": inv.config, **inv.explain_info},
                   "lung_masks": {"n": int(len(table)),
                                  "implausible": int((~table["lung_mask_plausible"].astype(bool)).sum())}}
    rel = {name: layout.figure(name).relative_to(layout.root).as_posix()
           for name in ("confusion", "distributions", "dose_response", "localisation")}
    paths = write_report(
        layout.root, analysis=analysis, run_info=run_summary, split_metrics=m, figures=rel,
        gallery=layout.gallery.name,
        tables={"table": layout.table.name, "saliency": layout.saliency.name, "quality": layout.quality.name},
        title=(f"Why does {inv.arch} fail on the {inv.split} split?" if not inv.config.get("evaluation_set")
               else f"Why does {inv.arch} fail on evaluation set '{inv.split}'?"),
        extra_sections=extra_sections, model_check=inv.model_check, context=inv.context)
    return {"html": paths["html"], "md": paths["md"], "json": paths["json"], "gallery": gallery}
