"""Classification metrics of a trained model: re-exported from :mod:`stats` (their one home).

Kept so ``training.metrics.binary_metrics`` and friends keep working; new code
imports from :mod:`stats.classification` and :mod:`stats.intervals`.
"""

from __future__ import annotations

from stats.classification import binary_metrics, expected_calibration_error  # noqa: F401
from stats.intervals import SMALL_SPLIT, format_metric, wilson_interval  # noqa: F401
