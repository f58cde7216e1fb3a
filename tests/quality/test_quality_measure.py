"""Tests of the batch command quality.measure on tiny synthetic dataset trees."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import data
from data.errors import ConfigError, DatasetLayoutError
from data.scan import scan_dataset
from quality.batch import OUTPUT_COLUMNS, MeasureConfig, default_out, measure_image
from quality.measure import main, run
from quality.metrics import QUALITY_COLUMNS


def config(root: Path, tmp_path: Path, **kwargs) -> MeasureConfig:
    kwargs = {"split": "all", "size": 64, "workers": 1, "progress": False, **kwargs}
    return MeasureConfig(data=root, out=tmp_path / "out" / "quality.csv", **kwargs)


def test_run_gives_one_row_per_image_with_documented_columns(tiny_tree: Path, tree_files, tmp_path: Path):
    cfg = config(tiny_tree, tmp_path)
    table = run(cfg)
    scan = scan_dataset(tiny_tree)
    assert list(table.columns) == OUTPUT_COLUMNS
    assert table["image_id"].tolist() == scan["image_id"].tolist()
    assert sorted(table["image_id"]) == sorted(tree_files)
    by_id = table.set_index("image_id")
    for rel, (height, width) in tree_files.items():
        row = by_id.loc[rel]
        assert (row["orig_width"], row["orig_height"]) == (width, height)
        assert row["aspect_ratio"] == pytest.approx(width / height)
        assert row["split"] == rel.split("/")[0]
        assert row["label"] == rel.split("/")[1]
    assert (table["analysis_size"] == 64).all()
    assert (table["error"] == "").all()
    assert np.isfinite(table[QUALITY_COLUMNS].to_numpy()).all()


def test_run_rows_equal_measure_image_of_the_decoded_file(tiny_tree: Path, tmp_path: Path):
    from data.io import load_xray

    table = run(config(tiny_tree, tmp_path)).set_index("image_id")
    rel = "train/PNEUMONIA/person1_bacteria_1.jpeg"
    expected = measure_image(load_xray(tiny_tree / rel), 64)
    assert {k: table.loc[rel, k] for k in expected} == pytest.approx(expected)


def test_run_writes_csv_and_resolved_config(tiny_tree: Path, tree_files, tmp_path: Path):
    cfg = config(tiny_tree, tmp_path, size=32)
    table = run(cfg)
    assert cfg.out.is_file() and cfg.config_path == cfg.out.with_suffix(".json")
    saved = pd.read_csv(cfg.out, keep_default_na=False, na_values=[""])
    assert saved["image_id"].tolist() == table["image_id"].tolist()
    np.testing.assert_allclose(saved[QUALITY_COLUMNS].to_numpy(), table[QUALITY_COLUMNS].to_numpy(), rtol=1e-12)
    resolved = json.loads(cfg.config_path.read_text())
    assert resolved["analysis_size"] == 32 and resolved["size"] == 32
    assert resolved["split"] == "all" and resolved["n_images"] == len(tree_files) and resolved["n_errors"] == 0
    assert resolved["data"] == str(tiny_tree.resolve())
    assert resolved["columns"] == OUTPUT_COLUMNS


def test_run_one_split(tiny_tree: Path, tree_files, tmp_path: Path):
    table = run(config(tiny_tree, tmp_path, split="test"))
    assert sorted(table["image_id"]) == sorted(r for r in tree_files if r.startswith("test/"))
    assert (table["split"] == "test").all()


def test_undecodable_image_keeps_its_row_with_the_reason(tiny_tree: Path, tree_files, make_png, tmp_path: Path):
    broken = make_png(tiny_tree / "test" / "NORMAL" / "IM-0004-0001.jpeg", 40, 40, seed=3)
    broken.write_bytes(broken.read_bytes()[:120])  # header intact, pixel data truncated
    table = run(config(tiny_tree, tmp_path)).set_index("image_id")
    row = table.loc["test/NORMAL/IM-0004-0001.jpeg"]
    assert "IM-0004-0001.jpeg" in row["error"]
    assert row[QUALITY_COLUMNS].isna().all()
    assert len(table) == len(tree_files) + 1


def test_two_workers_give_the_same_table(make_png, tmp_path: Path):
    root = tmp_path / "many"
    for i in range(20):  # enough images (>= 2 chunks) for the process pool to be used
        make_png(root / "train" / "NORMAL" / f"IM-{i:04d}-0001.jpeg", 24, 24 + i, seed=i)
        make_png(root / "train" / "PNEUMONIA" / f"person{i}_virus_{i}.jpeg", 30, 20, seed=100 + i)
    one = run(config(root, tmp_path, size=32, workers=1))
    two = run(dataclasses.replace(config(root, tmp_path, size=32), workers=2))
    pd.testing.assert_frame_equal(one, two)


def test_config_defaults_and_validation(tmp_path: Path):
    cfg = MeasureConfig(workers=1)
    assert cfg.data == Path(data.__file__).parent / "sample"
    assert cfg.size == cfg.analysis_size == 224 and cfg.split == "all"
    assert cfg.out == Path("runs/quality/quality_all_224.csv") == default_out("all", 224)
    assert MeasureConfig(split="test", size=128).out == Path("runs/quality/quality_test_128.csv")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.size = 64  # type: ignore[misc]
    for bad in ({"size": 4}, {"split": "val2"}, {"workers": 0}, {"out": tmp_path / "q.txt"}):
        with pytest.raises(ConfigError):
            MeasureConfig(**bad)


def test_run_on_missing_root_raises_layout_error(tmp_path: Path):
    with pytest.raises(DatasetLayoutError):
        run(config(tmp_path / "missing", tmp_path))


@pytest.mark.parametrize("argv", [["--data", "{missing}"], ["--data", "{tree}", "--size", "4"],
                                  ["--data", "{tree}", "--split", "everything"]])
def test_cli_bad_input_exits_2_with_one_line(argv, tiny_tree: Path, tmp_path: Path, capsys):
    argv = [a.format(missing=tmp_path / "missing", tree=tiny_tree) for a in argv]
    assert main([*argv, "--out", str(tmp_path / "q.csv"), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err


@pytest.mark.slow  # a fresh interpreter importing torch: seconds
def test_cli_module_exit_status_on_bad_data(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "quality.measure", "--data", str(tmp_path / "missing")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and done.stderr.startswith("error: ")
    assert str(tmp_path / "missing") in done.stderr
    assert not (tmp_path / "runs").exists()


def test_cli_success_writes_outputs(tiny_tree: Path, tmp_path: Path, capsys):
    out = tmp_path / "cli" / "q.csv"
    assert main(["--data", str(tiny_tree), "--split", "train", "--size", "48", "--out", str(out),
                 "--workers", "1", "--no-progress"]) == 0
    table = pd.read_csv(out)
    assert len(table) == 4 and (table["analysis_size"] == 48).all()
    assert json.loads(out.with_suffix(".json").read_text())["split"] == "train"
    assert "4 images" in capsys.readouterr().out
