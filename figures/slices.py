"""The error-slice figure and report section ("Where does the model fail?").

Draws what :mod:`xai.slices` wrote (``slices.json``, ``slices.csv``); computes
nothing statistical. ``slices_sections(out_dir)`` returns ``(title, html)`` pairs
for ``figures.report.write_report(extra_sections=...)``; it is empty when the
slice step did not run. The figure is embedded (base64); the representative
error panels are linked (``panels/*.png``, relative to the report).
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from data.labels import CLASSES as CLASS_ORDER
from data.layout import explain_layout
from figures.style import figure, save

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


def _img(path: Path, caption: str) -> str:
    if not path.is_file():
        return f'<p class="missing">Figure missing: {html.escape(caption)}</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _table(headers, rows, numeric=None) -> str:
    numeric = numeric or [False] * len(headers)
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr" + (' class="signif"' if r[-1] == "yes" else "") + ">"
                   + "".join(f'<td{" class=num" if numeric[i] else ""}>{html.escape(str(c))}</td>'
                             for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _panel_links(out_dir: Path, ids: list[str]) -> str:
    if not ids:
        return "<p class=\"note\">No error in this slice.</p>"
    items = []
    for image_id in ids:
        panel = explain_layout(out_dir).panel(image_id)
        rel = panel.relative_to(out_dir).as_posix()
        if panel.is_file():
            items.append(f'<li><a href="{html.escape(rel)}">{html.escape(image_id)}</a></li>')
        else:
            items.append(f"<li>{html.escape(image_id)} (no panel: not explained in full)</li>")
    return "<p>Most typical errors (closest to the slice's median on its defining properties):</p><ul>" + \
        "".join(items) + "</ul>"


def _counterfactual(check: dict | None) -> str:
    if not check:
        return ""
    if not check.get("tested"):
        return f'<p class="note">Intervention check: not tested ({html.escape(str(check.get("reason", "")))}).</p>'
    return (f"<p>Intervention check ({html.escape(check['intervention'])} on {check['n_images']} correctly "
            f"classified films of the slice, moving {html.escape(check['property'])} by the slice's natural "
            f"difference {_num(check['natural_difference'], 4)} (median achieved "
            f"{_num(check['achieved_change'], 4)}, median strength {_num(check['median_strength'])}): "
            f"change in P(error class) {_num(check['mean_delta'], 3)} (95% CI {_num(check['delta_low'], 3)} to "
            f"{_num(check['delta_high'], 3)}); {_pct(check['flip_rate'])} flipped "
            f"({_pct(check['flip_low'])}-{_pct(check['flip_high'])}).</p>")


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
    status = "#1a7f37" if confirmed else "#57606a"
    parts = [
        '<p class="note">Which kinds of films does the model get wrong? Within each true class the images were '
        "split at random (seeded, all images of a patient together) into a discovery half and a confirmation "
        f"half before searching. SliceLine searched conjunctions of up to {cfg.get('max_conditions', '?')} "
        f"conditions (quality quartiles, geometry, file-name subtype, where the saliency for the wrong class lies) "
        f"with at least {cfg.get('min_support', '?')} discovery images, in two families: film properties, and "
        "slices with at least one condition on the model's own Grad-CAM map; the top "
        f"{cfg.get('top_k', '?')} of each family per class (near-duplicates dropped) were carried forward and "
        "tested on the confirmation half (one-sided binomial test against the class's "
        f"error rate there, Holm over all candidates carried forward, alpha {cfg.get('alpha', 0.05)}). Rates: "
        "errors/images (Wilson 95% CI); lift = slice rate / class rate on that half. Saliency slices describe "
        "the model's behaviour, not the film, and partly restate its output (the map of the class an error "
        "predicts is strong where the model predicts it and weak or empty where it does not); film slices "
        "are the ones a person can act on.</p>",
        f'<div class="verdict" style="--status: {status}"><p class="claim">{html.escape(record["headline"])}</p>'
        "</div>",
    ]
    rows = [[c["true_class"], c["n_images"], f"{c['n_discovery']} / {c['n_confirm']}",
             f"{c['errors_discovery']} / {c['errors_confirm']}",
             f"{_pct(c['class_rate_discovery'])} / {_pct(c['class_rate_confirm'])}", c["n_features"],
             c["n_slices_tried"], c["n_candidates"], c["reason"]] for c in record.get("classes", [])]
    parts.append(_table(["true class", "images", "discovery / confirmation", "errors", "error rate",
                         "features", "slices tried", "carried forward", "note"], rows,
                        [False, True, True, True, True, True, True, True, False]))
    if candidates:
        parts.append(_img(figure_path, "Error rate of each candidate slice on the discovery (grey) and the "
                                       "confirmation half (blue), Wilson 95% CI; dashed: the class's error rate."))
        crow = [[c["true_class"], c.get("family", ""), c["description"], _rate(c["errors_discovery"], c["n_discovery"],
                                                          c["rate_discovery_low"], c["rate_discovery_high"]),
                 _num(c["lift_discovery"]), _rate(c["errors_confirm"], c["n_confirm"], c["rate_confirm_low"],
                                                  c["rate_confirm_high"]),
                 _num(c["lift_confirm"]), _p(c["p_confirm"]), _p(c["p_holm"]), "yes" if c["confirmed"] else "no"]
                for c in candidates]
        parts.append("<h3>Every candidate carried forward</h3>")
        parts.append(_table(["class", "family", "slice", "discovery errors", "lift", "confirmation errors", "lift",
                             "p", "p (Holm)", "confirmed"], crow,
                            [False, False, False, True, True, True, True, True, True, False]))
    checks = {(c["true_class"], c["rank"]): c for c in record.get("counterfactual") or []}
    for c in confirmed:
        parts.append(f"<h3>Confirmed: {html.escape(c['description'])}</h3>")
        parts.append(f"<p>{c['n_discovery']} + {c['n_confirm']} films (discovery + confirmation). Error rate "
                     f"{_rate(c['errors_discovery'], c['n_discovery'], c['rate_discovery_low'], c['rate_discovery_high'])}"
                     f" on discovery (class {_pct(c['class_rate_discovery'])}), "
                     f"{_rate(c['errors_confirm'], c['n_confirm'], c['rate_confirm_low'], c['rate_confirm_high'])} "
                     f"on confirmation (class {_pct(c['class_rate_confirm'])}); lift {_num(c['lift_confirm'])}, "
                     f"Holm p {_p(c['p_holm'])}.</p>")
        ids = [i for i in str(c.get("typical_errors") or "").split(";") if i]
        parts.append(_panel_links(out_dir, ids))
        parts.append(_counterfactual(checks.get((c["true_class"], c["rank"]))))
    parts.append('<p class="note">Tables: <a href="slices.csv">slices.csv</a> (every candidate), '
                 '<a href="slices_halves.csv">slices_halves.csv</a> (the half of every image).</p>')
    return [("Where does the model fail? Error slices confirmed on held-out images", "\n".join(parts))]
