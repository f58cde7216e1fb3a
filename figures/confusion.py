"""Figure 1: the confusion matrix with counts and row percentages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from data.labels import CLASSES as LABELS
from data.layout import run_layout
from figures.style import Drawn, figure, save
from stats.intervals import format_metric



def confusion_counts(counts: dict) -> np.ndarray:
    """2x2 matrix (rows: true NORMAL, PNEUMONIA; columns: predicted) from TP/TN/FP/FN counts."""
    return np.array([[counts["TN"], counts["FP"]], [counts["FN"], counts["TP"]]], dtype=int)


def draw_confusion(matrix: np.ndarray, path: str | Path, *, title: str = "", subtitle: str = "") -> Drawn:
    """Draw a 2x2 confusion matrix with counts and row percentages into a PNG.

    Args:
        matrix: (2, 2) int counts, rows = truth, columns = prediction, order NORMAL, PNEUMONIA.
        path: output PNG.
        title: figure title (e.g. the split and n).
        subtitle: second line (e.g. accuracy with its interval).

    Returns:
        :class:`figures.style.Drawn`: the path written; its texts hold each cell's count.
    """
    matrix = np.asarray(matrix, dtype=int)
    if matrix.shape != (2, 2):
        raise ValueError(f"confusion matrix must be 2x2, got shape {matrix.shape}")
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, float), where=rows > 0)
    fig, ax = figure(figsize=(4.6, 4.0))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(2):
        for j in range(2):
            colour = "white" if share[i, j] > 0.6 else "black"
            ax.text(j, i, f"{matrix[i, j]}\n{100 * share[i, j]:.1f}% of row", ha="center", va="center",
                    color=colour, fontsize=11)
    ax.set_xticks([0, 1], [f"pred {n}" for n in LABELS])
    ax.set_yticks([0, 1], [f"true {n}" for n in LABELS])
    ax.set_title(title + (f"\n{subtitle}" if subtitle else ""), fontsize=10)
    return save(fig, path)


def draw_figure1(run_dir: str | Path) -> list[Drawn]:
    """Figure 1 of a run: ``confusion_<split>.png`` for every split in its ``metrics.json``."""
    run = run_layout(run_dir)
    metrics = json.loads(run.metrics.read_text())
    info = json.loads(run.run_info.read_text())
    paths = []
    for split, m in metrics.items():
        paths.append(draw_confusion(
            confusion_counts(m["counts"]), run.confusion(split),
            title=f"Figure 1 - {split} split, n={m['n']} ({info['config']['arch']}, init {info['weights']['init']})",
            subtitle=f"accuracy {format_metric(m['accuracy'])}"))
    return paths
