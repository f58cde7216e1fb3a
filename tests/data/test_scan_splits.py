"""Scan table, patient-id parser, grouped split."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from data.errors import DatasetLayoutError
from data.scan import SCAN_COLUMNS, parse_patient_id, parse_subtype, scan_dataset
from data.splits import grouped_train_valid_split, patients_across_splits


@pytest.mark.parametrize("name, expected", [
    ("person1234_bacteria_5678.jpeg", "person1234"),
    ("person7_virus_13.jpeg", "person7"),
    ("IM-0115-0001.jpeg", "IM-0115"),
    ("NORMAL2-IM-0115-0001.jpeg", "NORMAL2-IM-0115"),
    ("NORMAL2-IM-0173-0001-0002.jpeg", "NORMAL2-IM-0173"),
    ("something_else.png", "something_else"),
])
def test_parse_patient_id(name, expected):
    assert parse_patient_id(name) == expected


def test_parse_subtype():
    assert parse_subtype("person1_bacteria_2.jpeg") == "bacteria"
    assert parse_subtype("person1_virus_2.jpeg") == "virus"
    assert parse_subtype("IM-0001-0001.jpeg") == "none"


def test_scan_table(tiny_tree):
    (tiny_tree / "train" / "NORMAL" / ".DS_Store").write_text("x")
    (tiny_tree / "train" / "NORMAL" / "notes.txt").write_text("x")
    (tiny_tree / "test" / "PNEUMONIA" / "broken.jpeg").write_bytes(b"garbage")
    table = scan_dataset(tiny_tree)
    assert list(table.columns) == SCAN_COLUMNS
    assert len(table) == 16
    assert table["image_id"].is_unique
    assert set(table["split"]) == {"train", "valid", "test"}
    row = table.set_index("image_id").loc["val/PNEUMONIA/person10_virus_20.jpeg"]
    assert (row["split"], row["label"], row["patient_id"], row["subtype"]) == ("valid", "PNEUMONIA", "person10", "virus")
    assert (row["width"], row["height"], row["channels"]) == (64, 64, 1)
    skipped = table.attrs["skipped"]
    assert (skipped["hidden"], skipped["not_image"], skipped["unreadable"]) == (1, 1, 1)


def test_scan_only_some_splits(tiny_tree):
    table = scan_dataset(tiny_tree, splits=("test",))
    assert set(table["split"]) == {"test"}


def test_scan_layout_errors(tmp_path, tiny_tree):
    with pytest.raises(DatasetLayoutError, match="no split folders"):
        scan_dataset(tmp_path)
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        scan_dataset(tmp_path / "nowhere")
    shutil.rmtree(tiny_tree / "test" / "NORMAL")
    with pytest.raises(DatasetLayoutError, match="missing class folder .*test/NORMAL"):
        scan_dataset(tiny_tree)
    (tiny_tree / "test" / "NORMAL").mkdir()
    with pytest.raises(DatasetLayoutError, match="holds no readable images"):
        scan_dataset(tiny_tree)


def _many_patients(n_patients: int = 40) -> pd.DataFrame:
    rows = []
    for p in range(n_patients):
        label = "PNEUMONIA" if p % 2 else "NORMAL"
        for k in range(1 + p % 3):
            rows.append({"image_id": f"img{p}_{k}", "patient_id": f"person{p}", "label": label})
    return pd.DataFrame(rows)


def test_grouped_split_keeps_patients_together():
    table = _many_patients()
    split = grouped_train_valid_split(table, valid_fraction=0.25, seed=3)
    assert set(split) == {"train", "valid"}
    assert len(split) == len(table)  # every image in exactly one split
    per_patient = table.assign(split=split.values).groupby("patient_id")["split"].nunique()
    assert (per_patient == 1).all()
    assert set(table.loc[split == "valid", "label"]) == {"NORMAL", "PNEUMONIA"}
    assert 0.1 < (split == "valid").mean() < 0.45
    assert split.equals(grouped_train_valid_split(table, valid_fraction=0.25, seed=3))  # deterministic


def test_patients_across_splits():
    table = pd.DataFrame({"patient_id": ["a", "a", "b", "c", "c"],
                          "split": ["train", "test", "train", "valid", "valid"]})
    shared = patients_across_splits(table)
    assert shared.to_dict(orient="records") == [{"patient_id": "a", "splits": "test,train", "n_images": 2}]
