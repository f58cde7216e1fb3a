"""Tests for stats.join.join_on_image_id."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.errors import ConfigError, JoinError
from data.join import join_on_image_id


def frames():
    left = pd.DataFrame({"image_id": ["a", "b", "c"], "label": ["NORMAL", "PNEUMONIA", "NORMAL"]})
    right = pd.DataFrame({"image_id": ["c", "a", "b"], "q_mean": [0.3, 0.1, 0.2]})
    return left, right


def test_inner_join_one_to_one_keeps_left_order():
    left, right = frames()
    out = join_on_image_id(left, right)
    assert list(out["image_id"]) == ["a", "b", "c"]
    assert list(out["q_mean"]) == [0.1, 0.2, 0.3]
    assert out.attrs["dropped_ids"] == {"left": [], "right": []}


@pytest.mark.parametrize("side", ["left", "right"])
def test_duplicate_ids_name_table_and_ids(side):
    left, right = frames()
    if side == "left":
        left = pd.concat([left, left.iloc[[1]]], ignore_index=True)
    else:
        right = pd.concat([right, right.iloc[[0]]], ignore_index=True)
    with pytest.raises(JoinError, match=rf"'{side}_tbl' has duplicated 'image_id'.*'{'b' if side == 'left' else 'c'}'"):
        join_on_image_id(left, right, left_name="left_tbl", right_name="right_tbl")


def test_missing_ids_raise_for_inner_unless_allowed():
    left, right = frames()
    right = right[right.image_id != "b"]
    with pytest.raises(JoinError, match=r"of 'preds' are missing from 'quality'.*\['b'\]"):
        join_on_image_id(left, right, left_name="preds", right_name="quality")
    with pytest.raises(JoinError, match=r"of 'preds' are missing from 'quality'.*\['b'\].*allow_missing='left'"):
        join_on_image_id(right, left, left_name="quality", right_name="preds")
    out = join_on_image_id(left, right, allow_missing="right")
    assert list(out["image_id"]) == ["a", "c"]
    assert out.attrs["dropped_ids"]["left"] == ["b"]


def test_left_join_keeps_rows_but_refuses_right_only_ids():
    left, right = frames()
    sal = pd.DataFrame({"image_id": ["b"], "ig_lung_share": [0.4]})
    out = join_on_image_id(left, sal, how="left")
    assert len(out) == 3 and out["ig_lung_share"].isna().sum() == 2
    extra = pd.DataFrame({"image_id": ["b", "zzz"], "ig_lung_share": [0.4, 0.5]})
    with pytest.raises(JoinError, match="zzz"):
        join_on_image_id(left, extra, how="left")
    assert len(join_on_image_id(left, extra, how="left", allow_missing="left")) == 3


def test_overlapping_columns_error_unless_identical():
    left, right = frames()
    right = right.assign(label=["NORMAL", "NORMAL", "NORMAL"])  # ids c, a, b: only b differs
    with pytest.raises(JoinError, match=r"column 'label'.*\['b'\]"):
        join_on_image_id(left, right)
    same = frames()[1].assign(label=["NORMAL", "NORMAL", "PNEUMONIA"], extra=[np.nan, 1.0, 2.0])
    left2 = left.assign(extra=[1.0, 2.0, np.nan])  # NaN equals NaN
    out = join_on_image_id(left2, same)
    assert list(out.columns) == ["image_id", "label", "extra", "q_mean"]


def test_validation_errors():
    left, right = frames()
    with pytest.raises(JoinError, match="'right' has no 'image_id'"):
        join_on_image_id(left, right.rename(columns={"image_id": "id"}))
    with pytest.raises(JoinError, match="missing 'image_id'"):
        join_on_image_id(left, right.assign(image_id=["a", None, "c"]))
    with pytest.raises(JoinError, match="types differ"):
        join_on_image_id(left.assign(image_id=[1, 2, 3]), right)
    with pytest.raises(ConfigError, match="how"):
        join_on_image_id(left, right, how="outer")
    with pytest.raises(ConfigError, match="allow_missing"):
        join_on_image_id(left, right, allow_missing=True)


def test_inputs_not_mutated():
    left, right = frames()
    lb, rb = left.copy(deep=True), right.copy(deep=True)
    join_on_image_id(left, right)
    pd.testing.assert_frame_equal(left, lb)
    pd.testing.assert_frame_equal(right, rb)
