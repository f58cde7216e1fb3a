"""Audit on a small synthetic tree with a planted duplicate and a planted shared patient."""

from __future__ import annotations

import json
import shutil

from data.audit import main, run
from data.auditing import AuditConfig
from stats.intervals import split_size_warning
from tests.conftest import make_tree


def test_audit_finds_planted_problems(tmp_path, tiny_tree):
    # shared patient: person1 also in test; duplicate: one train image copied into test as PNG
    make_tree(tiny_tree, {"test": {"PNEUMONIA": ["person1_virus_99.jpeg"]}})
    src = tiny_tree / "train" / "NORMAL" / "IM-0002-0001.jpeg"
    shutil.copyfile(src, tiny_tree / "test" / "NORMAL" / "IM-0099-0001.jpeg")
    audit = run(AuditConfig(data=str(tiny_tree), out=str(tmp_path / "audit"), workers=1))
    assert audit["n_images"] == 18
    assert audit["counts"]["test"] == {"NORMAL": 3, "PNEUMONIA": 3}
    assert audit["patients"]["shared_across_splits"] == 1
    assert audit["patients"]["shared_examples"][0]["patient_id"] == "person1"
    assert audit["duplicates"]["exact_pairs"] == 1
    assert audit["duplicates"]["cross_split_pairs"] >= 1
    ex = audit["duplicates"]["examples"][0]
    assert {ex["image_id_a"], ex["image_id_b"]} == {"train/NORMAL/IM-0002-0001.jpeg", "test/NORMAL/IM-0099-0001.jpeg"}
    assert any("'valid' has only 4 images" in w for w in audit["warnings"])
    on_disk = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert on_disk["duplicates"]["exact_pairs"] == 1


def test_split_size_warning_numbers():
    text = split_size_warning("valid", 16)
    assert "16 images" in text and "6.25 accuracy points" in text and "44 points" in text
    assert split_size_warning("test", 624) is None


def test_cli_bad_root_exits_2(tmp_path, capsys):
    assert main(["--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "nope" in err and len(err.strip().splitlines()) == 1


def test_cli_names_the_unreadable_file(tmp_path, tiny_tree, capsys):
    broken = tiny_tree / "train" / "NORMAL" / "IM-0042-0001.jpeg"
    broken.write_bytes(b"not a jpeg at all")
    assert main(["--data", str(tiny_tree), "--out", str(tmp_path / "audit"), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert str(broken) in out
    listed = (tmp_path / "audit" / "skipped_files.csv").read_text()
    assert "train/NORMAL/IM-0042-0001.jpeg" in listed


def test_summary_names_at_most_the_limit_then_the_full_list(tmp_path, tiny_tree, capsys):
    for k in range(13):
        (tiny_tree / "test" / "NORMAL" / f"IM-09{k:02d}-0001.jpeg").write_bytes(b"garbage")
    assert main(["--data", str(tiny_tree), "--out", str(tmp_path / "audit"), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    named = [line for line in out.splitlines() if "IM-09" in line]
    assert len(named) == 10
    assert "and 3 more" in out and str(tmp_path / "audit" / "skipped_files.csv") in out
