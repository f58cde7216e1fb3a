"""The error-slice figure and report section ("Where does the model fail?").

Draws what :mod:`xai.slices` wrote (``slices.json``, ``slices.csv``); computes
nothing statistical. ``slices_sections(out_dir)`` returns ``(title, html)`` pairs
for ``figures.report.write_report(extra_sections=...)``; it is empty when the
slice step did not run. The figure is embedded (base64); the representative
error panels are linked (``panels/*.png``, relative to the report).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from data.labels import CLASSES as CLASS_ORDER
from data.layout import explain_layout
from figures.style import figure, save
from figures.templating import Grid, data_uri, grid, render_section

_COLOURS = {"discovery": "#8c959f", "confirmation": "#1f6feb", "confirmed": "#cf222e"}


def _pct(value, digits: int = 0) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(v) else f"{100 * v:.{digits}f}%"


def _rate(k, n, low, high) -> str:
    return f"{int(k)}/{int(n)} = {_pct(k / n if n else float('nan'))} ({_pct(low)}-{_pct(high)})"


def _num(value, digits: int = 2) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(v) else f"{v:.{digits}f}"


def _p(value) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(v) else ("< 0.001" if v < 0.001 else f"{v:.3f}")


def plot_slices(frame: pd.DataFrame, path: str | Path) -> Path:
    """Error rate of every candidate slice on the discovery and the confirmation half.

    One panel per true class; rows are candidates (best discovery score on top);
    grey: discovery half, blue: confirmation half, both with Wilson 95% intervals;
    dashed lines: the class's error rate on each half; confirmed slices in red type.

    Args:
        frame: ``slices.csv`` (one row per candidate).
        path: PNG to write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    classes = [c for c in CLASS_ORDER if c in set(frame.get("true_class", []))]
    if not classes:
        fig, ax = figure(figsize=(6, 1.6))
        ax.axis("off")
        ax.text(0.5, 0.5, "No slice was carried forward (see the report for why).", ha="center", va="center")
        save(fig, path)
        return path
    heights = [max(2.0, 0.42 * (frame["true_class"] == c).sum() + 1.0) for c in classes]
    fig, axes = figure(len(classes), 1, figsize=(9, sum(heights)), squeeze=False,
                       gridspec_kw={"height_ratios": heights})
    for ax, cls in zip(axes[:, 0], classes):
        part = frame[frame["true_class"] == cls].sort_values("rank", ascending=False).reset_index(drop=True)
        y = np.arange(len(part))
        for offset, half, key in ((0.15, "discovery", "discovery"), (-0.15, "confirmation", "confirm")):
            rate = part[f"rate_{key}"].to_numpy(float)
            err = np.vstack([rate - part[f"rate_{key}_low"], part[f"rate_{key}_high"] - rate])
            ax.errorbar(rate, y + offset, xerr=np.nan_to_num(np.maximum(err, 0)), fmt="o", ms=4, capsize=2,
                        color=_COLOURS[half], mfc="white" if half == "discovery" else _COLOURS[half],
                        label=f"{half} half")
        ax.axvline(part["class_rate_discovery"].iat[0], color=_COLOURS["discovery"], ls="--", lw=1)
        ax.axvline(part["class_rate_confirm"].iat[0], color=_COLOURS["confirmation"], ls="--", lw=1,
                   label="class error rate")
        family = part["family"] if "family" in part else pd.Series("", index=part.index)
        labels = [(c if len(c) <= 66 else c[:63] + "...") + (" [map]" if f == "saliency" else "")
                  for c, f in zip(part["conditions"], family)]
        ax.set_yticks(y, labels, fontsize=7)
        for tick, ok in zip(ax.get_yticklabels(), part["confirmed"].astype(bool)):
            if ok:
                tick.set_color(_COLOURS["confirmed"])
                tick.set_fontweight("bold")
        ax.set_xlim(0, 1)
        ax.set_xlabel("error rate in the slice (Wilson 95% CI)")
        ax.set_title(f"true {cls}: candidate slices (red = confirmed on the held-out half)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save(fig, path)
    return path


def _table(headers, rows, numeric) -> Grid:
    """A grid whose rows ending in 'yes' (confirmed) are highlighted."""
    return grid(headers, rows, numeric, [r[-1] == "yes" for r in rows])


def _panel_links(out_dir: Path, ids: list[str]) -> list[tuple[str, str | None]]:
    """(image id, panel path relative to the report, or None when the error has no panel)."""
    links = []
    for image_id in ids:
        panel = explain_layout(out_dir).panel(image_id)
        links.append((image_id, panel.relative_to(out_dir).as_posix() if panel.is_file() else None))
    return links


def _counterfactual(check: dict | None) -> dict | None:
    """The intervention check of one confirmed slice, its numbers as text."""
    if not check or not check.get("tested"):
        return check and {"tested": False, "reason": str(check.get("reason", ""))}
    return {"tested": True, "intervention": check["intervention"], "n_images": check["n_images"],
            "property": check["property"], "natural_difference": _num(check["natural_difference"], 4),
            "achieved_change": _num(check["achieved_change"], 4), "median_strength": _num(check["median_strength"]),
            "mean_delta": _num(check["mean_delta"], 3), "delta_low": _num(check["delta_low"], 3),
            "delta_high": _num(check["delta_high"], 3), "flip_rate": _pct(check["flip_rate"]),
            "flip_low": _pct(check["flip_low"]), "flip_high": _pct(check["flip_high"])}


def slices_sections(out_dir: str | Path) -> list[tuple[str, str]]:
    """The report section of the slice step, or ``[]`` when ``slices.json`` is absent.

    Args:
        out_dir: the explain folder holding ``slices.json`` (and ``figures/slices.png``).
    """
    out_dir = Path(out_dir)
    path = out_dir / "slices.json"
    if not path.is_file():
        return []
    record = json.loads(path.read_text())
    figure_path = out_dir / "figures" / "slices.png"
    candidates = record.get("candidates") or []
    plot_slices(pd.DataFrame(candidates), figure_path)  # always from the current slices.json
    cfg = record.get("config", {})
    confirmed = [c for c in candidates if c.get("confirmed")]
    rows = [[c["true_class"], c["n_images"], f"{c['n_discovery']} / {c['n_confirm']}",
             f"{c['errors_discovery']} / {c['errors_confirm']}",
             f"{_pct(c['class_rate_discovery'])} / {_pct(c['class_rate_confirm'])}", c["n_features"],
             c["n_slices_tried"], c["n_candidates"], c["reason"]] for c in record.get("classes", [])]
    crow = [[c["true_class"], c.get("family", ""), c["description"], _rate(c["errors_discovery"], c["n_discovery"],
                                                      c["rate_discovery_low"], c["rate_discovery_high"]),
             _num(c["lift_discovery"]), _rate(c["errors_confirm"], c["n_confirm"], c["rate_confirm_low"],
                                              c["rate_confirm_high"]),
             _num(c["lift_confirm"]), _p(c["p_confirm"]), _p(c["p_holm"]), "yes" if c["confirmed"] else "no"]
            for c in candidates]
    checks = {(c["true_class"], c["rank"]): c for c in record.get("counterfactual") or []}
    shown = [{"description": c["description"],
              "facts": (f"{c['n_discovery']} + {c['n_confirm']} films (discovery + confirmation). Error rate "
                        f"{_rate(c['errors_discovery'], c['n_discovery'], c['rate_discovery_low'], c['rate_discovery_high'])}"
                        f" on discovery (class {_pct(c['class_rate_discovery'])}), "
                        f"{_rate(c['errors_confirm'], c['n_confirm'], c['rate_confirm_low'], c['rate_confirm_high'])} "
                        f"on confirmation (class {_pct(c['class_rate_confirm'])}); lift {_num(c['lift_confirm'])}, "
                        f"Holm p {_p(c['p_holm'])}."),
              "panels": _panel_links(out_dir, [i for i in str(c.get("typical_errors") or "").split(";") if i]),
              "check": _counterfactual(checks.get((c["true_class"], c["rank"])))} for c in confirmed]
    body = render_section(
        "slices", max_conditions=cfg.get("max_conditions", "?"), min_support=cfg.get("min_support", "?"),
        top_k=cfg.get("top_k", "?"), alpha=cfg.get("alpha", 0.05), status="#1a7f37" if confirmed else "#57606a",
        headline=record["headline"],
        classes=_table(["true class", "images", "discovery / confirmation", "errors", "error rate", "features",
                        "slices tried", "carried forward", "note"], rows,
                       [False, True, True, True, True, True, True, True, False]),
        candidates=candidates and _table(["class", "family", "slice", "discovery errors", "lift",
                                          "confirmation errors", "lift", "p", "p (Holm)", "confirmed"], crow,
                                         [False, False, False, True, True, True, True, True, True, False]),
        figure=data_uri(figure_path), confirmed=shown)
    return [("Where does the model fail? Error slices confirmed on held-out images", body)]
