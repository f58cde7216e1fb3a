"""The main command end to end on the bundled sample at a small size."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from data.errors import ConfigError
from training.config import TrainConfig
from training.trainer import train
from xai.pipeline import ExplainConfig, explain
from data.labels import safe_name
from xai.explain import main


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    import training.backbones as backbones

    tmp = tmp_path_factory.mktemp("explain")
    mp = pytest.MonkeyPatch()
    mp.setattr(backbones, "_download_resnet18", lambda target: False)
    mp.setenv("TORCH_HOME", str(tmp / "torch-home"))
    cfg = TrainConfig(epochs=1, size=64, out=str(tmp / "runs" / "small"), cache_dir=str(tmp / "cache"),
                      workers=1, weights="none")
    run_dir = train(cfg)
    yield run_dir, tmp
    mp.undo()


@pytest.mark.slow
def test_main_command_end_to_end(small_run, capsys):
    run_dir, tmp = small_run
    code = main(["--run", str(run_dir), "--split", "valid", "--only-errors", "--ig-max-steps", "32",
                 "--cache-dir", str(tmp / "cache"), "--workers", "1", "--n-boot", "200"])
    assert code == 0, capsys.readouterr().err
    out = run_dir / "explain" / "valid"
    preds = pd.read_csv(run_dir / "predictions.csv")
    errors = preds[(preds["split"] == "valid") & preds["outcome"].isin(["FP", "FN"])]
    panels = sorted(p.name for p in (out / "panels").glob("*.png"))
    assert panels == sorted(f"{safe_name(i)}.png" for i in errors["image_id"])  # one panel per error
    saliency = pd.read_csv(out / "saliency.csv")
    per_image_method = saliency.groupby(["image_id", "method"]).size()
    assert (per_image_method == 1).all()  # one row per image and method
    assert set(saliency.loc[saliency["method"] == "ig", "image_id"]) == set(errors["image_id"])
    assert set(saliency.loc[saliency["method"] == "gradcam", "image_id"]) == set(preds.loc[preds["split"] == "valid", "image_id"])
    ig = saliency[saliency["method"] == "ig"]
    assert ig["ig_evaluations"].between(9, 33).all() and (ig["ig_completeness_error"] >= 0).all()
    both = (ig["ig_completeness_error"] <= 0.01) & (ig["ig_half_rule_change"] <= 0.1)  # sum and pixels
    assert (ig["ig_converged"].astype(str) == both.astype(str)).all()
    assert json.loads((out / "config.json").read_text())["ig_baseline"] == "black"
    assert json.loads((out / "config.json").read_text())["ig_pixel_tol"] == 0.1
    assert json.loads((out / "config.json").read_text())["ig_split"] == "midpoint"
    table = pd.read_csv(out / "table.csv")
    assert table["image_id"].is_unique and len(table) == 16
    # the primary localisation statistic exists for every image, correct ones (TN, TP) included
    plausible = table["lung_mask_plausible"].astype(bool)
    for k in (5, 10, 20):
        col = f"gradcam_lung_rank_ratio_k{k}"
        assert table.loc[plausible, col].notna().all() and (table[col].dropna() >= 0).all(), col
    assert "ig_excluded" in table and "What the localisation results rest on" in (out / "report.html").read_text()
    for name in ("report.html", "report.md", "report.json", "index.html", "config.json"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["analysis"]["verdict"]
    # resume: a second call explains nothing new
    result = explain(ExplainConfig(run=str(run_dir), split="valid", cache_dir=str(tmp / "cache"), workers=1,
                                   report=False, ig_max_steps=32))
    assert result.n_explained_now == 0
    # the per-error context: every error placed among the correct images of its class in the test split
    context = report["error_context"]
    assert {r["image_id"] for r in context["rows"]} == set(errors["image_id"])


@pytest.mark.slow  # trains a fastai run (the module fixture)
def test_split_never_predicted_is_a_clear_error(small_run, tmp_path):
    run_dir, tmp = small_run
    preds = pd.read_csv(run_dir / "predictions.csv")
    other = tmp_path / "run"
    other.mkdir()
    for name in ("run.json", "model.pth"):
        (other / name).write_bytes((run_dir / name).read_bytes())
    preds[preds["split"] == "valid"].to_csv(other / "predictions.csv", index=False)
    with pytest.raises(ConfigError, match="never predicted split 'test'"):
        explain(ExplainConfig(run=str(other), split="test", report=False))


@pytest.mark.slow  # trains a fastai run (the module fixture)
def test_missing_run_and_moved_data(small_run, tmp_path, capsys):
    run_dir, _ = small_run
    assert main(["--run", str(tmp_path / "nowhere"), "--no-report"]) == 2
    assert "no finished run" in capsys.readouterr().err
    assert main(["--run", str(run_dir), "--data", str(tmp_path), "--no-report"]) == 2
    assert "missing under" in capsys.readouterr().err


def test_bad_options_name_the_value():
    with pytest.raises(ConfigError, match="--methods"):
        ExplainConfig(methods=("gradcam", "lime"))
    with pytest.raises(ConfigError, match="--split"):
        ExplainConfig(split="train")
    with pytest.raises(ConfigError, match="--ig-baseline"):
        ExplainConfig(ig_baseline="grey")


def test_ig_baseline_flag_is_parsed():
    from xai.explain import parse_args

    assert parse_args([])[1].ig_baseline == "black"
    assert parse_args(["--ig-baseline", "blur"])[1].ig_baseline == "blur"


def test_parser_defaults_are_the_config_defaults():
    """The parser writes no default of its own: no flags give the dataclasses' defaults."""
    from xai.checks import ChecksConfig
    from xai.explain import parse_args

    checks, cfg = parse_args([])
    assert cfg == ExplainConfig() and checks == ChecksConfig()
    checks, cfg = parse_args(["--all", "--no-reference", "--faithfulness-images", "0", "--seed", "3"])
    assert (cfg.only_errors, cfg.reference, cfg.seed, checks.seed) == (False, False, 3, 3)
    assert checks.faithfulness_limit is None
