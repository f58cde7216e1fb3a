"""One-to-one joins of per-image tables on ``image_id`` that never drop rows silently."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from data.errors import ConfigError, JoinError, first_few

KEY = "image_id"
_HOWS = ("inner", "left")
_ALLOW = (None, "left", "right", "both")


def _check_side(table: object, name: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise JoinError(f"table {name!r} must be a pandas DataFrame, got {type(table).__name__}")
    if KEY not in table.columns:
        raise JoinError(
            f"table {name!r} has no {KEY!r} column; columns are {sorted(map(str, table.columns))}"
        )
    ids = table[KEY]
    null = ids.isna().to_numpy()
    if null.any():
        raise JoinError(f"table {name!r} has {int(null.sum())} row(s) with a missing {KEY!r}")
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        raise JoinError(
            f"table {name!r} has duplicated {KEY!r} value(s) {first_few(pd.unique(dup))}; "
            "expected one row per image"
        )
    return table


def _same_values(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Elementwise equality treating NaN == NaN as equal."""
    a_vals, b_vals = a.to_numpy(dtype=object), b.to_numpy(dtype=object)
    eq = np.array([x == y for x, y in zip(a_vals, b_vals)], dtype=bool)
    both_na = pd.isna(a).to_numpy() & pd.isna(b).to_numpy()
    return eq | both_na


def join_on_image_id(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    left_name: str = "left",
    right_name: str = "right",
    how: Literal["inner", "left"] = "inner",
    allow_missing: Literal["left", "right", "both"] | None = None,
) -> pd.DataFrame:
    """Join two per-image tables on ``image_id``, refusing anything but a clean match.

    Rules (every violation raises :class:`JoinError` naming the table and the
    first few offending ids):

    * both tables need an ``image_id`` column without missing or duplicated values;
    * ``how='inner'`` requires identical id sets: ids of ``left`` absent from
      ``right`` and vice versa are errors;
    * ``how='left'`` keeps every left row (right columns NaN where ``right`` lacks
      the id) but ids present only in ``right`` are errors, since they would be dropped;
    * ``allow_missing`` explicitly permits ids to be missing from one side:
      ``'right'`` lets ``right`` lack ids of ``left``, ``'left'`` lets ``left``
      lack ids of ``right``, ``'both'`` both. The rows so dropped are listed in
      ``result.attrs['dropped_ids'] = {'left': [...], 'right': [...]}``;
    * a non-key column present in both tables is an error unless its values agree
      on every shared id (NaN equals NaN); agreeing columns appear once.

    Inputs are not modified. Row order follows ``left``.

    Args:
        left: first table.
        right: second table.
        left_name: name of ``left`` in error messages.
        right_name: name of ``right`` in error messages.
        how: ``'inner'`` or ``'left'``.
        allow_missing: ``None`` (strict), ``'left'``, ``'right'`` or ``'both'``.

    Returns:
        The joined DataFrame with a fresh RangeIndex.

    Raises:
        JoinError: on any mismatch described above.
        ConfigError: on an unknown ``how`` or ``allow_missing``.
    """
    if how not in _HOWS:
        raise ConfigError(f"how must be one of {list(_HOWS)}, got {how!r}")
    if allow_missing not in _ALLOW:
        raise ConfigError(f"allow_missing must be one of {list(_ALLOW)}, got {allow_missing!r}")
    _check_side(left, left_name)
    _check_side(right, right_name)

    left_ids, right_ids = left[KEY], right[KEY]
    types_l = {type(v).__name__ for v in left_ids}
    types_r = {type(v).__name__ for v in right_ids}
    if types_l != types_r:
        raise JoinError(
            f"{KEY!r} types differ: {left_name!r} has {sorted(types_l)}, {right_name!r} has {sorted(types_r)}; "
            "expected the same (string) ids in both"
        )
    right_set, left_set = set(right_ids), set(left_ids)
    only_left = [i for i in left_ids if i not in right_set]
    only_right = [i for i in right_ids if i not in left_set]
    may_miss_right = allow_missing in ("right", "both")
    may_miss_left = allow_missing in ("left", "both")
    if only_left and how == "inner" and not may_miss_right:
        raise JoinError(
            f"{len(only_left)} image_id(s) of {left_name!r} are missing from {right_name!r}: "
            f"{first_few(only_left)}; expected identical id sets (pass allow_missing='right' to drop them)"
        )
    if only_right and not may_miss_left:
        raise JoinError(
            f"{len(only_right)} image_id(s) of {right_name!r} are missing from {left_name!r}: "
            f"{first_few(only_right)}; expected identical id sets (pass allow_missing='left' to drop them)"
        )

    overlap = [c for c in left.columns if c != KEY and c in right.columns]
    shared = left[[KEY]].merge(right[[KEY]], on=KEY, how="inner")[KEY]
    right_drop = []
    for col in overlap:
        lv = left.set_index(KEY).loc[shared, col]
        rv = right.set_index(KEY).loc[shared, col]
        same = _same_values(lv, rv)
        if not same.all():
            bad = list(shared[~same])
            raise JoinError(
                f"column {col!r} is in both {left_name!r} and {right_name!r} with different values for "
                f"image_id(s) {first_few(bad)}; rename or drop it in one table"
            )
        right_drop.append(col)

    out = left.merge(right.drop(columns=right_drop), on=KEY, how=how, sort=False, validate="one_to_one")
    out = out.reset_index(drop=True)
    out.attrs = {
        "dropped_ids": {
            "left": list(only_left) if how == "inner" else [],
            "right": list(only_right),
        }
    }
    return out
