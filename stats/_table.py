"""Validation helpers shared by the stats modules (internal).

The aligned table has one row per image with ``label`` (truth) and ``outcome``
in {TP, TN, FP, FN}, PNEUMONIA being the positive class. These helpers check
that contract and pull numeric columns out without mutating the input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from data.errors import ConfigError, first_few  # noqa: F401  (re-exported for stats)
from data.jsonsafe import JsonFields, jsonable, nan_to_none  # noqa: F401  (re-exported for stats)
from data.labels import NORMAL, OUTCOME_PRED, OUTCOME_TRUTH, OUTCOMES, PNEUMONIA  # noqa: F401


def require_frame(table: object, name: str = "table") -> pd.DataFrame:
    """Raise ConfigError unless ``table`` is a non-empty DataFrame."""
    if not isinstance(table, pd.DataFrame):
        raise ConfigError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    if len(table) == 0:
        raise ConfigError(f"{name} is empty; expected one row per image")
    return table


def require_columns(table: pd.DataFrame, columns: Sequence[str], name: str = "table") -> None:
    """Raise ConfigError naming every column of ``columns`` absent from ``table``."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ConfigError(
            f"{name} lacks column(s) {missing}; available columns: {sorted(map(str, table.columns))}"
        )


def _row_ids(table: pd.DataFrame, mask: np.ndarray) -> list[object]:
    ids = table["image_id"] if "image_id" in table.columns else pd.Series(table.index, index=table.index)
    return list(ids[mask])


def validate_outcomes(table: pd.DataFrame, name: str = "table") -> None:
    """Check ``outcome`` values and their consistency with ``label`` (and ``pred`` if present).

    Raises:
        ConfigError: unknown outcome values, or an outcome contradicting the
            label/prediction of its row (first few image ids named).
    """
    require_frame(table, name)
    require_columns(table, ["outcome", "label"], name)
    outcome = table["outcome"]
    bad = ~outcome.isin(OUTCOMES).to_numpy()
    if bad.any():
        raise ConfigError(
            f"{name}.outcome must be one of {list(OUTCOMES)}; got {first_few(pd.unique(outcome[bad]))} "
            f"for image_id(s) {first_few(_row_ids(table, bad))}"
        )
    checks = [("label", OUTCOME_TRUTH, "TP/FN for PNEUMONIA, TN/FP for NORMAL"),
              ("pred", OUTCOME_PRED, "TP/FP for PNEUMONIA, TN/FN for NORMAL")]
    for column, implied_by_outcome, expected in checks:
        if column not in table.columns:
            continue  # label is required above; pred is optional
        bad = (outcome.map(implied_by_outcome) != table[column]).to_numpy()
        if bad.any():
            raise ConfigError(
                f"{name}: outcome contradicts {column} (expected {expected}) "
                f"for image_id(s) {first_few(_row_ids(table, bad))}"
            )


def numeric_column(table: pd.DataFrame, column: str, name: str = "table") -> np.ndarray:
    """Return ``table[column]`` as a float array (NaN kept), raising ConfigError if non-numeric."""
    require_columns(table, [column], name)
    series = table[column]
    if series.dtype == bool:
        return series.to_numpy(dtype=float)
    try:
        return pd.to_numeric(series, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{name}.{column} must be numeric; {exc}") from None


def as_float_array(values: object, name: str) -> np.ndarray:
    """Convert a 1-D array-like to float, raising ConfigError on non-numeric or non-1-D input."""
    try:
        arr = np.asarray(values, dtype=float)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{name} must be numeric, got {type(values).__name__}: {exc}") from None
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def check_bootstrap(n_boot: object, seed: object) -> tuple[int, object]:
    """Validate ``n_boot`` (int >= 0) and ``seed`` (int or None)."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ConfigError(f"n_boot must be an integer >= 0, got {n_boot!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ConfigError(f"seed must be an integer or None, got {seed!r}")
    return int(n_boot), seed

