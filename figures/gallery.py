"""An ``index.html`` of every panel, most confident errors first (opens from disk, no server)."""

from __future__ import annotations

import math
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import pandas as pd

from figures.style import OUTCOME_COLOURS
from figures.templating import render

GALLERY_COLUMNS = ("image_id", "panel", "label", "pred", "p_pneumonia", "outcome")
ERRORS = ("FP", "FN")



def confidence(outcome: str, p_pneumonia: float) -> float:
    """Confidence of the prediction: ``p`` when PNEUMONIA was predicted (TP, FP), else ``1 - p``.

    For an error this is the confidence of the error (FP: p, FN: 1 - p). NaN
    when ``p_pneumonia`` is missing.
    """
    try:
        p = float(p_pneumonia)
    except (TypeError, ValueError):
        return math.nan
    return p if outcome in ("TP", "FP") else 1.0 - p


def gallery_order(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted for the gallery: errors by descending confidence, then correct ones likewise.

    Rows with an unknown confidence go last within their block; ties keep the
    input order. The input is not modified.

    Args:
        rows: DataFrame with ``outcome`` and ``p_pneumonia``.

    Returns:
        A sorted copy with extra columns ``confidence`` and ``is_error``.
    """
    out = rows.copy()
    out["confidence"] = [confidence(o, p) for o, p in zip(out["outcome"], out["p_pneumonia"])]
    out["is_error"] = out["outcome"].isin(ERRORS)
    out["_order"] = range(len(out))
    out = out.sort_values(["is_error", "confidence", "_order"], ascending=[False, False, True],
                          na_position="last", kind="stable")
    return out.drop(columns="_order")


def _header(ordered: pd.DataFrame, split: str | None) -> str:
    """'12 errors (8 FP, 4 FN) among 40 panels, valid split' sentence."""
    counts = ordered["outcome"].value_counts()
    n_err = int(ordered["is_error"].sum())
    parts = ", ".join(f"{int(counts.get(k, 0))} {k}" for k in ERRORS)
    text = f"{n_err} error{'s' if n_err != 1 else ''} ({parts})"
    n_ok = len(ordered) - n_err
    if n_ok:
        ok = ", ".join(f"{int(counts.get(k, 0))} {k}" for k in ("TP", "TN"))
        text += f" and {n_ok} correct image{'s' if n_ok != 1 else ''} ({ok})"
    text += f": {len(ordered)} panel{'s' if len(ordered) != 1 else ''}"
    if split:
        text += f", {split} split"
    return text + ". Errors are sorted by the model's confidence in the wrong answer, highest first."


def _panel(row: pd.Series, rank: int) -> dict:
    """What one thumbnail shows: its link, rank, outcome badge and caption values."""
    outcome = str(row["outcome"])
    p, conf = row["p_pneumonia"], row["confidence"]
    return {"image_id": str(row["image_id"]), "href": _href(row["panel"]), "rank": rank, "outcome": outcome,
            "colour": OUTCOME_COLOURS.get(outcome, "#555555"), "label": str(row["label"]), "pred": str(row["pred"]),
            "p_text": "n/a" if pd.isna(p) else f"{float(p):.3f}",
            "conf_text": "" if pd.isna(conf) else f", confidence {100 * conf:.1f}%"}


def _href(panel: object) -> str:
    """Relative URL of a panel path (POSIX separators, percent-encoded)."""
    return quote(PurePosixPath(str(panel).replace("\\", "/")).as_posix())


def write_gallery(rows: pd.DataFrame, path: str | Path, *, title: str = "Error gallery",
                  split: str | None = None) -> Path:
    """Write an HTML page listing every panel as a thumbnail with its caption line.

    Errors (FP, FN) come first, sorted by descending confidence of the error
    (FP: p_pneumonia, FN: 1 - p_pneumonia), then correct images if any. Links
    are the relative ``panel`` paths, so the page opens from disk with no server.

    Args:
        rows: DataFrame with columns ``image_id``, ``panel`` (path relative to
            the html), ``label``, ``pred``, ``p_pneumonia``, ``outcome``. Not modified.
        path: the HTML file to write (e.g. ``.../gallery/index.html``).
        title: page heading.
        split: data split shown in the header (default: the ``split`` column
            when it holds one value).

    Returns:
        The path written.

    Raises:
        ValueError: a required column is missing.
    """
    missing = [c for c in GALLERY_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"gallery rows lack column(s) {missing}; need {list(GALLERY_COLUMNS)}")
    if split is None and "split" in rows.columns and rows["split"].nunique() == 1:
        split = str(rows["split"].iloc[0])
    ordered = gallery_order(rows)
    errors = ordered[ordered["is_error"]]
    correct = ordered[~ordered["is_error"]]
    sections, rank = [], 1
    for heading, block in (("Errors", errors), ("Correct images", correct)):
        if heading == "Correct images" and not len(block):
            continue
        panels = [_panel(row, rank + i) for i, (_, row) in enumerate(block.iterrows())]
        rank += len(panels)
        sections.append({"heading": heading, "panels": panels})
    page = render("gallery.html.j2", title=title, summary=_header(ordered, split), sections=sections)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
