"""Figures of the within-class analysis: distributions, dose-response and saliency localisation.

Every comparison stays inside one true class: true NORMAL images split into TN
and FP, true PNEUMONIA images into TP and FN. Errors are never compared with
all correct images, because pneumonia itself changes lung texture and contrast.
Missing columns, NaN values and empty groups are drawn as ``n=0``, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from data.labels import THRESHOLD
from figures.style import OUTCOME_COLOURS, Drawn, figure, save

#: Box positions: true NORMAL (TN, FP), a gap, true PNEUMONIA (TP, FN).
POSITIONS = {"TN": 0.0, "FP": 1.0, "TP": 2.6, "FN": 3.6}
#: (comparison label, error, correct, true class) as in the stats tables.
CLASS_PAIRS = (("FP vs TN", "FP", "TN", "NORMAL"), ("FN vs TP", "FN", "TP", "PNEUMONIA"))
AXES_INCHES = (4.3, 3.7)
_JITTER_SEED = 0


# ----------------------------------------------------------------------------- data helpers

def values_for(table: pd.DataFrame, column: str, outcome: str) -> np.ndarray:
    """Finite float values of ``column`` among rows with ``outcome`` (empty when absent).

    Args:
        table: per-image table with ``outcome``.
        column: numeric column.
        outcome: TP, TN, FP or FN.

    Returns:
        1-D float array without NaN/inf.
    """
    if column not in table.columns or "outcome" not in table.columns:
        return np.empty(0)
    picked = pd.to_numeric(table.loc[table["outcome"] == outcome, column], errors="coerce")
    values = picked.to_numpy(dtype=float)
    return values[np.isfinite(values)]


def _frame(rows: object) -> pd.DataFrame | None:
    """A comparison/dose table as a DataFrame (accepts a DataFrame or a list of row dicts)."""
    if rows is None:
        return None
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    return frame if len(frame) and "metric" in frame.columns else None


def _row(frame: pd.DataFrame | None, metric: str, comparison: str | None = None) -> pd.Series | None:
    """The row of ``frame`` for ``metric`` (and ``comparison``), or None."""
    if frame is None:
        return None
    mask = frame["metric"] == metric
    if comparison is not None and "comparison" in frame.columns:
        mask &= frame["comparison"] == comparison
    hits = frame[mask]
    return hits.iloc[0] if len(hits) else None


def _num(value: object) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def fmt_num(value: object, digits: int = 2) -> str:
    """Number with ``digits`` significant digits, 'n/a' for missing."""
    x = _num(value)
    return "n/a" if math.isnan(x) else f"{x:.{digits}g}"


def fmt_p(value: object) -> str:
    """p- or q-value: '<0.001', '0.012', '0.23'; 'n/a' when missing."""
    x = _num(value)
    if math.isnan(x):
        return "n/a"
    return "<0.001" if x < 0.001 else f"{x:.2g}"


def q_text(value: object, name: str = "q") -> str:
    """'q = 0.012' or 'q < 0.001' (or 'q n/a')."""
    text = fmt_p(value)
    if text == "n/a":
        return f"{name} n/a"
    return f"{name} < 0.001" if text.startswith("<") else f"{name} = {text}"


def _ci2(low: object, high: object) -> str:
    lo, hi = _num(low), _num(high)
    if math.isnan(lo) or math.isnan(hi):
        return "[CI n/a]"
    return f"[{lo:.2f}, {hi:.2f}]"


def effect_text(row: pd.Series | None) -> str:
    """'r = 0.31 [0.05, 0.52]' and 'q = 0.012' on two lines from a comparison row ('' without a row)."""
    if row is None:
        return ""
    r = _num(row.get("rank_biserial"))
    if math.isnan(r):
        n1, n2 = _num(row.get("n1")), _num(row.get("n2"))
        sizes = "" if math.isnan(n1) or math.isnan(n2) else f"\n(n = {n1:.0f} vs {n2:.0f})"
        return "not tested" + sizes
    return f"r = {r:.2f} {_ci2(row.get('ci_low'), row.get('ci_high'))}\n{q_text(row.get('q_value'))}"


def _grid(n_panels: int, n_cols: int) -> tuple[int, int]:
    n_cols = max(1, min(n_cols, n_panels))
    return max(1, math.ceil(n_panels / n_cols)), n_cols


def _should_log(groups: Sequence[np.ndarray]) -> bool:
    """Log axis for strictly positive, heavy-tailed data (e.g. Laplacian variance)."""
    allv = np.concatenate([g for g in groups if g.size] or [np.empty(0)])
    if allv.size < 3 or (allv <= 0).any():
        return False
    lo, hi = np.percentile(allv, [5, 95])
    return lo > 0 and hi / lo > 30


# ----------------------------------------------------------------------------- drawing helpers

def _class_ticks(ax, counts: dict[str, int]) -> None:
    """x ticks 'TN\\nn=120' and class names under each pair."""
    ax.set_xticks([POSITIONS[o] for o in POSITIONS], [f"{o}\nn={counts[o]}" for o in POSITIONS])
    ax.set_xlim(-0.7, 4.3)
    for _, err, ok, cls in CLASS_PAIRS:
        centre = (POSITIONS[err] + POSITIONS[ok]) / 2
        ax.text(centre, -0.25, f"true {cls}", transform=ax.get_xaxis_transform(), ha="center", va="top",
                fontsize=9, color="#444444")
    ax.axvline((POSITIONS["FP"] + POSITIONS["TP"]) / 2, color="#bbbbbb", lw=0.8, ls=":")


def _annotate_pairs(ax, frame: pd.DataFrame | None, metric: str) -> None:
    """Effect size text above each within-class pair."""
    if frame is None:
        return
    for label, err, ok, _ in CLASS_PAIRS:
        text = effect_text(_row(frame, metric, label))
        if text:
            centre = (POSITIONS[err] + POSITIONS[ok]) / 2
            ax.text(centre, 0.985, f"{label}\n{text}", transform=ax.get_xaxis_transform(), ha="center",
                    va="top", fontsize=8, linespacing=1.15,
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="#cccccc", alpha=0.9))


def _boxes(ax, groups: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """One box (outlined in the outcome colour) plus jittered points per non-empty group."""
    for outcome, vals in groups.items():
        pos, colour = POSITIONS[outcome], OUTCOME_COLOURS[outcome]
        if vals.size == 0:
            ax.text(pos, 0.5, "no data", transform=ax.get_xaxis_transform(), ha="center", va="center",
                    fontsize=8, color="#888888", rotation=90)
            continue
        ax.boxplot([vals], positions=[pos], widths=0.6, showfliers=False, patch_artist=True,
                   boxprops=dict(facecolor="none", edgecolor=colour, linewidth=1.6),
                   medianprops=dict(color=colour, linewidth=2.2), whiskerprops=dict(color=colour),
                   capprops=dict(color=colour))
        jitter = rng.uniform(-0.2, 0.2, vals.size)
        ax.scatter(pos + jitter, vals, s=10 if vals.size > 100 else 16, color=colour, alpha=0.45,
                   edgecolors="none", zorder=3)


def draw_within_class(ax, table: pd.DataFrame, column: str, frame: pd.DataFrame | None = None, *,
                      title: str | None = None, ylim: tuple[float, float] | None = None) -> None:
    """Box plots of ``column`` for TN vs FP (true NORMAL) and TP vs FN (true PNEUMONIA) on ``ax``.

    Args:
        ax: matplotlib axes.
        table: per-image table with ``outcome`` and ``column``.
        column: the metric.
        frame: optional within-class comparison table for the r [CI], q annotation.
        title: axes title (default: the column name).
        ylim: fixed y limits (e.g. (0, 1) for shares).
    """
    groups = {o: values_for(table, column, o) for o in POSITIONS}
    missing = column not in table.columns
    if not missing:
        _boxes(ax, groups, np.random.default_rng(_JITTER_SEED))
    _class_ticks(ax, {o: int(v.size) for o, v in groups.items()})
    ax.set_title(title or column + (" (column missing)" if missing else ""), fontsize=10.5)
    if missing or not any(v.size for v in groups.values()):
        ax.text(0.5, 0.5, "column missing" if missing else "no values", transform=ax.transAxes,
                ha="center", va="center", color="#888888")
        ax.set_yticks([])
        return
    log = ylim is None and _should_log(list(groups.values()))
    if log:
        ax.set_yscale("log")
        ax.set_ylabel("log scale", fontsize=8, color="#666666")
    if ylim is not None:
        ax.set_ylim(*ylim)
        ax.set_yticks([t for t in np.linspace(0, 1, 5) if ylim[0] <= t <= ylim[1]])
    _headroom(ax, log, 0.36 if frame is not None else 0.05)
    _annotate_pairs(ax, frame, column)


def _headroom(ax, log: bool, share: float) -> None:
    """Extend the top of the y axis by ``share`` of its range (room for annotations)."""
    lo, hi = ax.get_ylim()
    if log:
        span = math.log10(hi) - math.log10(lo)
        ax.set_ylim(lo, 10 ** (math.log10(hi) + share * span / (1 - share)))
    else:
        ax.set_ylim(lo, hi + share * (hi - lo) / (1 - share))


def _blank(ax, text: str) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#888888")


def _finish(fig, axes: np.ndarray, used: int, path: str | Path, title: str) -> Drawn:
    for ax in axes.flat[used:]:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save(fig, path)


# ----------------------------------------------------------------------------- public plots

def _metric_grid(metrics: Sequence[str], path: str | Path, draw, title: str) -> Drawn:
    """A grid of small axes, one per metric (3 columns), each filled by ``draw(ax, metric)``."""
    metrics = list(metrics)
    rows, cols = _grid(max(1, len(metrics)), 3)
    fig, axes = figure(rows, cols, figsize=(AXES_INCHES[0] * cols, AXES_INCHES[1] * rows), squeeze=False)
    if not metrics:
        _blank(axes[0, 0], "no metrics to draw")
    for ax, metric in zip(axes.flat, metrics):
        draw(ax, metric)
    return _finish(fig, axes, max(1, len(metrics)), path, title)


def plot_distributions(table: pd.DataFrame, metrics: Sequence[str], path: str | Path, *,
                       comparisons: pd.DataFrame | Sequence[dict] | None = None) -> Drawn:
    """Per-metric box plots within each true class: TN vs FP and TP vs FN, with n under each box.

    Args:
        table: per-image table with ``outcome`` and the metric columns. Not modified.
        metrics: metric columns, one small axes each (missing ones are drawn empty).
        path: output PNG.
        comparisons: optional ``stats.within_class_comparisons`` output (DataFrame
            or list of row dicts: ``metric, comparison, rank_biserial, ci_low,
            ci_high, q_value``) annotated as ``r [CI], q`` above each pair.

    Returns:
        :class:`figures.style.Drawn`: the path written and what each axes shows.
    """
    frame = _frame(comparisons)
    return _metric_grid(metrics, path, lambda ax, metric: draw_within_class(ax, table, metric, frame),
                        "Within-class distributions: FP vs TN (true NORMAL), FN vs TP (true PNEUMONIA)")


def _normal_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of true NORMAL images (by ``label``, else by outcome TN/FP)."""
    if "label" in table.columns:
        return table[table["label"] == "NORMAL"]
    if "outcome" in table.columns:
        return table[table["outcome"].isin(["TN", "FP"])]
    return table.iloc[0:0]


def _dose_text(row: pd.Series | None, n_drawn: int) -> str:
    if row is None:
        return f"n = {n_drawn}"
    rho = _num(row.get("rho"))
    n = row.get("n", n_drawn)
    if math.isnan(rho):
        reason = row.get("reason")
        return f"Spearman rho n/a (n = {n})" + (f"\n{reason}" if isinstance(reason, str) else "")
    text = f"Spearman rho = {rho:.2f} {_ci2(row.get('ci_low'), row.get('ci_high'))}, n = {n}"
    if "q_value" in row.index:
        text += f"\n{q_text(row.get('q_value'))}"
    return text


def _scatter_dose(ax, normal: pd.DataFrame, metric: str, row: pd.Series | None) -> None:
    """p_pneumonia against ``metric`` for true NORMAL images, TN then FP on top."""
    ax.set_title(metric + ("" if metric in normal.columns else " (column missing)"), fontsize=10.5)
    ax.axhline(THRESHOLD, color="#999999", lw=0.9, ls="--")
    ax.text(1.0, THRESHOLD, " threshold", transform=ax.get_yaxis_transform(), fontsize=7.5, va="bottom", ha="right",
            color="#777777")
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("P(pneumonia)")
    groups = {o: _pairs(normal, metric, o) for o in ("TN", "FP")}
    for outcome, (x, y) in groups.items():
        ax.scatter(x, y, s=16, color=OUTCOME_COLOURS[outcome], alpha=0.6, edgecolors="none",
                   label=f"{outcome} (n={x.size})", zorder=3 if outcome == "FP" else 2)
    xs = [x for x, _ in groups.values() if x.size]
    if xs and _should_log(xs):
        ax.set_xscale("log")
        ax.set_xlabel(f"{metric} (log scale)")
    else:
        ax.set_xlabel(metric)
    n_drawn = sum(x.size for x, _ in groups.values())
    if n_drawn == 0:
        ax.text(0.5, 0.5, "n=0", transform=ax.transAxes, ha="center", va="center", color="#888888")
    ax.text(0.02, 0.98, _dose_text(row, n_drawn), transform=ax.transAxes, ha="left", va="top", fontsize=8,
            bbox=dict(boxstyle="round,pad=0.25", fc="white", ec="#cccccc", alpha=0.9), zorder=5)
    ax.legend(loc="lower right", fontsize=7.5, framealpha=0.9)


def _pairs(table: pd.DataFrame, metric: str, outcome: str) -> tuple[np.ndarray, np.ndarray]:
    """Complete (metric, p_pneumonia) pairs of one outcome."""
    if metric not in table.columns or "p_pneumonia" not in table.columns or "outcome" not in table.columns:
        return np.empty(0), np.empty(0)
    rows = table[table["outcome"] == outcome]
    x = pd.to_numeric(rows[metric], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(rows["p_pneumonia"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def plot_dose_response(table: pd.DataFrame, metrics: Sequence[str], path: str | Path, *,
                       dose: pd.DataFrame | Sequence[dict] | None = None) -> Drawn:
    """Among true NORMAL images, P(pneumonia) against each metric, points coloured TN / FP.

    Args:
        table: per-image table with ``label`` (or ``outcome``), ``p_pneumonia``
            and the metric columns. Not modified.
        metrics: metric columns, one axes each.
        path: output PNG.
        dose: optional ``stats.dose_response`` output (columns ``metric, rho,
            ci_low, ci_high, n`` and optionally ``q_value``) annotated on each axes.

    Returns:
        :class:`figures.style.Drawn`: the path written and what each axes shows.
    """
    frame = _frame(dose)
    normal = _normal_rows(table)
    return _metric_grid(metrics, path, lambda ax, metric: _scatter_dose(ax, normal, metric, _row(frame, metric)),
                        "Dose-response among true NORMAL images: does P(pneumonia) rise with the metric?")


def _draw_pointing(ax, table: pd.DataFrame, column: str, frame: pd.DataFrame | None, method: str,
                   rates: Mapping[str, dict] | None) -> None:
    """Pointing-game rate (share of peaks inside the lungs) per outcome with its Wilson 95% interval, as computed."""
    counts = {}
    for outcome, pos in POSITIONS.items():
        rate_of = (rates or {}).get(outcome)
        n = int(rate_of["n"]) if rate_of else 0
        counts[outcome] = n
        if n == 0:
            ax.text(pos, 0.5, "no data" if rates is not None else "not computed", ha="center", va="center",
                    fontsize=8, color="#888888", rotation=90)
            continue
        k, rate, low, high = int(rate_of["successes"]), rate_of["value"], rate_of["ci_low"], rate_of["ci_high"]
        colour = OUTCOME_COLOURS[outcome]
        ax.errorbar([pos], [rate], yerr=[[max(rate - low, 0.0)], [max(high - rate, 0.0)]], fmt="o", color=colour, ms=8, capsize=5,
                    lw=1.8)
        ax.text(pos + 0.12, rate, f"{k}/{n}", fontsize=8, va="center", ha="left")
    ax.set_ylim(-0.02, 1.45 if frame is not None else 1.05)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_ylabel("share with peak in lungs")
    _class_ticks(ax, counts)
    missing = column not in table.columns
    ax.set_title(f"{method}: pointing game (Wilson 95% CI)" + (" - column missing" if missing else ""),
                 fontsize=10.5)
    _annotate_pairs(ax, frame, column)


def plot_localisation(table: pd.DataFrame, methods: Sequence[str], path: str | Path, *,
                      comparisons: pd.DataFrame | Sequence[dict] | None = None,
                      pointing: Mapping[str, Mapping[str, dict]] | None = None) -> Drawn:
    """Saliency localisation per method: ``{m}_lung_rank_ratio_k10`` by outcome and the pointing-game rate.

    One row per method: left, box plots of the area-normalised rank ratio
    ``{m}_lung_rank_ratio_k10`` (dashed line: chance, 1.0; ``{m}_lung_share`` for
    older tables without it) within each true class (TN vs FP, TP vs FN); right, the share of images whose saliency peak
    lies in the lungs per outcome with its Wilson 95% interval, as computed by
    :func:`stats.pointing.pointing_game` (``pointing``; drawn as "not computed" when absent).

    Args:
        table: per-image table with ``outcome`` and the ``{m}_*`` columns. Not modified.
        methods: saliency method prefixes, e.g. ``['gradcam', 'ig']``.
        path: output PNG.
        comparisons: optional within-class comparison table of the localisation
            metrics, annotated as ``r [CI], q`` above each pair.
        pointing: ``{method: {outcome: proportion dict}}`` from :func:`stats.pointing.pointing_game`
            on the same table (``Investigation.pointing``).

    Returns:
        :class:`figures.style.Drawn`: the path written and what each axes shows.
    """
    methods = list(methods)
    frame = _frame(comparisons)
    n_rows = max(1, len(methods))
    fig, axes = figure(n_rows, 2, figsize=(AXES_INCHES[0] * 2 + 0.4, AXES_INCHES[1] * n_rows), squeeze=False)
    if not methods:
        _blank(axes[0, 0], "no saliency methods to draw")
    for i, method in enumerate(methods):
        ratio = f"{method}_lung_rank_ratio_k10"
        if ratio in table.columns or f"{method}_lung_share" not in table.columns:
            draw_within_class(axes[i, 0], table, ratio, frame,
                              title=f"{method}: top-10% pixels in lungs / lung area (1 = chance)")
            axes[i, 0].axhline(1.0, color="#8c959f", lw=1.0, ls="--")
        else:  # an older table without the area-normalised ratio
            draw_within_class(axes[i, 0], table, f"{method}_lung_share", frame,
                              title=f"{method}: share of saliency inside the lungs", ylim=(-0.02, 1.02))
        _draw_pointing(axes[i, 1], table, f"{method}_peak_in_lung", frame, method, (pointing or {}).get(method))
    return _finish(fig, axes, 2 * n_rows if methods else 1, path,
                   "Saliency localisation within each true class")
