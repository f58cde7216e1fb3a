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

NORMAL = "NORMAL"
PNEUMONIA = "PNEUMONIA"
OUTCOMES = ("TP", "TN", "FP", "FN")
#: Outcome -> true label it implies.
OUTCOME_TRUTH = {"TP": PNEUMONIA, "FN": PNEUMONIA, "TN": NORMAL, "FP": NORMAL}
#: Outcome -> predicted label it implies.
OUTCOME_PRED = {"TP": PNEUMONIA, "FP": PNEUMONIA, "TN": NORMAL, "FN": NORMAL}


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


def nan_to_none(value: object) -> object:
    """Map NaN/inf floats to None and numpy scalars to Python scalars (for JSON)."""
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def jsonable(obj: object) -> object:
    """Recursively convert ``obj`` to JSON-safe Python types (NaN -> None, frames -> records)."""
    if isinstance(obj, pd.DataFrame):
        return [jsonable(rec) for rec in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in list(obj)]
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return jsonable(obj.to_dict())
    if obj is pd.NA or obj is pd.NaT:
        return None
    return nan_to_none(obj)


class JsonFields:
    """Mixin for result dataclasses: ``to_dict()`` with NaN as None and numpy scalars as Python."""

    def to_dict(self) -> dict:
        """JSON-safe dict of all fields (NaN -> None)."""
        from dataclasses import asdict

        return {k: nan_to_none(v) for k, v in asdict(self).items()}
