"""End-to-end training at tiny sizes: outputs, determinism, refusal to overwrite."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from data.errors import ConfigError
from training.config import TrainConfig, bundled_sample
from training.predict import PREDICTION_COLUMNS, load_run, resolve_run
from training.trainer import train
from training.train import main, parse_args


@pytest.fixture(autouse=True)
def offline_weights(monkeypatch, tmp_path):
    import training.backbones as backbones

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(backbones, "_download_resnet18", lambda target: False)


@pytest.mark.slow
def test_cli_on_bundled_sample_writes_everything(tmp_path, capsys):
    out = tmp_path / "runs" / "r1"
    code = main(["--data", str(bundled_sample()), "--epochs", "1", "--size", "64", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache"), "--workers", "1"])
    assert code == 0
    for name in ("model.pth", "run.json", "predictions.csv", "metrics.json", "confusion_valid.png",
                 "confusion_test.png"):
        assert (out / name).is_file(), name
    preds = pd.read_csv(out / "predictions.csv")
    assert list(preds.columns) == PREDICTION_COLUMNS
    assert preds.groupby("split").size().to_dict() == {"test": 120, "valid": 16}
    assert set(preds["outcome"]) <= {"TP", "TN", "FP", "FN"}
    assert ((preds["outcome"].isin(["TP", "TN"])) == preds["correct"]).all()
    info = json.loads((out / "run.json").read_text())
    assert info["weights"]["init"] == "random" and "resnet18-f37072fd.pth" in info["weights"]["reason"]
    assert info["config"]["size"] == 64 and info["timings_s"]["epochs"]
    assert info["train_images_per_epoch"] == 240  # every training image, the last partial batch kept
    assert info["config"]["lr"] == TrainConfig.default("lr") and info["config"]["out"] == str(out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"valid", "test"} and "small_split_warning" in metrics["valid"]
    assert resolve_run(tmp_path / "runs" / "latest") == out.resolve()
    printed = capsys.readouterr().out
    assert "weights: random" in printed and "95% CI" in printed


@pytest.mark.slow
def test_same_seed_same_predictions(tiny_tree, tmp_path):
    def run(name):
        cfg = TrainConfig(data=str(tiny_tree), epochs=1, size=32, batch_size=4, out=str(tmp_path / name),
                          cache_dir=str(tmp_path / "cache"), workers=1, weights="none")
        return pd.read_csv(train(cfg) / "predictions.csv")

    a, b = run("a"), run("b")
    pd.testing.assert_frame_equal(a, b)
    loaded = load_run(tmp_path / "a")
    assert loaded.size == 32 and loaded.arch == "resnet18"


def test_refuses_non_empty_out(tiny_tree, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "x").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        train(TrainConfig(data=str(tiny_tree), epochs=1, size=32, out=str(out), weights="none"))


@pytest.mark.parametrize("kwargs, message", [
    ({"arch": "vgg"}, "--arch"), ({"epochs": 0}, "--epochs"), ({"weights": "/no/such.pth"}, "--weights"),
    ({"valid": "random"}, "--valid"),
])
def test_config_errors_name_the_value(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def test_cli_error_is_one_line(tmp_path, capsys):
    assert main(["--data", str(tmp_path), "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1


def test_cli_defaults_are_the_config_defaults():
    """The command line adds no defaults of its own: no arguments give TrainConfig()."""
    assert parse_args([]) == TrainConfig()
    assert isinstance(TrainConfig().lr, float) and TrainConfig().lr > 0
    assert parse_args(["--lr", "0.01", "--flips"]) == TrainConfig(lr=0.01, flips=True)
