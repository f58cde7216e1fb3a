"""Source geometry from MANIFEST.csv (the shared copy's side table)."""

from __future__ import annotations

import pandas as pd
import pytest

from data.errors import DatasetLayoutError
from data.manifest import source_geometry


def test_source_geometry_from_a_manifest(tmp_path):
    pd.DataFrame({"split": ["test", "train"], "label": ["NORMAL", "PNEUMONIA"], "filename": ["a.jpeg", "b.jpeg"],
                  "orig_width": [224, 1500], "orig_height": [224, 1000]}).to_csv(tmp_path / "MANIFEST.csv", index=False)
    geo = source_geometry(tmp_path)
    assert list(geo["image_id"]) == ["test/NORMAL/a.jpeg", "train/PNEUMONIA/b.jpeg"]
    assert list(geo["source_aspect"]) == pytest.approx([1.0, 1.5])
    assert list(geo["source_squeeze"]) == pytest.approx([1.0, 1.5])
    assert list(geo["source_geometry_known"]) == [False, True]  # a 224x224 source hides the original shape


def test_no_manifest_and_a_broken_one(tmp_path):
    assert source_geometry(tmp_path) is None
    pd.DataFrame({"split": ["test"], "filename": ["a.jpeg"]}).to_csv(tmp_path / "MANIFEST.csv", index=False)
    with pytest.raises(DatasetLayoutError, match="lacks column"):
        source_geometry(tmp_path)


def test_bundled_sample_manifest_covers_its_images():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "data" / "sample"
    geo = source_geometry(root)
    files = {str(p.relative_to(root)) for p in root.glob("*/*/*.jpeg")}
    assert files <= set(geo["image_id"])
