"""Imported models explained end to end: TorchScript and torchvision + state dict."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision

from training import evaluate as evaluate_cmd
from training.config import bundled_sample
from training.import_model import main as import_main
from xai.explain import main as explain_main
from tests.byo.models import SIZE, NotSequential, save_torchscript, tiny_sequential

SAMPLE = bundled_sample()


def _model_file(kind: str, tmp_path):
    if kind == "torchscript":
        return ["--torchscript", str(save_torchscript(tiny_sequential(), tmp_path / "m.pt"))], "3"
    if kind == "opaque":  # a scripted model that is not a Sequential: nothing Grad-CAM can hook
        return ["--torchscript", str(save_torchscript(NotSequential(), tmp_path / "o.pt"))], None
    torch.manual_seed(0)
    state = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), state)
    return ["--torchvision", "resnet18", "--state-dict", str(state)], "layer4"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["torchscript", "state_dict", "opaque"])
def test_imported_model_is_explained_end_to_end(kind, tmp_path, capsys):
    args, layer_name = _model_file(kind, tmp_path)
    run_dir = tmp_path / "runs" / kind
    common = ["--cache-dir", str(tmp_path / "cache"), "--workers", "1"]
    assert import_main([*args, "--size", str(SIZE), "--head", "softmax", "--pneumonia-index", "1",
                        "--train-data", str(SAMPLE), "--out", str(run_dir)]) == 0
    assert evaluate_cmd.main(["--run", str(run_dir), "--images", str(SAMPLE), "--subsets", "test", "--name", "ext",
                              "--device", "cpu", "--n-boot", "100", *common]) == 0
    preds = pd.read_csv(run_dir / "eval" / "ext" / "predictions.csv")
    n_errors = int(preds["outcome"].isin(["FP", "FN"]).sum())
    assert n_errors > 0, "a random model must make errors on the sample"
    n_test = sum(1 for _ in (SAMPLE / "test").rglob("*.jpeg"))
    code = explain_main(["--run", str(run_dir), "--split", "ext", "--limit", "2", "--ig-max-steps", "64",
                         "--n-boot", "100", "--device", "cpu", *common])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = run_dir / "explain" / "ext"
    config = json.loads((out / "config.json").read_text())
    saliency = pd.read_csv(out / "saliency.csv")
    if layer_name is None:
        said = [line for line in captured.err.splitlines() if "Grad-CAM cannot explain this model" in line]
        assert len(said) == 1 and config["gradcam_layer_found"] is None
        assert set(saliency["method"]) == {"ig"}  # IG, quality and statistics still there
        assert (out / "quality.csv").is_file() and (out / "report.html").is_file()
        return
    assert config["gradcam_layer_found"].endswith(f"({layer_name})")
    assert config["evaluation_set"]["name"] == "ext" and config["evaluation_set"]["n_images"] == n_test
    ig = saliency[saliency["method"] == "ig"]
    assert ig["image_id"].nunique() == 2
    assert np.isfinite(ig["ig_completeness_error"]).all() and (ig["ig_completeness_error"] <= 0.01).all()
    assert saliency.loc[saliency["method"] == "gradcam", "image_id"].nunique() == n_test - n_errors + 2
    report = (out / "report.html").read_text()
    assert "Evaluation set" in report and f"{n_test} films" in report and str(SAMPLE) in report  # name, size, root
    assert "Domain shift: external vs training films" in report  # the shift section (reference: --train-data)
    assert not (run_dir / "predictions.csv").exists()  # the imported run has no predictions of its own
