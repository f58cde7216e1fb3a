"""Figures and report sections of the interventional analyses ("beyond correlation").

* counterfactual sweeps (:mod:`xai.counterfactual`): dose-response curves (mean
  change in P(pneumonia) against intervention strength, one line per region,
  error bars = bootstrap 95 % CI, one panel per intervention x true class), the
  same read against measured image quality, and the texture-vs-shape bars;
* saliency sanity checks (:mod:`xai.sanity`): similarity of maps after cascading
  randomisation, with example maps;
* deletion / insertion faithfulness (:mod:`xai.faithfulness`): mean curves.

``*_section(...) -> (title, html)`` build self-contained HTML (figures embedded
as base64 PNG) for ``figures.report.write_report(extra_sections=[...])``.
Empty inputs give a figure or section that says so, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from data.labels import CLASSES as CLASS_ORDER
from data.labels import THRESHOLD
from figures.style import figure, save
from figures.templating import Grid, data_uri, grid, render_section
from xai.counterfactual_result import CounterfactualResult

REGION_STYLE = {"whole": ("#24292f", "o", "whole film"), "lungs": ("#1f6feb", "s", "inside the lungs"),
                "outside": ("#d95f02", "^", "outside the lungs"),
                "outside_matched": ("#7570b3", "v", "outside, area-matched patches")}
#: Quality metric each intervention is read against (x axis of the quality-response figure).
QUALITY_AXIS = {"gaussian_blur": "q_laplacian_var", "motion_blur": "q_laplacian_var", "noise": "q_laplacian_var",
                "contrast": "q_rms_contrast", "gamma": "q_mean"}
IDENTITY = {"gaussian_blur": 0, "motion_blur": 1, "contrast": 1, "gamma": 1, "noise": 0}
#: x-axis label of each intervention's strength.
STRENGTH_LABEL = {"gaussian_blur": "Gaussian blur sigma (px)", "motion_blur": "motion blur length (px)",
                  "contrast": "contrast factor (1 = unchanged)", "gamma": "gamma exponent (1 = unchanged)",
                  "noise": "noise sigma (intensity, 0-1 scale)"}
METHOD_COLOURS = {"gradcam": "#d95f02", "ig": "#1f6feb", "random": "#57606a"}


# ----------------------------------------------------------------------------- helpers

def _num(value) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return out


def _fmt(value, digits: int = 2, signed: bool = False) -> str:
    v = _num(value)
    if math.isnan(v):
        return "n/a"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def _fmt_ci(value, low, high, digits: int = 2, signed: bool = False) -> str:
    if math.isnan(_num(low)) or math.isnan(_num(high)):
        return _fmt(value, digits, signed)
    return f"{_fmt(value, digits, signed)} [{_fmt(low, digits, signed)}, {_fmt(high, digits, signed)}]"


def _strength_text(value) -> str:
    v = _num(value)
    return str(int(v)) if not math.isnan(v) and v.is_integer() else f"{v:g}"


def _yerr(frame: pd.DataFrame, mean: str, low: str, high: str) -> np.ndarray:
    m, lo, hi = (frame[c].to_numpy(dtype=float) for c in (mean, low, high))
    err = np.vstack([m - lo, hi - m])
    return np.where(np.isfinite(err), np.maximum(err, 0), 0)


def _empty(path: Path, message: str) -> Path:
    fig, ax = figure(figsize=(5, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    save(fig, path)
    return path


def _ordered(values, order: Sequence[str]) -> list[str]:
    present = list(dict.fromkeys(values))
    return [v for v in order if v in present] + [v for v in present if v not in order]


# ----------------------------------------------------------------------------- counterfactual figures

def plot_dose_response(summary: pd.DataFrame, path: str | Path, *, interventions: Sequence[str] | None = None) -> Path:
    """Mean change in P(pneumonia) against strength, one line per region, one panel per intervention x class.

    The first x position is the identity (no change, 0 by definition); strengths
    follow in the registry order (mild to strong). Error bars: bootstrap 95 % CI.

    Args:
        summary: :func:`xai.counterfactual.summarise` output.
        path: PNG path.
        interventions: rows of the grid (default: every intervention with more than one region).

    Returns:
        ``path``.
    """
    path = Path(path)
    if summary is None or len(summary) == 0:
        return _empty(path, "no counterfactual results")
    if interventions is None:
        regions_per = summary.groupby("intervention", sort=False)["region"].nunique()
        interventions = [i for i, k in regions_per.items() if k > 1] or list(regions_per.index)
    classes = _ordered(summary["label"], CLASS_ORDER)
    fig, axes = figure(len(interventions), len(classes), figsize=(4.6 * len(classes), 2.9 * len(interventions)),
                       squeeze=False, sharey="row")
    for r, name in enumerate(interventions):
        part = summary[summary["intervention"] == name]
        strengths = list(dict.fromkeys(part["strength"]))
        ticks = [str(IDENTITY.get(name, "none"))] + [_strength_text(s) for s in strengths]
        for c, label in enumerate(classes):
            ax = axes[r][c]
            ax.axhline(0, color="#8c959f", lw=0.8)
            for k, region in enumerate(_ordered(part["region"], tuple(REGION_STYLE))):
                rows = part[(part["label"] == label) & (part["region"] == region)]
                rows = rows.set_index("strength").reindex(strengths).reset_index()
                colour, marker, text = REGION_STYLE.get(region, ("#6e7781", "d", region))
                x = np.arange(len(strengths) + 1) + (k - 1) * 0.06
                y = np.concatenate([[0.0], rows["mean_delta"].to_numpy(dtype=float)])
                err = np.hstack([[[0], [0]], _yerr(rows, "mean_delta", "delta_low", "delta_high")])
                n = int(rows["n"].max()) if rows["n"].notna().any() else 0
                ax.errorbar(x, y, yerr=err, color=colour, marker=marker, ms=4, capsize=3, lw=1.4,
                            label=f"{text} (n={n})")
            ax.set_xticks(np.arange(len(strengths) + 1), ticks)
            ax.set_title(f"{name} - true {label}")
            ax.set_xlabel(STRENGTH_LABEL.get(name, name.replace("_", " ") + " strength") + "; first = unchanged")
            if c == 0:
                ax.set_ylabel("mean change in P(pneumonia)")
            ax.legend(fontsize=7, loc="best", frameon=False)
    fig.suptitle("Counterfactual dose-response: change in P(pneumonia) (bootstrap 95% CI)", y=1.0)
    fig.tight_layout()
    save(fig, path)
    return path


def plot_quality_response(summary: pd.DataFrame, path: str | Path) -> Path:
    """Mean P(pneumonia) against the measured quality of the perturbed films (whole-film interventions).

    Reads each intervention against the metric of :data:`QUALITY_AXIS`, so the
    curves can be laid beside the observational dose-response (P(pneumonia)
    against the same metric across unedited films). The first point is the
    unedited films (``mean_<metric>_before``, ``mean_p_before``).

    Args:
        summary: :func:`xai.counterfactual.summarise` output with ``mean_q_*`` columns.
        path: PNG path.

    Returns:
        ``path``.
    """
    path = Path(path)
    if summary is None or len(summary) == 0 or "region" not in summary:
        return _empty(path, "no counterfactual results")
    whole = summary[summary["region"] == "whole"]
    names = [n for n in dict.fromkeys(whole["intervention"])
             if f"mean_{QUALITY_AXIS.get(n, '')}" in whole and f"mean_{QUALITY_AXIS.get(n, '')}_before" in whole]
    if not names:
        return _empty(path, "no whole-film interventions with quality metrics")
    fig, axes = figure(1, len(names), figsize=(3.4 * len(names), 3.2), squeeze=False)
    colours = {"NORMAL": "#7570b3", "PNEUMONIA": "#1b9e77"}
    for k, name in enumerate(names):
        ax = axes[0][k]
        metric = QUALITY_AXIS[name]
        for label in _ordered(whole["label"], CLASS_ORDER):
            rows = whole[(whole["intervention"] == name) & (whole["label"] == label)]
            if rows.empty:
                continue
            x = np.concatenate([[rows[f"mean_{metric}_before"].iloc[0]], rows[f"mean_{metric}"].to_numpy(float)])
            y = np.concatenate([[rows["mean_p_before"].iloc[0]], rows["mean_p_after"].to_numpy(float)])
            order = np.argsort(x, kind="stable")  # a curve along the metric (gamma edits go both ways)
            ax.plot(x[order], y[order], marker="o", ms=4, color=colours.get(label, "#57606a"), label=f"true {label}")
            ax.plot(x[:1], y[:1], marker="*", ms=12, color=colours.get(label, "#57606a"), ls="none")
        values = whole.loc[whole["intervention"] == name, [f"mean_{metric}", f"mean_{metric}_before"]].to_numpy(float)
        if metric == "q_laplacian_var" and np.all(values > 0) and values.max() > 10 * values.min():
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(-0.03, 1.03)
        ax.axhline(THRESHOLD, color="#8c959f", lw=0.8, ls="--")
        ax.set_title(name)
        ax.set_xlabel(f"{metric} of the edited film")
        if k == 0:
            ax.set_ylabel("mean P(pneumonia)")
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle("Whole-film edits read against measured quality (star = unedited)", y=1.02)
    fig.tight_layout()
    save(fig, path)
    return path


def plot_texture_shape(rows: Sequence[Mapping] | pd.DataFrame, path: str | Path) -> Path:
    """Mean |change in P(pneumonia)| of patch shuffling vs low-pass inside the lungs, per class and strength.

    Args:
        rows: ``xai.counterfactual.texture_vs_shape(...)["rows"]``.
        path: PNG path.

    Returns:
        ``path``.
    """
    path = Path(path)
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows or []))
    if frame.empty:
        return _empty(path, "texture-vs-shape test not run")
    fig, ax = figure(figsize=(1.6 + 1.5 * len(frame), 3.4))
    x = np.arange(len(frame))
    for off, key, colour, text in ((-0.18, "shuffle", "#d95f02", "patches shuffled"),
                                   (0.18, "low_pass", "#1f6feb", "low-pass")):
        ax.bar(x + off, frame[f"{key}_abs"], width=0.34, color=colour, label=text,
               yerr=_yerr(frame, f"{key}_abs", f"{key}_low", f"{key}_high"), capsize=3)
    ax.set_xticks(x, [f"true {r.label}\npatch {int(r.shuffle_patch)} / sigma {r.low_pass_sigma:g}\nn={r.n}"
                      for r in frame.itertuples()], fontsize=8)
    ax.set_ylabel("mean |change in P(pneumonia)|")
    ax.set_title("Inside the lungs: texture kept (shuffle) vs layout kept (low-pass)")
    ax.legend(frameon=False, fontsize=8)
    save(fig, path)
    return path


def draw_counterfactual_figures(out_dir: str | Path, summary: pd.DataFrame,
                                texture_rows: Sequence[Mapping] | None = None) -> dict[str, str]:
    """Draw every counterfactual figure into ``out_dir``.

    Returns:
        ``{key: file name relative to out_dir}``: ``dose_response``,
        ``quality_response``, ``texture_shape``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    main = summary[~summary["intervention"].isin(["shuffle_patches", "low_pass"])] if len(summary) else summary
    plot_dose_response(main, out_dir / "dose_response.png")
    plot_quality_response(main, out_dir / "quality_response.png")
    plot_texture_shape(texture_rows or [], out_dir / "texture_shape.png")
    return {"dose_response": "dose_response.png", "quality_response": "quality_response.png",
            "texture_shape": "texture_shape.png"}


# ----------------------------------------------------------------------------- counterfactual section

def _summary_table(summary: Sequence[Mapping]) -> Grid | None:
    frame = pd.DataFrame(list(summary))
    if frame.empty:
        return None
    headers = ["intervention", "strength", "true class", "region", "n", "mean change in P(pneumonia) [95% CI]",
               "mean |change|", "flip rate [Wilson 95% CI]"]
    rows = []
    for r in frame.itertuples(index=False):
        rows.append([r.intervention, _strength_text(r.strength), r.label, r.region, int(r.n),
                     _fmt_ci(r.mean_delta, r.delta_low, r.delta_high, signed=True), _fmt(r.mean_abs_delta),
                     f"{int(r.flips)}/{int(r.n)} = {_fmt_ci(r.flip_rate, r.flip_low, r.flip_high)}"])
    return grid(headers, rows, [False, True, False, False, True, True, True, True])


def _comparison_table(rows: Sequence[Mapping]) -> Grid | None:
    if not rows:
        return None
    headers = ["intervention", "strength", "true class", "n", "mean |change| inside lungs", "mean |change| outside",
               "outside - inside (paired)", "lung area", "relation"]
    body = [[r["intervention"], _strength_text(r["strength"]), r["label"], r["n"],
             _fmt_ci(r["lungs_abs"], r["lungs_low"], r["lungs_high"]),
             _fmt_ci(r["outside_abs"], r["outside_low"], r["outside_high"]),
             _fmt_ci(r["diff"], r["diff_low"], r["diff_high"], signed=True),
             f"{100 * _num(r['lung_fraction']):.0f} %", r["relation"]] for r in rows]
    return grid(headers, body, [False, True, False, True, True, True, True, True, False])


def _texture_table(rows: Sequence[Mapping]) -> Grid | None:
    if not rows:
        return None
    headers = ["true class", "n", "shuffle patch (px)", "low-pass sigma (px)", "mean |change| shuffled",
               "mean |change| low-pass", "flips shuffled", "flips low-pass", "preserves the output"]
    body = [[r["label"], r["n"], _strength_text(r["shuffle_patch"]), _strength_text(r["low_pass_sigma"]),
             _fmt_ci(r["shuffle_abs"], r["shuffle_low"], r["shuffle_high"]),
             _fmt_ci(r["low_pass_abs"], r["low_pass_low"], r["low_pass_high"]),
             f"{r['shuffle_flips']}/{r['n']} [{_fmt(r['shuffle_flip_low'])}, {_fmt(r['shuffle_flip_high'])}]",
             f"{r['low_pass_flips']}/{r['n']} [{_fmt(r['low_pass_flip_low'])}, {_fmt(r['low_pass_flip_high'])}]",
             r["preserved"]] for r in rows]
    return grid(headers, body, [False, True, True, True, True, True, True, True, False])


_STATUS_COLOUR = {"outside": "#cf222e", "lungs": "#1a7f37", "negligible": "#57606a", "inconclusive": "#b7791f",
                  "equivalent": "#57606a",
                  "not tested": "#d0d7de"}


def counterfactual_section(result: CounterfactualResult) -> tuple[str, str]:
    """The counterfactual results as one report section.

    Args:
        result: the sweeps as the report reads them (:class:`xai.counterfactual_result.CounterfactualResult`);
            figures are read from ``result.out_dir`` (drawn there when ``result.figures`` is empty).

    Returns:
        (title, HTML): verdict headline and statements, inside-vs-outside table,
        texture-vs-shape table and note, the embedded figures, and the full summary table.
    """
    title = "Beyond correlation: counterfactual interventions"
    judged, texture = result.verdict, result.texture_shape
    figures = result.figures
    if not figures and result.summary:
        figures = draw_counterfactual_figures(result.out_dir, pd.DataFrame(list(result.summary)), texture.rows)
    body = render_section(
        "counterfactual", split=result.split, n_text=", ".join(f"{k}: {v}" for k, v in result.n_images.items()),
        n_variants=result.n_variants_per_image, threshold=result.threshold, min_effect=result.min_effect,
        warnings=result.warnings, colour=_STATUS_COLOUR.get(judged.status, "#57606a"), headline=judged.headline,
        statements=judged.statements, comparison=_comparison_table(judged.rows),
        regions_note=result.notes.get("regions"),
        figures={key: data_uri(result.out_dir / figures[key]) if key in figures else None
                 for key in ("dose_response", "quality_response", "texture_shape")},
        texture_statements=[r["statement"] for r in texture.rows], texture=_texture_table(texture.rows),
        texture_note=texture.note, summary=_summary_table(result.summary))
    return title, body


# ----------------------------------------------------------------------------- sanity checks

def plot_sanity(df: pd.DataFrame, path: str | Path) -> Path:
    """Mean Spearman and SSIM between original and randomised maps after each cascading step.

    Args:
        df: :func:`xai.sanity.saliency_sanity` output.
        path: PNG path.

    Returns:
        ``path``.
    """
    path = Path(path)
    if df is None or len(df) == 0:
        return _empty(path, "no sanity-check results")
    null = df[df["step"] < 0]
    df = df[df["step"] >= 0]
    steps = list(dict.fromkeys(df.sort_values("step")["layer"]))
    metrics = [m for m in ("spearman_signed", "spearman_abs") if m in df] or ["spearman"]
    metrics.append("ssim")
    fig, axes = figure(1, len(metrics), figsize=(max(7.0, 0.3 * len(steps) + 3) * len(metrics) / 2, 3.4),
                       squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for method in dict.fromkeys(df["method"]):
            colour = METHOD_COLOURS.get(method, None)
            part = df[df["method"] == method].groupby("step", sort=True)[metric]
            mean, sd = part.mean(), part.std().fillna(0)
            ax.errorbar(mean.index, mean.values, yerr=sd.values, marker="o", ms=3, capsize=2,
                        color=colour, label=method)
            ref = null.loc[null["method"] == method, metric] if metric in null else pd.Series(dtype=float)
            if len(ref) and ref.notna().any():
                ax.axhline(float(ref.mean()), color=colour, lw=1.0, ls="--",
                           label=f"{method}: null (maps of other images)")
        ax.set_xticks(range(len(steps)), steps, rotation=60, ha="right", fontsize=6)
        ax.set_ylim(-0.5, 1.05)
        ax.axhline(0, color="#8c959f", lw=0.8)
        ax.set_title(f"{metric.replace('_', ' ')} (original vs randomised)", fontsize=9)
        ax.set_xlabel("blocks randomised, cumulative from the head")
    axes[0][0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    save(fig, path)
    return path


def plot_sanity_maps(maps: Mapping[str, Sequence[np.ndarray]], steps: Sequence[str], path: str | Path,
                     image: np.ndarray | None = None) -> Path:
    """Example maps of one image after each cascading step (one row per method).

    Args:
        maps: method -> list of (H, W) maps, the first for the original model,
            then one per step.
        steps: step names (same length as each list minus one).
        path: PNG path.
        image: optional (H, W) film drawn in the first column.

    Returns:
        ``path``.
    """
    path = Path(path)
    if not maps:
        return _empty(path, "no maps")
    n_cols = 1 + len(steps) + (image is not None)
    fig, axes = figure(len(maps), n_cols, figsize=(1.5 * n_cols, 1.6 * len(maps)), squeeze=False)
    for r, (method, arrs) in enumerate(maps.items()):
        col = 0
        if image is not None:
            axes[r][0].imshow(image, cmap="gray")
            axes[r][0].set_title("image", fontsize=7)
            col = 1
        for k, arr in enumerate(arrs):
            ax = axes[r][col + k]
            ax.imshow(np.abs(arr) if method == "ig" else arr, cmap="inferno")
            ax.set_title(("original" if k == 0 else steps[k - 1]), fontsize=7)
        axes[r][col].set_ylabel(method)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    save(fig, path)
    return path


def sanity_section(verdict: pd.DataFrame | Sequence[Mapping], figures: Mapping[str, str | Path] | None = None,
                   *, excluded: Mapping | None = None) -> tuple[str, str]:
    """The saliency sanity check as one report section: PASS/FAIL per method next to its figures.

    Args:
        verdict: :func:`xai.sanity.sanity_verdict` output.
        figures: optional ``{"curves": path, "maps": path}``.
        excluded: ``{"n", "reason"}`` images passed over before the test images were chosen.

    Returns:
        (title, HTML).
    """
    title = "Sanity check of the saliency maps (cascading model randomisation)"
    frame = verdict if isinstance(verdict, pd.DataFrame) else pd.DataFrame(list(verdict or []))
    methods = []
    for r in frame.to_dict("records"):
        status = str(r.get("status") or ("pass" if r.get("passed") else "fail"))
        methods.append({
            "colour": {"pass": "#1a7f37", "fail": "#cf222e"}.get(status, "#9a6700"),
            "claim": f"{status.upper()}: {r.get('method')}", "statement": str(r.get("statement", "")),
            "rests": (f"Rests on {r.get('n_images', 'n/a')} image(s); excluded: {r.get('n_excluded', 0)}"
                      + (f" ({r.get('excluded_reason')})" if r.get("excluded_reason") else "") + ".")})
    n_excluded = int((excluded or {}).get("n", 0) or 0)
    figures = figures or {}
    return title, render_section(
        "sanity", methods=methods, n_excluded=n_excluded, excluded_reason=str((excluded or {}).get("reason")),
        curves=data_uri(figures.get("curves")), maps=data_uri(figures.get("maps")))


# ----------------------------------------------------------------------------- faithfulness

def plot_faithfulness(curves: Mapping[str, Mapping[str, np.ndarray]], path: str | Path) -> Path:
    """Mean deletion and insertion curves per method, with the random-order baseline.

    Args:
        curves: method -> ``{"fractions", "deletion", "insertion", "random_deletion",
            "random_insertion"}`` arrays (means over images), e.g. from
            :func:`xai.faithfulness.mean_curves`.
        path: PNG path.

    Returns:
        ``path``.
    """
    path = Path(path)
    if not curves:
        return _empty(path, "no faithfulness results")
    if any("morf" in c for c in curves.values()):
        return _plot_road(curves, path)
    fig, axes = figure(1, 2, figsize=(8.5, 3.4), squeeze=False)
    for ax, kind in zip(axes[0], ("deletion", "insertion")):
        for method, c in curves.items():
            colour = METHOD_COLOURS.get(method)
            ax.plot(c["fractions"], c[kind], color=colour, lw=1.6, label=f"{method}")
            ax.plot(c["fractions"], c[f"random_{kind}"], color=colour, lw=1.0, ls="--", label=f"{method}: random order")
        ax.set_xlabel(f"fraction of pixels {'deleted' if kind == 'deletion' else 'revealed'}")
        ax.set_ylabel("P(explained class)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{kind} (lower AUC is better)" if kind == "deletion" else f"{kind} (higher AUC is better)")
    axes[0][0].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    save(fig, path)
    return path


def _plot_road(curves: Mapping[str, Mapping[str, np.ndarray]], path: Path) -> Path:
    """Mean ROAD MoRF and LeRF curves per method, dashed: the blocky random control."""
    fig, axes = figure(1, 2, figsize=(8.5, 3.4), squeeze=False)
    for ax, kind in zip(axes[0], ("morf", "lerf")):
        for method, c in curves.items():
            colour = METHOD_COLOURS.get(method)
            ax.plot(c["fractions"], c[kind], color=colour, lw=1.6, marker="o", ms=3, label=method)
            ax.plot(c["fractions"], c[f"random_{kind}"], color=colour, lw=1.0, ls="--",
                    label=f"{method}: random blocks")
        ax.set_xlabel("share of pixels removed (noisy linear imputation)")
        ax.set_ylabel("P(explained class)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("MoRF: most relevant removed first (lower is better)" if kind == "morf"
                     else "LeRF: least relevant removed first (higher is better)", fontsize=9)
    axes[0][0].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    save(fig, path)
    return path


def _excluded_text(excluded: Mapping | None) -> str:
    """'IG: 3 map(s) excluded (reason).' from ``{method: {"n", "reason"}}``."""
    parts = [f"{m}: {int(v.get('n', 0))} map(s) excluded ({v.get('reason')})"
             for m, v in (excluded or {}).items() if int(v.get("n", 0) or 0) > 0]
    return "; ".join(parts) + "." if parts else "No map excluded."


def road_section(summary: pd.DataFrame | Sequence[Mapping], figure_path: str | Path | None = None, *,
                 excluded: Mapping | None = None) -> tuple[str, str]:
    """ROAD results per outcome group and method as one report section.

    Args:
        summary: :func:`xai.faithfulness.faithfulness_summary` output of a ROAD table.
        figure_path: optional :func:`plot_faithfulness` PNG.
        excluded: ``{method: {"n", "reason"}}`` maps left out (unconverged IG).

    Returns:
        (title, HTML).
    """
    title = "Faithfulness of the saliency maps (ROAD: remove and debias)"
    frame = summary if isinstance(summary, pd.DataFrame) else pd.DataFrame(list(summary or []))
    table = None
    if not frame.empty:
        headers = ["outcome", "method", "n", "MoRF", "LeRF", "ROAD score", "random MoRF", "random LeRF",
                   "random score", "gain [95% CI]", "beats random"]
        rows = [[r["outcome"], r["method"], r["n"], _fmt(r["morf_auc"], 3), _fmt(r["lerf_auc"], 3),
                 _fmt(r["road_score"], 3, signed=True), _fmt(r["random_morf_auc"], 3), _fmt(r["random_lerf_auc"], 3),
                 _fmt(r["random_road_score"], 3, signed=True),
                 _fmt_ci(r["gain"], r["gain_low"], r["gain_high"], 3, signed=True),
                 f"{100 * _num(r['beats_random']):.0f} %"] for r in frame.to_dict("records")]
        table = grid(headers, rows, [False, False] + [True] * 9)
    return title, render_section("road", excluded=_excluded_text(excluded), table=table,
                                 figure=data_uri(figure_path) if figure_path else None)


def faithfulness_section(summary: pd.DataFrame | Sequence[Mapping], figure_path: str | Path | None = None, *,
                         deletion_fill: str = "black", excluded: Mapping | None = None) -> tuple[str, str]:
    """Deletion / insertion results per outcome group and method as one report section.

    Args:
        summary: :func:`xai.faithfulness.faithfulness_summary` output.
        figure_path: optional :func:`plot_faithfulness` PNG.
        deletion_fill: what deleted pixels became (``black`` or ``blur``), for the text.

    Returns:
        (title, HTML).
    """
    frame = summary if isinstance(summary, pd.DataFrame) else pd.DataFrame(list(summary or []))
    if "road_score" in frame.columns:
        return road_section(frame, figure_path, excluded=excluded)
    title = "Faithfulness of the saliency maps (deletion and insertion)"
    table = None
    if not frame.empty:
        headers = ["outcome", "method", "n", "deletion AUC", "random deletion AUC", "deletion gain [95% CI]",
                   "insertion AUC", "random insertion AUC", "insertion gain [95% CI]", "beats random (deletion)"]
        rows = [[r["outcome"], r["method"], r["n"], _fmt(r["deletion_auc"], 3), _fmt(r["random_deletion_auc"], 3),
                 _fmt_ci(r["deletion_gain"], r["deletion_gain_low"], r["deletion_gain_high"], 3, signed=True),
                 _fmt(r["insertion_auc"], 3), _fmt(r["random_insertion_auc"], 3),
                 _fmt_ci(r["insertion_gain"], r["insertion_gain_low"], r["insertion_gain_high"], 3, signed=True),
                 f"{100 * _num(r['deletion_beats_random']):.0f} %"] for r in frame.to_dict("records")]
        table = grid(headers, rows, [False, False, True, True, True, True, True, True, True, True])
    return title, render_section(
        "deletion", fill="set to black" if deletion_fill == "black" else "replaced by a blurred copy of the film",
        excluded=_excluded_text(excluded), table=table, figure=data_uri(figure_path) if figure_path else None)
