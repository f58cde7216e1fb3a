"""The only place that sets matplotlib style for the toolkit's figures, and the record of what each drew."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display is ever needed

from matplotlib import rc_context  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

OUTCOME_COLOURS = {"TP": "#1b9e77", "TN": "#7570b3", "FP": "#d95f02", "FN": "#e7298a"}
RC = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_COLOUR_NAMES = {colour: outcome for outcome, colour in OUTCOME_COLOURS.items()}


@dataclass(frozen=True)
class PointSet:
    """One scatter series as drawn: its outcome (from the colour) and where its points lie.

    Attributes:
        group: the outcome whose colour it has (TP, TN, FP, FN), else the hex colour.
        n: number of points.
        x_mean, y_mean: centre of the points in data coordinates (NaN when n == 0).
    """

    group: str
    n: int
    x_mean: float
    y_mean: float


@dataclass(frozen=True)
class AxesContent:
    """What one axes shows: title, tick labels, free texts and scatter series (in drawing order)."""

    title: str
    xticklabels: tuple[str, ...]
    yticklabels: tuple[str, ...]
    texts: tuple[str, ...]
    points: tuple[PointSet, ...]
    images: int


@dataclass(frozen=True)
class Drawn:
    """A figure written to ``path`` and the content of its visible axes.

    Path-like (``os.fspath(drawn)`` is the file), so it can stand wherever a path is expected.
    """

    path: Path
    suptitle: str
    axes: tuple[AxesContent, ...]

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def texts(self) -> str:
        """Every title, tick label and text of the figure, one per line (for searching)."""
        parts = [self.suptitle]
        for ax in self.axes:
            parts += [ax.title, *ax.xticklabels, *ax.yticklabels, *ax.texts]
        return "\n".join(p for p in parts if p)


def _points(collection) -> PointSet | None:
    offsets = collection.get_offsets()
    if not hasattr(offsets, "shape") or offsets.ndim != 2 or offsets.shape[1] != 2:
        return None
    faces = collection.get_facecolor()
    colour = to_hex(faces[0], keep_alpha=False) if len(faces) else "none"
    n = int(offsets.shape[0])
    x = float(offsets[:, 0].mean()) if n else float("nan")
    y = float(offsets[:, 1].mean()) if n else float("nan")
    return PointSet(_COLOUR_NAMES.get(colour, colour), n, x, y)


def describe(fig) -> tuple[str, tuple[AxesContent, ...]]:
    """The suptitle and the content of every visible axes of ``fig`` (read back from matplotlib)."""
    axes = []
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison and not ax.texts:
            continue
        points = tuple(p for p in (_points(c) for c in ax.collections) if p is not None)
        axes.append(AxesContent(
            title=ax.get_title(), xticklabels=tuple(t.get_text() for t in ax.get_xticklabels()),
            yticklabels=tuple(t.get_text() for t in ax.get_yticklabels()),
            texts=tuple(t.get_text() for t in ax.texts), points=points, images=len(ax.images)))
    suptitle = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    return suptitle, tuple(axes)


#: Keywords of ``plt.subplots`` that go to ``Figure.subplots``; the others go to ``Figure``.
_SUBPLOTS_KEYWORDS = {"sharex", "sharey", "squeeze", "width_ratios", "height_ratios", "subplot_kw", "gridspec_kw"}


def figure(*args, **kwargs):
    """``plt.subplots`` under the toolkit's style: ``(fig, axes)``, same arguments.

    A bare :class:`~matplotlib.figure.Figure`, not a pyplot one: no global figure registry, so
    nothing to close, and no ``gc.collect`` per figure (pyplot runs one on every close, ~0.2 s
    with torch loaded).
    """
    sub = {k: kwargs.pop(k) for k in list(kwargs) if k in _SUBPLOTS_KEYWORDS}
    with rc_context(RC):
        fig = Figure(**kwargs)
        return fig, fig.subplots(*args, **sub)


#: zlib level of saved PNGs (1 = fastest; the default 6 spent a quarter of the report's drawing time).
PNG_COMPRESS_LEVEL = 1


def save(fig, path) -> Drawn:
    """Save a figure (PNG by the path's suffix); returns what it drew."""
    with rc_context(RC):
        if Path(path).suffix.lower() == ".png":
            # zlib level 1: a quarter of the encoding time of the default (6) for ~1.3x the bytes.
            fig.savefig(path, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
        else:
            fig.savefig(path)
    suptitle, axes = describe(fig)
    return Drawn(Path(path), suptitle, axes)
