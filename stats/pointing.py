"""Pointing game per outcome: the share of images whose saliency peak lies in the lungs, with Wilson intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.labels import OUTCOMES
from stats.intervals import proportion


def pointing_game(table: pd.DataFrame, column: str) -> dict[str, dict]:
    """Share of images with their saliency peak inside the lungs, per outcome.

    Args:
        table: per-image table with ``outcome`` and ``column`` (``{method}_peak_in_lung``:
            1/True = peak in the lung mask, 0/False = outside, NaN = not measured). Not modified.
        column: the peak-in-lung column.

    Returns:
        ``{outcome: proportion dict}`` for TP, TN, FP, FN (:func:`stats.intervals.proportion`:
        ``value`` in [0, 1], ``successes``, ``n`` (measured images only; NaN rows are not
        counted), Wilson 95% ``ci_low``/``ci_high``; NaN value and interval when ``n == 0``, also
        when the column or ``outcome`` is absent).
    """
    out = {}
    for outcome in OUTCOMES:
        if column in table.columns and "outcome" in table.columns:
            picked = pd.to_numeric(table.loc[table["outcome"] == outcome, column], errors="coerce")
            values = picked.to_numpy(dtype=float)
            values = values[np.isfinite(values)]
        else:
            values = np.empty(0)
        out[outcome] = proportion(int(np.round(values).sum()) if values.size else 0, int(values.size))
    return out
