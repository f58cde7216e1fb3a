"""The investigation report: ``report.md``, ``report.json`` and a self-contained ``report.html``.

The HTML embeds every figure as a base64 data URI, so the single file opens
from disk (or an e-mail attachment) with no server and no network; links to
the gallery and the CSV tables are relative to the report folder. The JSON
holds everything the text is made from (analysis, run info, split metrics,
figure and table paths) and passes ``json.dumps(allow_nan=False)``.

The report is a list of typed blocks (:class:`Heading`, :class:`Para`,
:class:`Table`, ...) built here from the results; ``figures/templates/report.md.j2``
and ``report.html.j2`` render the same blocks to Markdown and to HTML (autoescaped).

Section order: title and run summary, small-split warning, classification
metrics, Figure 1, verdict, quality comparisons, dose-response, localisation,
regression, power, gallery, extra sections, other figures, how to read this.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from data.jsonsafe import jsonable
from figures.templating import data_uri, render
from stats.analysis import Analysis, PowerSummary
from stats.chance import ChanceCheck
from stats.compare import ComparisonRow
from stats.context import PerErrorContext
from stats.correlation import DoseRow
from stats.intervals import format_metric  # figures is the last layer: it may read lower ones
from stats.regression import RegressionResult
from stats.verdict import HypothesisVerdict, MetricTest, VerdictReport

#: Status -> (badge background, badge text colour).
STATUS_COLOURS = {
    "supported": ("#1a7f37", "white"),
    "mixed": ("#b7791f", "white"),
    "opposite": ("#6f42c1", "white"),
    "no evidence": ("#57606a", "white"),
    "not tested": ("#d0d7de", "#24292f"),
}
#: split_metrics keys shown, with their label and whether they are percentages.
SPLIT_METRICS = (
    ("accuracy", "Accuracy", True),
    ("sensitivity", "Sensitivity (PNEUMONIA recall)", True),
    ("specificity", "Specificity (NORMAL recall)", True),
    ("balanced_accuracy", "Balanced accuracy", True),
    ("roc_auc", "ROC AUC", False),
    ("ece", "Expected calibration error", False),
)
#: Figure keys placed in their own section; any other key goes under 'Other figures'.
KNOWN_FIGURES = ("confusion", "distributions", "dose_response", "localisation")
ALPHA = 0.05

# ----------------------------------------------------------------------------- blocks (what the templates draw)

@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2
    kind: str = "heading"


@dataclass(frozen=True)
class Para:
    text: str
    cls: str | None = None
    kind: str = "para"


@dataclass(frozen=True)
class Table:
    """Cells already formatted as text; ``cell_classes`` per column (num / note / text)."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    cell_classes: tuple[str, ...]
    highlight: tuple[bool, ...]
    kind: str = "table"


@dataclass(frozen=True)
class Figure:
    caption: str
    href: str      # the image relative to the report (Markdown link)
    uri: str       # the image as a data URI (HTML)
    kind: str = "figure"


@dataclass(frozen=True)
class Summary:
    items: tuple[tuple[str, str], ...]
    kind: str = "summary"


@dataclass(frozen=True)
class Warnings:
    texts: tuple[str, ...]
    kind: str = "warnings"


@dataclass(frozen=True)
class VerdictItem:
    status: str
    colour: str
    text_colour: str
    claim: str
    statement: str
    summary: str | None
    details: Table | None


@dataclass(frozen=True)
class Verdicts:
    intro: str
    items: tuple[VerdictItem, ...]
    kind: str = "verdicts"


@dataclass(frozen=True)
class GalleryLink:
    rel: str
    text: str
    kind: str = "gallery"


@dataclass(frozen=True)
class HowTo:
    points: tuple[str, ...]
    tables: tuple[tuple[str, str], ...]   # (name, path relative to the report)
    kind: str = "howto"


@dataclass(frozen=True)
class Raw:
    """A caller-supplied HTML section body: kept as it is in both formats."""

    body: str
    kind: str = "raw"


# ----------------------------------------------------------------------------- formatting

def _isnum(x: object) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _missing(x: object) -> bool:
    return x is None or (_isnum(x) and not math.isfinite(float(x)))


def fmt(x: object) -> str:
    """A number with 3 significant digits ('n/a' when missing; integers as they are)."""
    if _missing(x):
        return "n/a"
    if not _isnum(x):
        return str(x)
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    v = float(x)
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:.0f}"
    if abs(v) < 0.001:
        return f"{v:.2e}"
    return f"{v:.3g}"


def fmt_p(x: object) -> str:
    """p- or q-value: '<0.001', '0.012', '0.23'; 'n/a' when missing."""
    if _missing(x) or not _isnum(x):
        return "n/a"
    v = float(x)
    return "<0.001" if v < 0.001 else f"{v:.2g}"


def _fixed(x: float, digits: int) -> str:
    """``x`` with ``digits`` decimals; a nonzero value that would print as 0.00 gets one significant digit."""
    text = f"{x:.{digits}f}"
    if x != 0 and float(text) == 0:
        text = f"{x:.1g}"
    return text


def fmt_ci(value: object, low: object, high: object, digits: int = 2) -> str:
    """'0.31 [0.05, 0.52]' (fixed decimals, for effect sizes in [-1, 1])."""
    if _missing(value):
        return "n/a"
    ci = ("" if _missing(low) or _missing(high)
          else f" [{_fixed(float(low), digits)}, {_fixed(float(high), digits)}]")
    return f"{_fixed(float(value), digits)}{ci}"


Block = Heading | Para | Table | Figure | Summary | Warnings | Verdicts | GalleryLink | HowTo | Raw


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, numeric: Sequence[bool] | None = None,
           highlight: Sequence[bool] | None = None) -> Table:
    """A table (cells already formatted as text; a 'note' column is wide and small)."""
    numeric = numeric or [False] * len(headers)
    return Table(tuple(map(str, headers)), tuple(tuple(map(str, row)) for row in rows),
                 tuple(_cell_class(h, num) for h, num in zip(headers, numeric)),
                 tuple(bool(h) for h in highlight or [False] * len(rows)))


def _cell_class(header: str, numeric: bool) -> str:
    return "num" if numeric else "note" if header == "note" else "text"


# ----------------------------------------------------------------------------- paths and JSON

def _resolve(out_dir: Path, path: str | os.PathLike) -> Path:
    """Absolute path of ``path``: as given when absolute, else under ``out_dir`` (or the CWD if only there)."""
    p = Path(path)
    if p.is_absolute():
        return p
    under = out_dir / p
    return under if under.exists() or not p.exists() else p.resolve()


def _rel(out_dir: Path, path: str | os.PathLike) -> str:
    """POSIX path of ``path`` relative to ``out_dir`` (for links that open from disk)."""
    target = _resolve(out_dir, path)
    return PurePosixPath(Path(os.path.relpath(target, out_dir)).as_posix()).as_posix()


# ----------------------------------------------------------------------------- sections

def _figure(out_dir: Path, figures: Mapping[str, str], key: str, caption: str) -> Figure | Para:
    """An embedded figure (HTML) / image link (Markdown), or a visible note when it is missing."""
    if key not in figures or figures[key] is None:
        return Para(f"({caption}: figure not provided)", "missing")
    path = _resolve(out_dir, figures[key])
    rel = _rel(out_dir, figures[key])
    if not path.is_file():
        return Para(f"({caption}: figure file not found: {rel})", "missing")
    return Figure(caption, rel, data_uri(path))


def _run_summary(run_info: Mapping, analysis: Analysis) -> Summary:
    """Architecture, weights init and its reason (always), device, data root, n per split."""
    config = run_info.get("config") or {}
    weights = run_info.get("weights") or {}
    arch = run_info.get("architecture") or run_info.get("arch") or config.get("arch") or "not recorded"
    init = weights.get("init") or run_info.get("weights_init") or "not recorded"
    reason = weights.get("reason") or run_info.get("weights_reason") or "no reason recorded"
    device = run_info.get("device") or config.get("device") or "not recorded"
    if run_info.get("device_name"):
        device = f"{device} ({run_info['device_name']})"
    n_split = run_info.get("n_images")
    n_text = (", ".join(f"{k} {v}" for k, v in n_split.items()) if isinstance(n_split, Mapping)
              else str(n_split) if n_split is not None else "not recorded")
    items = [("Architecture", arch), ("Weights init", f"{init}: {reason}"), ("Device", device),
             ("Data root", run_info.get("data_root") or config.get("data") or "not recorded"),
             ("Images per split", n_text)]
    split = run_info.get("analysed_split") or run_info.get("split")
    analysed = f"{analysis.n_images} images" + (f" ({split} split)" if split else "")
    items.append(("Analysed", analysed))
    if run_info.get("run_dir"):
        items.append(("Run folder", run_info["run_dir"]))
    if config.get("note"):
        items.insert(0, ("Model", config["note"]))
    return Summary(tuple((str(k), str(v)) for k, v in items))


def _split_dicts(split_metrics: Mapping) -> dict[str, Mapping]:
    """{split name: binary_metrics dict}; a single binary_metrics dict becomes {'': it}."""
    if not split_metrics:
        return {}
    if "accuracy" in split_metrics:
        return {"": split_metrics}
    return {str(k): v for k, v in split_metrics.items() if isinstance(v, Mapping) and "accuracy" in v}


def small_split_warnings(analysis: Analysis, split_metrics: Mapping) -> list[str]:
    """One small-split warning per split: the analysis's wording for the analysed split, else the metrics'.

    The analysis and the classification metrics both warn about the analysed split
    in their own words; the report states each fact once.
    """
    found = []
    if analysis.small_split_warning:
        found.append(analysis.small_split_warning)
    for name, m in _split_dicts(split_metrics).items():
        if m.get("small_split_warning") and not (found and not name):  # '' is the analysed split itself
            found.append((f"[{name}] " if name else "") + str(m["small_split_warning"]))
    return list(dict.fromkeys(found))


def header_warnings(analysis: Analysis, split_metrics: Mapping, model_check: ChanceCheck | None = None,
                    context: PerErrorContext | None = None) -> list[str]:
    """The report's opening warnings, one per fact: a model no better than chance first, then small
    splits, then within-class tests that are impossible (and what is shown instead)."""
    from figures.context import chance_warning, untestable_warning

    found = [chance_warning(model_check), *small_split_warnings(analysis, split_metrics), untestable_warning(context)]
    return [w for w in dict.fromkeys(found) if w]


def _context_section(context: PerErrorContext | None) -> list[Block]:
    from figures.context import context_table

    headers, rows, intro = context_table(context)
    if not rows:
        return [Para(intro, "note")]
    return [Para(intro, "note"), _table(headers, rows)]


def _warning_box(warnings: Sequence[str]) -> list[Block]:
    return [Warnings(tuple(map(str, warnings)))] if warnings else []


def _metrics_section(split_metrics: Mapping) -> list[Block]:
    splits = _split_dicts(split_metrics)
    if not splits:
        return [Para("No classification metrics were provided.", "missing")]
    headers = ["Metric"] + [f"{name} split" if name else "Value (95% interval)" for name in splits]
    rows = []
    for key, label, percent in SPLIT_METRICS:
        row = [label]
        for m in splits.values():
            entry = m.get(key)
            text = format_metric(entry, percent) if isinstance(entry, Mapping) else "n/a"
            if isinstance(entry, Mapping) and entry.get("interval"):
                text += f" [{entry['interval']}]"
            row.append(text)
        rows.append(row)
    counts = ["Counts (TP / TN / FP / FN)"]
    for m in splits.values():
        c = m.get("counts") or {}
        counts.append(" / ".join(str(c.get(k, "n/a")) for k in ("TP", "TN", "FP", "FN")))
    rows.append(counts)
    note = Para("Proportions: Wilson 95% intervals; balanced accuracy, AUC and ECE: stratified bootstrap 95% "
                "intervals. ECE: 0 is perfectly calibrated.", "note")
    return [_table(headers, rows), note]


def _verdict_metrics(metrics: Sequence[MetricTest]) -> Table | None:
    """Per-metric FP vs TN numbers behind one verdict, as a compact table."""
    if not metrics:
        return None
    def direction(m: MetricTest) -> str:
        return "lower in FPs" if m.direction < 0 else "higher in FPs" if m.direction > 0 else ""

    rows = [[m.metric, m.role, m.status, direction(m), f"{fmt(m.median_fp)} (n={fmt(m.n_fp)})",
             f"{fmt(m.median_tn)} (n={fmt(m.n_tn)})", fmt_ci(m.rank_biserial, m.ci_low, m.ci_high),
             f"{fmt_p(m.q_value)} ({m.correction})", fmt(m.mde_rank_biserial)] for m in metrics]
    return _table(["metric", "role", "status", "hypothesis", "FP median", "TN median", "r [95% CI]", "q (method)",
                   "MDE |r|"], rows,
                  numeric=[False, False, False, False, True, True, True, True, True],
                  highlight=[m.status in ("supported", "opposite", "finding") for m in metrics])


def _verdict_section(verdict: Sequence[HypothesisVerdict]) -> Verdicts | Para:
    if not verdict:
        return Para("No verdict was computed.", "missing")
    items = []
    for v in verdict:
        colour, text_colour = STATUS_COLOURS.get(v.status, ("#57606a", "white"))
        items.append(VerdictItem(v.status, colour, text_colour, v.claim, v.statement, v.summary or None,
                                 _verdict_metrics(v.metrics)))
    intro = ("Each hypothesis is judged on FP vs TN (true NORMAL images only) by its ONE primary test: 'supported' "
             "needs a Holm-adjusted q < 0.05 with the hypothesised sign; 'no evidence' is a null result at this "
             "sample size, reported with the smallest effect that could have been detected at the Holm level. "
             "Rows marked 'exploratory' (BH q) never change a verdict.")
    return Verdicts(intro, tuple(items))


def _primary_declaration(primary: VerdictReport | None) -> list[Block]:
    """The pre-declared primary choice, stated before any result."""
    return [Para(primary.declaration, "note")] if primary and primary.declaration else []


def _exploratory_section(primary: VerdictReport | None) -> list[Block]:
    """Exploratory findings (BH q), the held-out confirmation of the headline, the geometry note and strata."""
    exploratory = primary.exploratory if primary else ()
    found = [m for m in exploratory if m.status == "finding"]
    blocks: list[Block] = [Para(
        f"EXPLORATORY: {len(found)} of {len(exploratory)} non-primary FP-vs-TN comparisons have BH q < "
        f"{fmt(primary.alpha if primary else ALPHA)} with a CI excluding 0"
        + (": " + "; ".join(f"{m.metric} r = {fmt_ci(m.rank_biserial, m.ci_low, m.ci_high)}, q = {fmt_p(m.q_value)}"
                            for m in found) if found else "")
        + ". They suggest, they do not test.")]
    if primary is None:
        return blocks
    conf = primary.confirmation
    if conf:
        blocks.append(Para(f"Confirmation of the exploratory headline ({conf.method}, seed {conf.seed}): "
                           f"{conf.statement}"))
    strata = [(h.hypothesis, s) for h in primary.hypotheses for s in h.strata]
    if strata:
        rows = [[h, s.stratum, f"{s.n_fp} / {s.n_tn}", fmt_ci(s.rank_biserial, s.ci_low, s.ci_high),
                 fmt_p(s.p_value), s.reason or ""] for h, s in strata]
        blocks.append(Para("Primary comparisons within each storage-geometry stratum (is_224_copy; descriptive, "
                           "not in the Holm family):"))
        blocks.append(_table(["hypothesis", "stratum", "FP / TN", "r [95% CI]", "p", "not tested because"], rows,
                             numeric=[False, False, True, True, True, False]))
    if primary.geometry:
        blocks.append(Para(primary.geometry, "note"))
    return blocks


def _significant(row: ComparisonRow | DoseRow) -> bool:
    q, lo, hi = row.q_value, row.ci_low, row.ci_high
    return (not _missing(q) and float(q) < ALPHA and not _missing(lo) and not _missing(hi)
            and (float(lo) > 0 or float(hi) < 0))


def _comparison_table(rows: Sequence[ComparisonRow]) -> list[Block]:
    """metric, comparison, n, medians, rank-biserial [CI], p, q, MDE, as a table."""
    if not rows:
        return [Para("No comparisons were computed.", "missing")]
    order = {"FP vs TN": 0, "FN vs TP": 1}
    rows = sorted(rows, key=lambda r: order.get(r.comparison, 2))  # stable: metric order kept
    untested = [r for r in rows if _missing(r.p_value)]
    rows = [r for r in rows if not _missing(r.p_value)]
    notes = []
    for comparison in dict.fromkeys(r.comparison for r in untested):  # one line per comparison
        part = [r for r in untested if r.comparison == comparison]
        reasons = "; ".join(sorted({str(r.reason or "no reason given") for r in part}))
        notes.append(Para(f"{comparison}: {len(part)} metric(s) not tested ({reasons}): "
                          + ", ".join(r.metric for r in part), "missing"))
    if not rows:
        return notes
    headers = ["metric", "comparison", "n error", "n correct", "median error", "median correct",
               "rank-biserial r [95% CI]", "p", "q (BH)", "MDE |r|", "note"]
    numeric = [False, False, True, True, True, True, True, True, True, True, False]
    body = [[r.metric, r.comparison, fmt(r.n1), fmt(r.n2), fmt(r.median1), fmt(r.median2),
             fmt_ci(r.rank_biserial, r.ci_low, r.ci_high), fmt_p(r.p_value), fmt_p(r.q_value),
             fmt(r.mde_rank_biserial), r.reason or ""] for r in rows]
    return [_table(headers, body, numeric=numeric, highlight=[_significant(r) for r in rows]), *notes]


def _dose_table(rows: Sequence[DoseRow]) -> Table | Para:
    if not rows:
        return Para("No dose-response correlations were computed.", "missing")
    headers = ["metric", "n (true NORMAL)", "Spearman rho [95% CI]", "p", "q (BH)", "note"]
    numeric = [False, True, True, True, True, False]
    body = [[r.metric, fmt(r.n), fmt_ci(r.rho, r.ci_low, r.ci_high), fmt_p(r.p), fmt_p(r.q_value), r.reason or ""]
            for r in rows]
    return _table(headers, body, numeric=numeric, highlight=[_significant(r) for r in rows])


def _regression_class(cls: str, res: RegressionResult) -> list[Block]:
    event = {"NORMAL": "FP", "PNEUMONIA": "FN"}.get(cls, "error")
    head = Heading(f"True {cls} (event = {event})", 3)
    facts = (f"n = {fmt(res.n)}, events = {fmt(res.n_events)}, non-events = {fmt(res.n_nonevents)}; "
             f"predictors: {', '.join(res.predictors) or 'none'}.")
    blocks: list[Block] = [head, Para(facts)]
    if not res.fit_ok:
        blocks.append(Para(f"not fit: {res.reason or 'no reason given'}", "missing"))
    else:
        rows = res.odds_ratios.to_dict(orient="records")
        blocks.append(_table(
            ["predictor", "odds ratio per 1 SD", "95% CI", "p"],
            [[r["predictor"], fmt(r["odds_ratio"]), f"{fmt(r['ci_low'])} to {fmt(r['ci_high'])}", fmt_p(r["p_value"])]
             for r in rows],
            numeric=[False, True, True, True],
            highlight=[not _missing(r["p_value"]) and float(r["p_value"]) < ALPHA for r in rows]))
    for note in res.notes:
        blocks.append(Para(f"Note: {note}", "note"))
    return blocks


def _regression_section(regression: Mapping[str, RegressionResult]) -> list[Block]:
    if not regression:
        return [Para("No regression was run.", "missing")]
    intro = Para("Logistic regression of being an error within one true class on standardised predictors "
                 "(odds ratios per 1 SD, Wald 95% CI), adjusted for image geometry.", "note")
    return [intro] + [b for cls, res in regression.items() for b in _regression_class(cls, res)]


def _power_section(power: PowerSummary | None) -> list[Block]:
    if power is None:
        return [Para("No power analysis was provided.", "missing")]
    rows = [[key, fmt(mde.n1), fmt(mde.n2), fmt(mde.cohens_d), fmt(mde.rank_biserial), mde.reason or ""]
            for key, mde in ((k, power.comparison(k)) for k in ("FP vs TN", "FN vs TP"))]
    headers = ["comparison", "n error", "n correct", "MDE |Cohen's d|", "MDE |rank-biserial|", "note"]
    blocks: list[Block] = [_table(headers, rows, numeric=[False, True, True, True, True, False])]
    if power.note:
        blocks.append(Para(power.note, "note"))
    return blocks


def _gallery_section(out_dir: Path, gallery: str | None) -> GalleryLink | Para:
    if not gallery:
        return Para("No gallery was written for this report.", "note")
    return GalleryLink(_rel(out_dir, gallery),
                       "Every error as an X-ray | Grad-CAM | IG panel, most confident errors first")


def _howto_section(out_dir: Path, tables: Mapping[str, str], analysis: Analysis) -> HowTo:
    points = [
        "Within-class comparisons: errors are compared only with correct images of the same true class (FP vs "
        "TN among true NORMAL, FN vs TP among true PNEUMONIA), never with all correct images, because pneumonia "
        "itself changes lung "
        "texture and contrast: a 'PNEUMONIA-looking' image quality would otherwise be confused with disease.",
        "Rank-biserial r: positive when errors have larger values than the correct images of their class; "
        "0 is no difference, +-1 complete separation. q is the Benjamini-Hochberg adjusted p-value within each "
        "table. Bold rows: q < 0.05 with a CI excluding 0.",
        "Geometry confound: this copy of the dataset mixes images made from full-resolution originals (aspect "
        "ratio kept, longer side at most 512 px) and 224x224 copies (squeezed to a square; almost all of val and "
        "test). Sharpness and contrast metrics therefore partly measure which kind of file an image came from, "
        "and a model can tell the kinds apart. The regressions adjust for original width, height and aspect "
        "ratio; the two-group tests do not.",
        "A null result ('no evidence') means effects smaller than the minimal detectable effect could not be "
        "seen at this sample size; it is not evidence that the effect is absent.",
        "Every number here can be recomputed from the CSV tables below.",
    ]
    convention = analysis.settings.sign_convention if analysis.settings else None
    if convention:
        points.append(f"Sign convention: {convention}.")
    return HowTo(tuple(points), tuple((str(name), _rel(out_dir, p)) for name, p in tables.items()))


def _extra(extra_sections: Sequence[tuple[str, str]] | None) -> list[Block]:
    """Caller-supplied (title, HTML) sections; the Markdown keeps the HTML as is."""
    blocks: list[Block] = []
    for heading, body in extra_sections or []:
        blocks += [Heading(str(heading)), Raw(str(body))]
    return blocks


def _other_figures(out_dir: Path, figures: Mapping[str, str]) -> list[Block]:
    others = [k for k in figures if k not in KNOWN_FIGURES]
    if not others:
        return []
    return [Heading("Other figures")] + [_figure(out_dir, figures, k, k.replace("_", " ")) for k in others]


def _sections(out_dir: Path, analysis: Analysis, run_info: Mapping, split_metrics: Mapping,
              figures: Mapping[str, str], gallery: str | None, tables: Mapping[str, str], title: str,
              extra_sections: Sequence[tuple[str, str]] | None, generated: str,
              model_check: ChanceCheck | None = None, context: PerErrorContext | None = None) -> list[Block]:
    """Every block of the report, in order."""
    from figures.context import mark_verdicts

    n = analysis.n_images
    parts: list[Block | list[Block]] = [
        Heading(title, 1),
        Para(f"Generated {generated}.", "note"),
        _run_summary(run_info, analysis),
        _warning_box(header_warnings(analysis, split_metrics, model_check, context)),
        Heading("Classification metrics"),
        _metrics_section(split_metrics),
        Heading("Figure 1: confusion matrix"),
        _figure(out_dir, figures, "confusion", f"Figure 1. Confusion matrix (n = {n}); rows: truth."),
        Heading("Verdict"),
        _primary_declaration(analysis.primary),
        _verdict_section(mark_verdicts(analysis.verdict, model_check)),
        _exploratory_section(analysis.primary),
        Heading("Per-error context: each error among correct images of its class"),
        _context_section(context),
        Heading("Image quality: errors vs correct images of the same class"),
        _comparison_table(analysis.comparisons),
        _figure(out_dir, figures, "distributions",
                "Quality metrics within each true class: TN vs FP and TP vs FN (n under each box)."),
        Heading("Dose-response among true NORMAL images"),
        _dose_table(analysis.dose_response),
        _figure(out_dir, figures, "dose_response",
                "P(pneumonia) against each metric among true NORMAL images (FP and TN)."),
        Heading("Saliency localisation"),
        _comparison_table(analysis.localisation),
        _figure(out_dir, figures, "localisation",
                "Area-normalised localisation: top-10% pixels of the raw map inside the lungs / lung area "
                "(chance = 1.0), and pointing-game rate (Wilson 95% CI) by outcome."),
        Heading("Regression within each true class"),
        _regression_section(analysis.regression),
        Heading("Power: what this split could detect"),
        _power_section(analysis.power),
        Heading("Error gallery"),
        _gallery_section(out_dir, gallery),
        _extra(extra_sections),
        _other_figures(out_dir, figures),
        Heading("How to read this"),
        _howto_section(out_dir, tables, analysis),
    ]
    return [b for part in parts for b in (part if isinstance(part, list) else [part])]


def write_report(
    out_dir: str | Path,
    *,
    analysis: Analysis,
    run_info: Mapping,
    split_metrics: Mapping,
    figures: Mapping[str, str],
    gallery: str | None,
    tables: Mapping[str, str],
    title: str,
    extra_sections: Sequence[tuple[str, str]] | None = None,
    model_check: ChanceCheck | None = None,
    context: PerErrorContext | None = None,
) -> dict[str, Path]:
    """Write ``report.md``, ``report.json`` and a self-contained ``report.html`` into ``out_dir``.

    Relative paths in ``figures``, ``gallery`` and ``tables`` are taken relative
    to ``out_dir`` (or the working directory when they exist only there). A
    missing figure is reported in the text, never an error. No input is modified.

    Args:
        out_dir: report folder (created if needed).
        analysis: :func:`stats.analysis.analyse` output (:class:`stats.analysis.Analysis`;
            written into the JSON as ``Analysis.to_dict()``).
        run_info: the run's ``run.json`` (``config.arch``, ``weights.init`` and
            ``weights.reason``, ``device``, ``device_name``, ``data_root``,
            ``n_images`` per split; optional ``analysed_split``).
        split_metrics: ``stats.classification.binary_metrics`` output for the
            analysed split, or ``{split: binary_metrics}`` for several.
        figures: figure key -> image path; keys ``confusion``,
            ``distributions``, ``dose_response``, ``localisation`` have their
            own sections, others go under 'Other figures'.
        gallery: path of the gallery ``index.html``, or None.
        tables: table name -> CSV path, linked under 'How to read this'.
        title: report title.
        extra_sections: optional (heading, HTML body) sections inserted after
            the gallery link.
        model_check: :func:`stats.chance.chance_check`; when it says the model is no better
            than chance, the report opens with that and marks every verdict.
        context: per-error context (:class:`stats.context.PerErrorContext`).

    Returns:
        ``{'md': Path, 'json': Path, 'html': Path}``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    blocks = _sections(out_dir, analysis, run_info, split_metrics, figures, gallery, tables, title,
                       extra_sections, generated, model_check, context)
    paths = {"md": out_dir / "report.md", "json": out_dir / "report.json", "html": out_dir / "report.html"}
    paths["md"].write_text(render("report.md.j2", blocks=blocks), encoding="utf-8")
    paths["html"].write_text(render("report.html.j2", title=title, blocks=blocks), encoding="utf-8")
    record = {
        "title": title, "generated": generated,
        "files": {k: p.name for k, p in paths.items()},
        "run_info": run_info, "split_metrics": split_metrics, "analysis": analysis,
        "figures": {k: _rel(out_dir, v) for k, v in figures.items() if v is not None},
        "gallery": _rel(out_dir, gallery) if gallery else None,
        "tables": {k: _rel(out_dir, v) for k, v in tables.items()},
        "small_split_warnings": small_split_warnings(analysis, split_metrics),
        "header_warnings": header_warnings(analysis, split_metrics, model_check, context),
        "model_check": model_check,
        "error_context": context,
        "extra_sections": [{"title": str(t), "html": str(h)} for t, h in extra_sections or []],
    }
    paths["json"].write_text(json.dumps(jsonable(record), indent=2, allow_nan=False), encoding="utf-8")
    return paths
