"""Fixtures for the figures tests: a seeded per-image table and its analysis."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import GEOMETRY, LOCALISATION, QUALITY, outcome_table


@pytest.fixture(scope="session")
def table() -> pd.DataFrame:
    """150 TP, 120 TN, 40 FP, 20 FN; FPs have a lower Laplacian variance."""
    return outcome_table({"TP": 150, "TN": 120, "FP": 40, "FN": 20}, seed=3)


@pytest.fixture(scope="session")
def analysis(table: pd.DataFrame) -> dict:
    """``stats.analysis.analyse`` output for :func:`table` (tests may import stats; figures may not)."""
    from stats.analysis import analyse

    return analyse(table, quality_metrics=QUALITY, localisation_metrics=LOCALISATION, geometry=GEOMETRY,
                   n_boot=100, seed=0)
