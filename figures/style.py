"""The only place that sets matplotlib style for the toolkit's figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; no display is ever needed

import matplotlib.pyplot as plt  # noqa: E402

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


def figure(*args, **kwargs):
    """``plt.subplots`` under the toolkit's style."""
    with plt.rc_context(RC):
        return plt.subplots(*args, **kwargs)


def save(fig, path) -> None:
    """Save and close a figure (PNG by the path's suffix)."""
    with plt.rc_context(RC):
        fig.savefig(path)
    plt.close(fig)
