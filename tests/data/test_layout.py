"""The run and explain layouts name every file once, under the folder they describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from data.labels import safe_name
from data.layout import ExplainLayout, RunLayout


def _paths(layout) -> list[Path]:
    names = [n for n in dir(type(layout)) if isinstance(getattr(type(layout), n), property)]
    return [getattr(layout, n) for n in names]


def test_every_named_file_is_distinct_and_inside_its_folder(tmp_path):
    run = RunLayout(tmp_path / "runs" / "r1")
    explain = run.explain("valid")
    assert explain.root == run.root / "explain" / "valid"
    for layout in (run, explain, explain.counterfactual):
        paths = [p for p in _paths(layout) if isinstance(p, Path)]
        assert len(set(paths)) == len(paths)
        inside = [p for p in paths if p != getattr(layout, "latest", None)]
        assert all(p.parent == layout.root or layout.root in p.parents for p in inside)
    assert run.latest == tmp_path / "runs" / "latest"


def test_per_image_files_use_the_one_safe_name(tmp_path):
    explain = ExplainLayout(tmp_path)
    image_id = "test/NORMAL/IM-0001-0001.jpeg"
    assert explain.maps(image_id) == tmp_path / "maps" / f"{safe_name(image_id)}.npz"
    assert explain.panel(image_id).stem == explain.maps(image_id).stem == "test__NORMAL__IM-0001-0001.jpeg"
    assert explain.figure("confusion") == tmp_path / "figures" / "confusion.png"
    assert explain.report("html").name == "report.html"
    with pytest.raises(ValueError, match="md, json or html"):
        explain.report("pdf")
