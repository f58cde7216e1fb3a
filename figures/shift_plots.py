"""Domain-shift figures and report section: external vs training films, and the harmonisation test.

Reads what :func:`xai.domain_shift.run_shift` saved (``shift.json``, ``per_image.csv``); computes
nothing statistical.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from figures.style import figure, save
from figures.templating import data_uri, grid, render, render_section

#: Metrics drawn (all are tested and tabulated).
SHOWN = ("q_rms_contrast", "q_dynamic_range", "q_mean", "q_laplacian_var", "q_highfreq_share", "q_noise_sigma")
GROUP_COLOURS = {"reference": "#7570b3", "external": "#d95f02"}


def plot_shift_distributions(per_image: pd.DataFrame, comparisons: pd.DataFrame, path: str | Path,
                             metrics=SHOWN) -> Path:
    """Box plots of each metric: reference vs external films, per true class, with r [95% CI] in the title.

    Args:
        per_image: rows with ``group`` (reference/external), ``label`` and the metric columns.
        comparisons: :func:`xai.domain_shift.shift_comparisons` records (class, metric, rank_biserial, ci_low, ci_high).
        path: output PNG.
    """
    classes = list(dict.fromkeys(comparisons["class"]))
    metrics = [m for m in metrics if m in per_image]
    ncols = min(3, len(metrics))
    nrows = -(-len(metrics) // ncols)
    fig, axes = figure(nrows, ncols, figsize=(3.8 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.ravel()[len(metrics):]:
        ax.set_visible(False)
    for ax, metric in zip(axes.ravel(), metrics):
        data, pos, colours = [], [], []
        for i, cls in enumerate(classes):
            for j, group in enumerate(("reference", "external")):
                part = per_image[per_image["group"] == group]
                if cls != "all":
                    part = part[part["label"] == cls]
                data.append(part[metric].dropna().to_numpy())
                pos.append(3 * i + j)
                colours.append(GROUP_COLOURS[group])
        box = ax.boxplot([d if len(d) else np.array([np.nan]) for d in data], positions=pos, widths=0.8,
                         patch_artist=True, showfliers=False)
        for patch, colour in zip(box["boxes"], colours):
            patch.set_facecolor(colour)
            patch.set_alpha(0.6)
        ax.set_xticks([3 * i + 0.5 for i in range(len(classes))], classes)
        stats = comparisons[comparisons["metric"] == metric]
        label = "\n".join(f"{row['class']}: r = {row['rank_biserial']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"
                          for _, row in stats.iterrows() if np.isfinite(row["rank_biserial"]))
        ax.set_title(f"{metric}\n{label}", fontsize=8)
    handles = [__import__("matplotlib.patches", fromlist=["Patch"]).Patch(color=c, alpha=0.6, label=g)
               for g, c in GROUP_COLOURS.items()]
    axes.ravel()[len(metrics) - 1].legend(handles=handles, fontsize=7, loc="best")
    fig.subplots_adjust(hspace=0.6, wspace=0.3)
    save(fig, path)
    return Path(path)


def plot_harmonisation(harmonisation: pd.DataFrame, reference: dict, path: str | Path) -> Path:
    """Sensitivity and specificity (Wilson 95% CI) per harmonisation condition; dashed: the reference level."""
    keys = [k for k in ("specificity", "sensitivity") if k in harmonisation and harmonisation[k].notna().any()]
    fig, axes = figure(1, max(len(keys), 1), figsize=(3.6 * max(len(keys), 1), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        x = np.arange(len(harmonisation))
        value = harmonisation[key].to_numpy(float)
        err = np.vstack([value - harmonisation[f"{key}_ci_low"].to_numpy(float),
                         harmonisation[f"{key}_ci_high"].to_numpy(float) - value]).clip(min=0)
        ax.bar(x, value, color="#1b9e77", alpha=0.7)
        ax.errorbar(x, value, yerr=err, fmt="none", ecolor="black", capsize=4)
        ref = reference.get("NORMAL" if key == "specificity" else "PNEUMONIA")
        if ref is not None and np.isfinite(ref):
            ax.axhline(ref, ls="--", color="#57606a", label="own distribution")
            ax.legend(fontsize=7)
        ax.set_xticks(x, harmonisation["condition"], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(key, fontsize=9)
    save(fig, path)
    return Path(path)


def _fmt(value, digits=2, signed=True) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _pct(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{100 * value:.1f}%"


def draw_shift_figures(out_dir: str | Path) -> dict[str, Path]:
    """Draw ``figures/shift_distributions.png`` and ``figures/harmonisation.png`` from a ``shift/`` folder."""
    out_dir = Path(out_dir)
    result = json.loads((out_dir / "shift.json").read_text())
    per_image = pd.read_csv(out_dir / "per_image.csv", keep_default_na=False, na_values=[""])
    per_image["label"] = per_image["label"].fillna("")
    figs = out_dir / "figures"
    figs.mkdir(exist_ok=True)
    paths = {"distributions": plot_shift_distributions(per_image, pd.DataFrame(result["comparisons"]),
                                                       figs / "shift_distributions.png")}
    harm = pd.DataFrame(result["harmonisation"])
    if "sensitivity" in harm or "specificity" in harm:
        paths["harmonisation"] = plot_harmonisation(harm, result["reference"].get("performance") or {},
                                                    figs / "harmonisation.png")
    return paths


def shift_section(out_dir: str | Path) -> tuple[str, str]:
    """The domain-shift results of a ``shift/`` folder as one report section (title, HTML)."""
    out_dir = Path(out_dir)
    result = json.loads((out_dir / "shift.json").read_text())
    figs = {k: v for k, v in ((k, out_dir / "figures" / f"{n}.png") for k, n in
                              (("distributions", "shift_distributions"), ("harmonisation", "harmonisation")))
            if v.is_file()} or draw_shift_figures(out_dir)
    ref = result["reference"]
    comp = pd.DataFrame(result["comparisons"])
    shifted = comp[comp["shifted"].astype(bool)].sort_values("q_value")
    comparisons = grid(["class", "metric", "median external", "median training", "r [95% CI]", "q"],
                       [[r["class"], r["metric"], _fmt(r["median_external"], 4, False),
                         _fmt(r["median_reference"], 4, False),
                         f"{_fmt(r['rank_biserial'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]",
                         _fmt(r["q_value"], 3, False)] for _, r in comp.sort_values(["class", "metric"]).iterrows()],
                       [False, False, True, True, True, True])
    errors = pd.DataFrame(result["errors"])
    linked, error_grid = [], None
    if not errors.empty:
        linked = errors[errors["goes_with_errors"].astype(bool)]
        shown = errors.sort_values("q_value").head(12)
        error_grid = grid(["class", "metric", "errors / correct", "r errors vs correct [95% CI]", "q", "r shift",
                           "goes with errors"],
                          [[r["class"], r["metric"], f"{r['n_errors']} / {r['n_correct']}",
                            f"{_fmt(r['rank_biserial'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]",
                            _fmt(r["q_value"], 3, False), _fmt(r["shift_rank_biserial"]),
                            "yes" if r["goes_with_errors"] else "no"] for _, r in shown.iterrows()],
                          [False, False, True, True, True, True, False])
    detail = result["detail"]
    harm = pd.DataFrame(result["harmonisation"])
    headers = ["condition", "predicted pneumonia"]
    rows = [[r["condition"], _pct(r["predicted_pneumonia_rate"])] for _, r in harm.iterrows()]
    for key in ("sensitivity", "specificity"):
        if key in harm:
            headers.append(f"{key} [95% CI]")
            for row, (_, r) in zip(rows, harm.iterrows()):
                row.append(f"{_pct(r[key])} [{_pct(r[key + '_ci_low'])}, {_pct(r[key + '_ci_high'])}]")
    recovery = result.get("recovery") or {}
    rec_grid = None
    if recovery:
        rec_rows = []
        for cond, key in (("histogram", "histogram"), ("histogram+detail", "primary")):
            entry = recovery[key]
            for name, e in [*((f"recall {c}", entry["per_class"][c]) for c in entry.get("classes_defined", [])),
                            ("balanced accuracy", entry["balanced"])]:
                rec_rows.append([cond, name, _pct(e["before"]), _pct(e["after"]),
                                 f"{_fmt(100 * e['change'], 1)} [{_fmt(100 * e['ci_low'], 1)}, "
                                 f"{_fmt(100 * e['ci_high'], 1)}] pts",
                                 _pct(e["reference"]), _pct(e["recovered_share"])])
        rec_grid = grid(["condition", "measure", "external", "harmonised", "change [95% CI]", "own distribution",
                         "share of loss recovered"], rec_rows, [False, False, True, True, True, True, True])
    body = render_section(
        "shift", split=result["split"], n_external=result["n_external"], root=result["root"],
        reference_source=ref["source"], reference_n=", ".join(f"{k}: {v}" for k, v in ref["n"].items()),
        verdict=result["verdict"], primary=result["primary"], notes=result.get("notes") or [],
        n_shifted=len(shifted), n_tests=len(comp), alpha=result["alpha"], comparisons=comparisons,
        distributions=data_uri(figs.get("distributions")), errors=error_grid, n_linked=len(linked),
        detail_kind=detail["kind"], detail_strength=f"{detail['strength']:g}", detail_before=f"{detail['before']:.4g}",
        detail_after=f"{detail['after']:.4g}", detail_target=f"{detail['target']:.4g}",
        harmonisation=grid(headers, rows, [False] + [True] * (len(headers) - 1)), recovery=rec_grid,
        recovery_source=str(recovery.get("reference_source")),
        harmonisation_figure=data_uri(figs.get("harmonisation")))
    return "Domain shift: external vs training films, and harmonisation", body


def write_shift_page(out_dir: str | Path) -> Path:
    """A standalone ``shift.html`` with the section (figures embedded)."""
    out_dir = Path(out_dir)
    draw_shift_figures(out_dir)
    title, body = shift_section(out_dir)
    page = out_dir / "shift.html"
    page.write_text(render("shift_page.html.j2", title=title, body=Markup(body)).removesuffix("\n"))
    return page
