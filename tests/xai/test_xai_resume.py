"""Resume of the explain step: keyed on every setting that shapes a row, and nothing lost on interrupt.

A run folder is built by hand (a random-weight ResNet18 at 32 px, recorded
predictions fixed at P = 0.9 so every NORMAL image of the bundled ``val`` folder
is a false positive); no training is involved.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import xai.pipeline as explain_mod
from training.backbones import IMAGENET_MEAN, IMAGENET_STD, build_untrained_classifier
from training.config import bundled_sample
from training.predict import outcome_table
from xai.pipeline import ExplainConfig, explain
from xai.resume import atomic_write_csv, read_valid_rows, row_keys

SIZE = 32


@pytest.fixture
def fake_run(tmp_path):
    from data.scan import scan_dataset

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    torch.manual_seed(0)
    torch.save(build_untrained_classifier("resnet18").state_dict(), run_dir / "model.pth")
    info = {"config": {"arch": "resnet18", "size": SIZE}, "data_root": str(bundled_sample()),
            "normalisation": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
            "weights": {"init": "random", "reason": "test"}, "n_images": {}}
    (run_dir / "run.json").write_text(json.dumps(info))
    rows = scan_dataset(bundled_sample(), splits=("valid",))
    outcome_table(rows, np.full(len(rows), 0.9)).to_csv(run_dir / "predictions.csv", index=False)
    return run_dir, tmp_path


def _cfg(run_dir, tmp, **kw):
    base = dict(run=str(run_dir), split="valid", report=False, cache_dir=str(tmp / "cache"), workers=1,
                ig_steps=4, ig_max_steps=8, device="cpu")
    return ExplainConfig(**{**base, **kw})


def _rows(run_dir):
    return pd.read_csv(run_dir / "explain" / "valid" / "saliency.csv")


@pytest.mark.slow
def test_changed_target_and_tolerance_recompute_rows(fake_run):
    run_dir, tmp = fake_run
    explain(_cfg(run_dir, tmp))
    first = _rows(run_dir)
    errors = set(first.loc[first["method"] == "ig", "image_id"])
    assert len(errors) == 8  # the 8 NORMAL films, all FPs
    # only the wrong class (= predicted class PNEUMONIA = 1) for the errors
    assert set(first.loc[first["image_id"].isin(errors), "target_class"]) == {1}

    explain(_cfg(run_dir, tmp, target="both"))
    both = _rows(run_dir)
    err = both[both["image_id"].isin(errors)]
    assert set(zip(err["method"], err["target_class"])) == {("gradcam", 0), ("gradcam", 1), ("ig", 0), ("ig", 1)}
    assert (err.groupby("image_id").size() == 4).all()
    with np.load(next((run_dir / "explain" / "valid" / "maps").glob("*.npz"))) as maps:
        assert {"gradcam", "ig", "image", "lung_mask"} <= set(maps.files)

    explain(_cfg(run_dir, tmp, target="predicted", ig_tol=0.5))
    loose = _rows(run_dir)
    ig = loose[loose["method"] == "ig"]
    assert set(ig["target_class"]) == {1}  # the target=both rows of the true class are gone
    assert len(ig) == 8 and ig["image_id"].is_unique
    # every IG row now carries the key of the new tolerance, none the old one
    assert ig["settings_key"].nunique() == 1
    assert not set(ig["settings_key"]) & set(first.loc[first["method"] == "ig", "settings_key"])
    # and the rows are new: the tighter tolerance never used fewer IG evaluations than the loose one
    merged = first[first["method"] == "ig"].merge(ig, on="image_id", suffixes=("_tight", "_loose"))
    assert (merged["ig_evaluations_tight"] >= merged["ig_evaluations_loose"]).all()


@pytest.mark.slow
def test_interrupted_explain_resumes_after_its_first_batch(fake_run, monkeypatch):
    run_dir, tmp = fake_run
    real = explain_mod._explain_batch
    seen: list[list[str]] = []

    def interrupt_after_first(run, images, rows, *args, **kwargs):
        if seen:
            raise KeyboardInterrupt
        seen.append(list(rows["image_id"]))
        return real(run, images, rows, *args, **kwargs)

    monkeypatch.setattr(explain_mod, "_explain_batch", interrupt_after_first)
    with pytest.raises(KeyboardInterrupt):
        explain(_cfg(run_dir, tmp, only_errors=False, methods=("gradcam",)))
    first_batch = seen[0]
    assert len(first_batch) == explain_mod.BATCH
    written = _rows(run_dir)
    assert set(written["image_id"]) == set(first_batch)  # the finished batch is on disk

    recomputed: list[str] = []

    def count(run, images, rows, *args, **kwargs):
        recomputed.extend(rows["image_id"])
        return real(run, images, rows, *args, **kwargs)

    monkeypatch.setattr(explain_mod, "_explain_batch", count)
    result = explain(_cfg(run_dir, tmp, only_errors=False, methods=("gradcam",)))
    assert not set(recomputed) & set(first_batch)
    assert len(recomputed) == 16 - len(first_batch) == result.n_explained_now
    assert set(_rows(run_dir)["image_id"]) == set(first_batch) | set(recomputed)


def test_rows_of_other_settings_are_not_reused(tmp_path):
    keys_a = row_keys({"ig_tol": 0.01}, ("gradcam", "ig"), "model-a", 32)
    keys_b = row_keys({"ig_tol": 0.02}, ("gradcam", "ig"), "model-a", 32)
    keys_c = row_keys({"ig_tol": 0.01}, ("gradcam", "ig"), "model-b", 32)
    assert keys_a["gradcam"] == keys_b["gradcam"] and keys_a["ig"] != keys_b["ig"]
    assert keys_a["gradcam"] != keys_c["gradcam"]
    table = pd.DataFrame({"image_id": ["a", "a"], "method": ["gradcam", "ig"], "target_class": [1, 1],
                          "settings_key": [keys_a["gradcam"], keys_a["ig"]]})
    path = tmp_path / "saliency.csv"
    atomic_write_csv(table, path)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    assert len(read_valid_rows(path, keys_a)) == 2
    assert list(read_valid_rows(path, keys_b)["method"]) == ["gradcam"]
    assert read_valid_rows(path, keys_c).empty
