"""JSON-safe conversion: the one converter every ``*.json`` writer uses.

NaN and +-inf become ``null`` (so files pass ``json.dumps(..., allow_nan=False)``),
numpy scalars and arrays become Python numbers and lists, data frames become a
list of row records, paths become strings, objects with ``to_dict()`` are
converted through it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict

import numpy as np
import pandas as pd


def nan_to_none(value: object) -> object:
    """Map a NaN/inf float to None and numpy scalars to Python scalars; anything else unchanged."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def jsonable(obj: object) -> object:
    """Recursively convert ``obj`` to JSON-safe Python types (NaN -> None, frames -> records, paths -> str)."""
    if isinstance(obj, pd.DataFrame):
        return [jsonable(rec) for rec in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, np.ndarray)):
        return [jsonable(v) for v in list(obj)]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return jsonable(obj.to_dict())
    if obj is pd.NA or obj is pd.NaT or obj is None:
        return None
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, (str, int, float, bool)):
        return nan_to_none(obj)
    return str(obj)


class JsonFields:
    """Mixin for result dataclasses: ``to_dict()`` with NaN as None and numpy scalars as Python."""

    def to_dict(self) -> dict:
        """JSON-safe dict of all fields (NaN -> None)."""
        return {k: nan_to_none(v) for k, v in asdict(self).items()}
