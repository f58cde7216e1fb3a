"""One PNG per image: the X-ray, its Grad-CAM and its Integrated Gradients side by side, with a caption.

The panel is what a reader looks at to judge a single error: where the model
looked (Grad-CAM), which pixels pushed the score up or down (IG, signed), where
the lungs are (outline on every column) and the numbers that the statistics use
(quality metrics, saliency lung share, IG completeness) in a caption below.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib import colors as mcolors
from matplotlib.cm import ScalarMappable

from figures.style import OUTCOME_COLOURS, figure, save

#: Width of one image column in inches (about 480 px at the style's 110 dpi).
COLUMN_INCHES = 4.4
#: Height of one caption line in inches.
LINE_INCHES = 0.24
LUNG_OUTLINE = "#00e5ff"
GRADCAM_CMAP = "jet"
GRADCAM_MAX_ALPHA = 0.6
IG_CMAP = "RdBu_r"
IG_PERCENTILE = 99.0
WARNING_COLOUR = "#c00000"

#: Caption keys shown as quality metrics: key -> (label, format).
QUALITY_KEYS = {
    "q_laplacian_var": ("Laplacian var", ".3g"),
    "q_rms_contrast": ("RMS contrast", ".3g"),
    "q_highfreq_share": ("high-freq share", ".3g"),
    "q_mean": ("mean intensity", ".3g"),
}


def _first(caption: Mapping, *keys: str) -> object:
    """First non-missing value of ``keys`` in ``caption`` (None when all are missing)."""
    for key in keys:
        value = caption.get(key)
        if not _missing(value):
            return value
    return None


def _missing(value: object) -> bool:
    """True for None and float NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_false(value: object) -> bool:
    """True for False, numpy False, 0 and the strings 'false'/'0' (a flag read back from a CSV); not for missing."""
    if _missing(value):
        return False
    if isinstance(value, str):
        return value.strip().lower() in ("false", "0", "no")
    return not bool(value)


def _fmt(value: object, spec: str) -> str:
    """Format a number with ``spec``; text for anything that is not a number."""
    try:
        return format(float(value), spec)
    except (TypeError, ValueError):
        return str(value)


def ig_limit(ig: np.ndarray, percentile: float = IG_PERCENTILE) -> float:
    """Symmetric colour limit for signed IG attributions: a robust percentile of ``|ig|``.

    Args:
        ig: (H, W) signed attributions (NaN ignored).
        percentile: percentile of the absolute values used as the limit.

    Returns:
        A positive float; falls back to the maximum, then 1.0, for all-zero maps.
    """
    mag = np.abs(np.asarray(ig, dtype=np.float64))
    mag = mag[np.isfinite(mag)]
    if mag.size == 0:
        return 1.0
    lim = float(np.percentile(mag, percentile))
    if lim <= 0:
        lim = float(mag.max())
    return lim if lim > 0 else 1.0


def _extent(shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """imshow extent placing a (h, w) array over pixel centres 0..w-1, 0..h-1."""
    h, w = shape
    return (-0.5, w - 0.5, h - 0.5, -0.5)


def _show_xray(ax, image: np.ndarray) -> None:
    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="antialiased")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _draw_outline(ax, lung_mask: np.ndarray | None, image_shape: tuple[int, int]) -> None:
    """Outline the lung mask (rescaled to the image when its size differs)."""
    if lung_mask is None:
        return
    mask = np.asarray(lung_mask).astype(np.float32)
    if mask.ndim != 2 or not mask.any() or mask.all():
        return
    h, w = image_shape
    mh, mw = mask.shape
    xs = (np.arange(mw) + 0.5) * (w / mw) - 0.5
    ys = (np.arange(mh) + 0.5) * (h / mh) - 0.5
    ax.contour(xs, ys, mask, levels=[0.5], colors=[LUNG_OUTLINE], linewidths=1.6)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)


def _small_colourbar(fig, cax, mappable, label: str, ticks: list[float] | None = None,
                     ticklabels: list[str] | None = None) -> None:
    """A thin horizontal colourbar in ``cax`` (its own axes under the image, so the image keeps its size)."""
    cbar = fig.colorbar(mappable, cax=cax, orientation="horizontal")
    if ticks is not None:
        cbar.set_ticks(ticks, labels=ticklabels)
    cbar.set_label(label, fontsize=8.5, labelpad=1)
    cbar.ax.tick_params(labelsize=8, length=2, pad=1)


def _draw_gradcam(fig, ax, cax, image: np.ndarray, cam: np.ndarray, explained: str) -> None:
    """Grad-CAM over the X-ray with the 'jet' colormap; opacity grows with the value, so cold areas stay visible."""
    _show_xray(ax, image)
    cam = np.clip(np.nan_to_num(np.asarray(cam, dtype=np.float32)), 0.0, 1.0)
    ax.imshow(cam, cmap=GRADCAM_CMAP, vmin=0.0, vmax=1.0, alpha=cam * GRADCAM_MAX_ALPHA,
              extent=_extent(image.shape), interpolation="bilinear")
    mappable = ScalarMappable(mcolors.Normalize(0.0, 1.0), GRADCAM_CMAP)
    _small_colourbar(fig, cax, mappable, f"Grad-CAM for {explained} (opacity grows with value)", [0, 0.5, 1], ["0", "0.5", "1"])


def _draw_ig(fig, ax, cax, image: np.ndarray, ig: np.ndarray, explained: str) -> None:
    """Signed IG over the X-ray: red pushes towards the explained class, blue away; opacity grows with |IG|."""
    _show_xray(ax, image)
    values = np.nan_to_num(np.asarray(ig, dtype=np.float32))
    lim = ig_limit(values)
    norm = mcolors.Normalize(-lim, lim)
    alpha = np.clip(np.abs(values) / lim, 0.0, 1.0) * 0.9
    ax.imshow(values, cmap=IG_CMAP, norm=norm, alpha=alpha, extent=_extent(image.shape),
              interpolation="antialiased")
    _small_colourbar(fig, cax, ScalarMappable(norm, IG_CMAP),
                     f"IG: red towards {explained}, blue away (limits: {IG_PERCENTILE:.0f}th pct of |IG|)",
                     [-lim, 0.0, lim], [f"-{lim:.2g}", "0", f"+{lim:.2g}"])


def _headline(caption: Mapping) -> str:
    """'id | true X | predicted Y | P(pneumonia) = 0.873' from what the caption has."""
    parts = []
    image_id = _first(caption, "image_id")
    if image_id is not None:
        parts.append(str(image_id))
    label = _first(caption, "label", "true_label")
    if label is not None:
        parts.append(f"true {label}")
    pred = _first(caption, "pred", "prediction")
    if pred is not None:
        parts.append(f"predicted {pred}")
    p = _first(caption, "p_pneumonia")
    if p is not None:
        parts.append(f"P(pneumonia) = {_fmt(p, '.3f')}")
    # Non-breaking spaces inside a part, so wrapping only breaks between parts.
    return "\u00a0\u00a0|   ".join(part.replace(" ", "\u00a0") for part in parts)


def _quality_line(caption: Mapping) -> str | None:
    parts = [f"{name} {_fmt(caption[k], spec)}" for k, (name, spec) in QUALITY_KEYS.items()
             if not _missing(caption.get(k))]
    return ("Quality: " + ", ".join(parts)) if parts else None


def _tolerance(caption: Mapping, key: str) -> str | None:
    """``tolerance 1%`` for a tolerance the run recorded, ``not checked`` for one switched off, else None."""
    if key not in caption:
        return None
    value = caption[key]
    return "not checked" if _missing(value) else f"tolerance {100 * float(value):g}%"


def _in_parentheses(text: str | None) -> str:
    return f" ({text})" if text else ""


def _saliency_line(caption: Mapping) -> str | None:
    parts = []
    for method, name in (("gradcam", "Grad-CAM"), ("ig", "IG")):
        share = caption.get(f"{method}_lung_share")
        if not _missing(share):
            parts.append(f"{name} lung share {_fmt(share, '.2f')}")
        peak = caption.get(f"{method}_peak_in_lung")
        if not _missing(peak):
            parts.append(f"{name} peak {'in' if float(peak) >= 0.5 else 'OUTSIDE'} lungs")
    err = _first(caption, "ig_completeness_error")
    evaluations = _first(caption, "ig_evaluations")
    steps = _first(caption, "ig_steps", "ig_steps_used")  # tables written before adaptive quadrature
    if err is not None or evaluations is not None or steps is not None:
        text = "IG completeness error " + (f"{100 * float(err):.2f}%" if err is not None else "n/a")
        how = [f"{int(evaluations)} evaluations" if evaluations is not None
               else f"{int(steps)} steps" if steps is not None else None, _tolerance(caption, "ig_tol")]
        text += _in_parentheses("; ".join(h for h in how if h))
        change = _first(caption, "ig_half_rule_change")
        if change is not None:
            text += (f", map change vs half the nodes {100 * float(change):.1f}%"
                     + _in_parentheses(_tolerance(caption, "ig_pixel_tol")))
        parts.append(text)
    return ("Saliency: " + ", ".join(parts)) if parts else None


def _warning_lines(caption: Mapping) -> list[str]:
    lines = []
    if _is_false(caption.get("lung_mask_plausible")):
        reasons = caption.get("lung_mask_reasons")
        why = f": {'; '.join(map(str, reasons))}" if reasons else ""
        lines.append(f"WARNING: lung mask flagged implausible{why}; lung shares are unreliable")
    if _is_false(caption.get("ig_converged")):
        err = _first(caption, "ig_completeness_error")
        change = _first(caption, "ig_half_rule_change")
        how = ([f"completeness error {100 * float(err):.1f}%" + _in_parentheses(_tolerance(caption, "ig_tol"))]
               if err is not None else [])
        if change is not None:
            how.append(f"map change vs half the nodes {100 * float(change):.1f}%"
                       + _in_parentheses(_tolerance(caption, "ig_pixel_tol")))
        how = f" ({', '.join(how)})" if how else ""
        lines.append(f"WARNING: Integrated Gradients did not converge{how}: the IG map is not a faithful "
                     "attribution and this image is left out of IG statistics")
    for text in caption.get("warnings") or []:
        lines.append(f"WARNING: {text}")
    return lines


def caption_lines(caption: Mapping) -> tuple[list[str], list[str]]:
    """Plain caption lines and warning lines for a panel (keys may be missing).

    Args:
        caption: see :func:`draw_panel`.

    Returns:
        (info lines, warning lines); the outcome badge is drawn separately.
    """
    lines = [line for line in (_headline(caption), _quality_line(caption), _saliency_line(caption)) if line]
    lines += [str(line) for line in caption.get("context") or []]  # per-error context (figures.context)
    return lines, _warning_lines(caption)


HEAD_SIZE, LINE_SIZE = 12.0, 10.5


def _wrap(text: str, width_inches: float, size: float, indent: int = 0) -> list[str]:
    """Split ``text`` into lines that fit ``width_inches`` at font ``size`` (points)."""
    chars = max(20, int(width_inches * 72 / (size * 0.58)) - indent)
    return textwrap.wrap(text, chars, break_long_words=True) or [""]


def caption_entries(caption: Mapping, width_inches: float) -> list[tuple[str, str]]:
    """Caption as wrapped (text, kind) lines; kind is 'head', 'info' or 'warn'.

    The first 'head' line carries the outcome badge when ``caption`` has an outcome.
    """
    lines, warnings = caption_lines(caption)
    head = _headline(caption)
    entries: list[tuple[str, str]] = []
    if head or _first(caption, "outcome") is not None:
        entries += [(t, "head") for t in _wrap(head, width_inches, HEAD_SIZE, indent=6)]
    entries += [(t, "info") for line in lines if line != head for t in _wrap(line, width_inches, LINE_SIZE)]
    entries += [(t, "warn") for line in warnings for t in _wrap(line, width_inches, LINE_SIZE)]
    return entries


def _draw_caption(ax, caption: Mapping, entries: list[tuple[str, str]]) -> None:
    """Caption text into an axis-free strip: outcome badge, headline, then one line per topic."""
    ax.set_axis_off()
    step = 1.0 / max(1, len(entries))
    y = 1.0 - step / 2
    outcome = _first(caption, "outcome")
    style = {"head": dict(fontsize=HEAD_SIZE, fontweight="bold"), "info": dict(fontsize=LINE_SIZE),
             "warn": dict(fontsize=LINE_SIZE, fontweight="bold", color=WARNING_COLOUR)}
    for i, (text, kind) in enumerate(entries):
        if i == 0 and kind == "head" and outcome is not None:
            badge = ax.text(0.0, y, f" {outcome} ", transform=ax.transAxes, va="center", ha="left",
                            fontsize=HEAD_SIZE, fontweight="bold", color="white",
                            bbox=dict(boxstyle="round,pad=0.25", fc=OUTCOME_COLOURS.get(str(outcome), "#555555"),
                                      ec="none"))
            ax.annotate(text, xy=(1.0, 0.5), xycoords=badge, xytext=(10, 0), textcoords="offset points",
                        va="center", ha="left", **style[kind])
        else:
            ax.text(0.0, y, text, transform=ax.transAxes, va="center", ha="left", **style[kind])
        y -= step


def _layout(shape: tuple[int, int], n_columns: int, n_lines: int) -> dict:
    """Figure size (inches) and axes rectangles (figure fractions) for a panel.

    From the top: column titles, images (one per column, the image's aspect,
    clamped), a strip for the colourbars and their labels, the caption lines.
    """
    h, w = shape
    gap, title = 0.12, 0.35
    bars = 0.75 if n_columns > 1 else 0.15  # only map columns have colourbars
    img_w = COLUMN_INCHES - gap
    img_h = img_w * min(1.4, max(0.25, h / w))
    cap_h = LINE_INCHES * max(1, n_lines) + 0.1
    width = COLUMN_INCHES * n_columns
    height = title + img_h + bars + cap_h
    columns = [[(gap / 2 + c * COLUMN_INCHES) / width, (cap_h + bars) / height, img_w / width, img_h / height]
               for c in range(n_columns)]
    colourbars = [[(gap / 2 + c * COLUMN_INCHES + 0.1 * img_w) / width, (cap_h + bars - 0.22) / height,
                   0.8 * img_w / width, 0.1 / height] for c in range(n_columns)]
    return {"width": width, "height": height, "columns": columns, "colourbars": colourbars,
            "caption": [gap / 2 / width, 0.0, 1.0 - gap / width, cap_h / height]}


def _check_inputs(image: np.ndarray, maps: Mapping[str, np.ndarray | None]) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D grayscale array, got shape {image.shape}")
    for name, value in maps.items():
        if value is not None and np.asarray(value).ndim != 2:
            raise ValueError(f"{name} must be a 2-D array, got shape {np.asarray(value).shape}")
    return image


def draw_panel(
    image: np.ndarray,
    *,
    gradcam: np.ndarray | None = None,
    ig: np.ndarray | None = None,
    lung_mask: np.ndarray | None = None,
    caption: Mapping,
    path: str | Path,
) -> Path:
    """Draw X-ray | Grad-CAM overlay | IG overlay side by side with a caption below, into a PNG.

    Maps may have another resolution than the image (they are stretched over
    it). No input is modified.

    Args:
        image: float (H, W) X-ray in [0, 1].
        gradcam: (h, w) Grad-CAM in [0, 1], or None to omit the column.
        ig: (h, w) signed Integrated Gradients attributions, or None to omit the
            column. Shown with a diverging colormap centred at 0, limits at the
            99th percentile of |IG|.
        lung_mask: bool (h, w) lung fields, outlined on every column, or None.
        caption: any of ``image_id``, ``label`` (truth), ``pred``,
            ``p_pneumonia``, ``outcome`` (TP/TN/FP/FN, coloured badge),
            ``q_laplacian_var``, ``q_rms_contrast``, ``q_highfreq_share``,
            ``q_mean``, ``gradcam_lung_share``, ``ig_lung_share``,
            ``gradcam_peak_in_lung``, ``ig_peak_in_lung``,
            ``ig_completeness_error`` (relative, 0.01 = 1 %), ``ig_evaluations``
            (or ``ig_steps`` of older tables), ``ig_half_rule_change`` (relative L2
            change of the map against every other node), ``ig_converged`` (False: a warning line),
            ``lung_mask_plausible`` (False adds a warning line, with
            ``lung_mask_reasons``), ``warnings`` (list of strings, one warning
            line each), ``explained_class`` (the class the maps explain, default
            PNEUMONIA; colourbar labels name it). Missing keys are left out.
        path: output PNG.

    Returns:
        The path written.
    """
    image = _check_inputs(image, {"gradcam": gradcam, "ig": ig, "lung_mask": lung_mask})
    explained = str(caption.get("explained_class", "PNEUMONIA"))
    columns = [("X-ray", None)]
    if gradcam is not None:
        columns.append(("Grad-CAM", gradcam))
    if ig is not None:
        columns.append(("Integrated Gradients", ig))
    entries = caption_entries(caption, COLUMN_INCHES * len(columns) - 0.2)
    layout = _layout(image.shape, len(columns), len(entries))
    fig, cap_ax = figure(figsize=(layout["width"], layout["height"]))
    cap_ax.set_position(layout["caption"])
    for col, (title, data) in enumerate(columns):
        ax = fig.add_axes(layout["columns"][col])
        if title == "X-ray":
            _show_xray(ax, image)
        elif title == "Grad-CAM":
            _draw_gradcam(fig, ax, fig.add_axes(layout["colourbars"][col]), image, data, explained)
        else:
            _draw_ig(fig, ax, fig.add_axes(layout["colourbars"][col]), image, data, explained)
        _draw_outline(ax, lung_mask, image.shape)
        ax.set_title(title + (" (lung outline in cyan)" if col == 0 and lung_mask is not None else ""),
                     fontsize=12)
    _draw_caption(cap_ax, caption, entries)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save(fig, path)
    return path
