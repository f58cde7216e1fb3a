"""Bring your own model: import (TorchScript, state dict), heads, layouts, bad input, Grad-CAM layer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from data.errors import ConfigError
from training.config import bundled_sample
from training.evalsets import EvalSetConfig, evaluate_set
from training.importing import ImportConfig, import_model
from training.import_model import main as import_main
from training.imported import PneumoniaOutput, unroll_script
from training.predict import load_run, predict_proba
from training import evaluate as evaluate_cmd
from xai.models_util import find_gradcam_layer, last_spatial_layer
from tests.byo.models import SIZE, NotSequential, save_torchscript, tiny_sequential

SAMPLE = bundled_sample()


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.mark.parametrize("head,k,index", [("softmax", 2, 1), ("softmax", 3, 2), ("sigmoid", 1, None),
                                          ("multilabel", 5, 3)])
def test_heads_give_the_models_own_probability(head, k, index):
    model = tiny_sequential(k, seed=k)
    x = torch.randn(6, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        raw = model(x)
    expected = {"softmax": torch.softmax(raw, 1)[:, index or 0], "sigmoid": torch.sigmoid(raw[:, 0]),
                "multilabel": torch.sigmoid(raw[:, index or 0])}[head]
    wrapped = PneumoniaOutput(model, head, index or 0, 3).eval()
    with torch.no_grad():
        got = torch.softmax(wrapped(x), 1)[:, 1]
    assert torch.allclose(got, expected, atol=1e-6)


def test_one_channel_model_sees_channel_zero():
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 1)).eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(torch.softmax(PneumoniaOutput(inner, "sigmoid", 0, 1)(x), 1)[:, 1],
                              torch.sigmoid(inner(x[:, :1])[:, 0]))


def test_torchscript_sequential_unrolled_for_hooks(tmp_path):
    model = tiny_sequential()
    loaded = unroll_script(torch.jit.load(str(save_torchscript(model, tmp_path / "m.pt"))))
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-5)
    layer = last_spatial_layer(loaded, x[:1])
    assert layer is loaded[3]  # the ReLU after the last convolution (8 x 32 x 32), before global pooling


@pytest.mark.slow
def test_last_spatial_layer_on_python_and_torchvision_models():
    import torchvision

    tiny = tiny_sequential()
    assert last_spatial_layer(tiny, torch.zeros(1, 3, SIZE, SIZE)) is tiny[3]
    resnet = PneumoniaOutput(torchvision.models.resnet18(num_classes=1), "sigmoid", 0, 3).eval()
    layer, how = find_gradcam_layer(resnet, size=64)
    assert layer is resnet.model.layer4 and "layer4" in how


def test_gradcam_layer_by_name_and_a_model_it_cannot_explain(tmp_path):
    tiny = PneumoniaOutput(tiny_sequential(), "softmax", 1, 3)
    assert find_gradcam_layer(tiny, "2", size=SIZE)[0] is tiny.model[2]
    with pytest.raises(ConfigError, match="--gradcam-layer 'nope' is not a submodule"):
        find_gradcam_layer(tiny, "nope", size=SIZE)
    opaque = PneumoniaOutput(unroll_script(torch.jit.load(str(save_torchscript(NotSequential(), tmp_path / "o.pt")))),
                             "softmax", 1, 3)
    layer, why = find_gradcam_layer(opaque, size=SIZE)
    assert layer is None and "hookable" in why


def _import(tmp_path, name="ts", **kw) -> Path:
    model_file = save_torchscript(tiny_sequential(), tmp_path / f"{name}.pt")
    cfg = dict(out=str(tmp_path / "runs" / name), size=SIZE, head="softmax", torchscript=str(model_file),
               pneumonia_index=1, train_data=str(SAMPLE))
    cfg.update(kw)
    return import_model(ImportConfig(**cfg))


def test_import_writes_a_run_that_loads_like_a_trained_one(tmp_path):
    run_dir = _import(tmp_path)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["weights"]["init"] == "imported" and len(info["weights"]["sha256"]) == 64
    assert info["import"]["spec"]["num_outputs"] == 2 and info["config"]["size"] == SIZE
    run = load_run(run_dir)
    pixels = np.random.default_rng(0).integers(0, 255, (3, SIZE, SIZE), dtype=np.uint8)
    p = predict_proba(run.model, pixels, run.mean, run.std)
    x = (torch.from_numpy(pixels).float()[:, None].repeat(1, 3, 1, 1) / 255 - torch.tensor(run.mean).view(1, 3, 1, 1)) \
        / torch.tensor(run.std).view(1, 3, 1, 1)
    with torch.no_grad():
        assert np.allclose(p, torch.softmax(tiny_sequential()(x), 1)[:, 1].numpy(), atol=1e-5)


def test_flat_and_unlabelled_layouts_are_predicted(tmp_path):
    run_dir = _import(tmp_path)
    flat = tmp_path / "flat"
    shutil.copytree(SAMPLE / "test" / "NORMAL", flat / "NORMAL")  # a set of normal films only
    res = evaluate_set(EvalSetConfig(run=str(run_dir), images=str(flat), name="normals", n_boot=50,
                                     cache_dir=str(tmp_path / "cache"), workers=1))
    n_normal = len(list((SAMPLE / "test" / "NORMAL").iterdir()))
    assert res.layout == "flat" and res.labelled and res.n_images == n_normal
    assert res.metrics["specificity"]["n"] == n_normal and res.metrics["sensitivity"]["n"] == 0
    unl = tmp_path / "unlabelled" / "batch1"
    unl.mkdir(parents=True)
    for f in sorted((SAMPLE / "test" / "PNEUMONIA").iterdir())[:4]:
        shutil.copy(f, unl / f.name)
    code = evaluate_cmd.main(["--run", str(run_dir), "--images", str(tmp_path / "unlabelled"), "--name", "unl",
                              "--cache-dir", str(tmp_path / "cache"), "--workers", "1", "--device", "cpu"])
    assert code == 0
    out = run_dir / "eval" / "unl"
    preds = pd.read_csv(out / "predictions.csv")
    assert len(preds) == 4 and preds["label"].isna().all() and preds["p_pneumonia"].between(0, 1).all()
    assert len(pd.read_csv(out / "quality.csv")) == 4
    info = json.loads((out / "eval.json").read_text())
    assert info["layout"] == "unlabelled" and "no label" in info["missing_reason"]
    assert json.loads((out / "metrics.json").read_text()) == {}
    from xai.pipeline import ExplainConfig, explain

    with pytest.raises(ConfigError, match="needs true labels.*unlabelled"):
        explain(ExplainConfig(run=str(run_dir), split="unl", cache_dir=str(tmp_path / "cache"), workers=1))


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_bad_model_files_and_heads_give_one_error_line_and_write_nothing(tmp_path, capsys):
    not_model = tmp_path / "notes.pt"
    not_model.write_text("this is not a model")
    out = tmp_path / "runs" / "x"
    assert import_main(["--torchscript", str(not_model), "--size", "64", "--head", "softmax",
                        "--pneumonia-index", "1", "--out", str(out)]) == 2
    assert "is not a TorchScript model" in _one_error_line(capsys) and not out.exists()

    fixed = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 62 * 62, 2)).eval()  # only 64 px works
    model_file = save_torchscript(fixed, tmp_path / "fixed.pt")
    assert import_main(["--torchscript", str(model_file), "--size", "32", "--head", "softmax",
                        "--pneumonia-index", "1", "--out", str(out)]) == 2
    assert "does not accept the stated input (1, 3, 32, 32)" in _one_error_line(capsys) and not out.exists()

    multi = save_torchscript(tiny_sequential(5), tmp_path / "multi.pt")
    assert import_main(["--torchscript", str(multi), "--size", "64", "--head", "multilabel", "--out", str(out)]) == 2
    assert "no PNEUMONIA output was stated" in _one_error_line(capsys) and not out.exists()

    bad_state = tmp_path / "state.pth"
    torch.save({"fc.weight": torch.zeros(2, 3)}, bad_state)
    assert import_main(["--torchvision", "resnet18", "--state-dict", str(bad_state), "--size", "64",
                        "--head", "softmax", "--pneumonia-index", "1", "--out", str(out)]) == 2
    assert "does not fit torchvision resnet18" in _one_error_line(capsys) and not out.exists()


def test_a_folder_with_no_images_writes_nothing_into_the_run(tmp_path, capsys):
    run_dir = _import(tmp_path)
    before = _snapshot(run_dir)
    empty = tmp_path / "empty" / "NORMAL"
    empty.mkdir(parents=True)
    (empty / "readme.txt").write_text("no films here")
    assert evaluate_cmd.main(["--run", str(run_dir), "--images", str(tmp_path / "empty"), "--name", "empty",
                              "--device", "cpu"]) == 2
    assert "no readable images under" in _one_error_line(capsys)
    assert _snapshot(run_dir) == before
    assert evaluate_cmd.main(["--run", str(run_dir), "--images", str(SAMPLE), "--name", "test",
                              "--device", "cpu"]) == 2
    assert "must be 1-64 letters" in _one_error_line(capsys)
    assert _snapshot(run_dir) == before
