"""Counterfactual sweeps on tiny models with a KNOWN planted dependence, statistics, and the command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from statsmodels.stats.proportion import proportion_confint
from torch import nn

import training.predict as predict_module
from data.errors import ConfigError
from training.backbones import IMAGENET_MEAN, IMAGENET_STD
from training.predict import outcome_table, predict_proba
from xai.sweeps import N_MATCHED_DRAWS, CounterfactualConfig, Variant, analyse_sweep, headline_comparison, matched_outside_mask, plan_variants, region_comparison, run_counterfactuals, summarise, sweep, texture_vs_shape, verdict
from xai.counterfactual import main
from xai.interventions import INTERVENTIONS, TEXTURE_SHAPE
from helpers import PixelValue, RegionMeanModel

SIZE = 64


class TextureModel(nn.Module):
    """Planted texture reader: log-odds = k * (mean |Laplacian| inside ``region`` - c)."""

    def __init__(self, region: np.ndarray, k: float, c: float):
        super().__init__()
        self.pixels = PixelValue()
        lap = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3)
        self.register_buffer("lap", lap)
        self.register_buffer("region", torch.as_tensor(np.asarray(region), dtype=torch.float32))
        self.k, self.c = float(k), float(c)

    def forward(self, x):
        response = torch.nn.functional.conv2d(self.pixels(x)[:, None], self.lap, padding=1)[:, 0].abs()
        m = (response * self.region).sum((1, 2)) / self.region.sum()
        lo = self.k * (m - self.c)
        return torch.stack([torch.zeros_like(lo), lo], 1)


def _films(chest_phantom, n: int = 6, size: int = SIZE):
    pairs = [chest_phantom(size, seed=s) for s in range(n)]
    images = np.stack([p[0] for p in pairs])
    lungs = np.stack([p[1] for p in pairs])
    return images, lungs


def _mean_outside(images, lungs):
    return float((images * ~lungs).sum() / (~lungs).sum())


def _sweep(model, images, lungs, variants, labels=None):
    labels = np.array(["NORMAL", "PNEUMONIA"] * (len(images) // 2)) if labels is None else labels
    return sweep(model, images, labels, lungs, mean=IMAGENET_MEAN, std=IMAGENET_STD, variants=variants, seed=0)


# ----------------------------------------------------------------------------- the planted dependence is found

def test_sweep_detects_a_model_that_reads_outside_the_lungs(chest_phantom):
    images, lungs = _films(chest_phantom)
    model = RegionMeanModel(~lungs[0], k=20, c=_mean_outside(images, lungs)).eval()
    per_image = _sweep(model, images, lungs, plan_variants(("contrast", "gamma", "gaussian_blur"),
                                                           ("whole", "lungs", "outside"), texture_shape=False))
    assert len(per_image) == len(images) * (3 + 2 + 3) * 3
    by = per_image.groupby(["intervention", "strength", "region"])["abs_delta"].mean()
    for name, strength in [("gamma", 0.6), ("gamma", 1.5)]:
        assert by[(name, strength, "outside")] > 0.05, (name, strength)
        # inside the lungs: only the feathered rim reaches what the model reads
        assert by[(name, strength, "lungs")] < 0.2 * by[(name, strength, "outside")]
        assert by[(name, strength, "whole")] == pytest.approx(by[(name, strength, "outside")], rel=0.2)
    # the model reads mean brightness: gamma 0.6 brightens -> P(pneumonia) rises, 1.5 darkens -> falls
    delta = per_image.groupby(["intervention", "strength", "region"])["delta"].mean()
    assert delta[("gamma", 0.6, "outside")] > 0.05 and delta[("gamma", 1.5, "outside")] < -0.05
    # contrast: a stronger reduction moves P further (dose-response)
    assert by[("contrast", 0.8, "outside")] < by[("contrast", 0.6, "outside")] < by[("contrast", 0.4, "outside")]
    # recorded quality: contrast reduction lowers the measured RMS contrast of the film
    contrast = per_image[(per_image["intervention"] == "contrast") & (per_image["region"] == "whole")]
    assert (contrast["q_rms_contrast"] < contrast["q_rms_contrast_before"]).all()


def test_region_verdict_points_outside_for_an_outside_reader(chest_phantom):
    images, lungs = _films(chest_phantom)
    model = RegionMeanModel(~lungs[0], k=20, c=_mean_outside(images, lungs)).eval()
    per_image = _sweep(model, images, lungs, plan_variants(("contrast", "gamma"), texture_shape=False))
    comparison = region_comparison(per_image, n_boot=200, seed=0)
    judged = verdict(comparison, headline=headline_comparison(per_image, headline=("gamma", 0.6, "NORMAL"),
                                                              n_boot=200))
    assert judged["status"] == "outside"
    assert "OUTSIDE" in judged["headline"] and "reads cues outside the lungs" in judged["headline"]
    assert judged["headline_comparison"]["matched_abs"] > judged["headline_comparison"]["lungs_abs"]
    gamma_rows = [r for r in judged["rows"] if r["intervention"] == "gamma"]
    assert gamma_rows and all(r["relation"] == "outside > lungs" for r in gamma_rows)
    assert all(r["lungs_abs"] < 0.2 * r["outside_abs"] for r in gamma_rows)
    assert all(s.startswith("Exploratory") for s in judged["statements"])


def test_region_verdict_points_inside_for_a_lung_reader(chest_phantom):
    images, lungs = _films(chest_phantom)
    inside = float((images * lungs).sum() / lungs.sum())
    model = RegionMeanModel(lungs[0], k=20, c=inside).eval()
    per_image = _sweep(model, images, lungs, plan_variants(("gamma",), texture_shape=False))
    judged = verdict(region_comparison(per_image, n_boot=200, seed=0),
                     headline=headline_comparison(per_image, headline=("gamma", 1.5, "NORMAL"), n_boot=200))
    assert judged["status"] == "lungs"
    assert all(r["relation"] == "lungs > outside" and r["outside_abs"] < 0.2 * r["lungs_abs"] for r in judged["rows"])


class BlurredAreaModel(nn.Module):
    """Planted AREA effect: log-odds = k * (mean |Laplacian| over the WHOLE film - c).

    Blurring any area removes texture in proportion to that area, wherever it is: a model that
    responds to how much of the film is blurred, not where.
    """

    def __init__(self, k: float, c: float):
        super().__init__()
        self.pixels = PixelValue()
        self.register_buffer("lap", torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3))
        self.k, self.c = float(k), float(c)

    def forward(self, x):
        response = torch.nn.functional.conv2d(self.pixels(x)[:, None], self.lap, padding=1)[:, 0].abs()
        lo = self.k * (response.mean((1, 2)) - self.c)
        return torch.stack([torch.zeros_like(lo), lo], 1)


def test_planted_area_effect_is_not_called_outside_once_the_area_is_matched(chest_phantom):
    _, lungs = _films(chest_phantom, n=8, size=96)
    # the same fine texture everywhere: blurring removes texture in proportion to the edited area only
    images = np.clip(0.5 + np.random.default_rng(0).normal(0, 0.08, lungs.shape), 0, 1).astype(np.float32)
    probe = BlurredAreaModel(1.0, 0.0).eval()
    with torch.no_grad():
        from training.predict import to_model_input

        level = float(probe(to_model_input(images, IMAGENET_MEAN, IMAGENET_STD))[:, 1].mean())
    model = BlurredAreaModel(k=30.0, c=level).eval()
    labels = np.array(["NORMAL"] * len(images))
    per_image = _sweep(model, images, lungs, plan_variants(("gaussian_blur",), texture_shape=False), labels)
    comparison = region_comparison(per_image, n_boot=300, seed=0)
    # without the control, the larger outside region "wins": the confound the control removes
    assert (comparison["relation"] == "outside > lungs").any()
    head = headline_comparison(per_image, headline=("gaussian_blur", 2.0, "NORMAL"), n_boot=300)
    assert head.relation != "outside > lungs"
    assert head.outside_abs > 2 * head.matched_abs
    assert head.matched_weight == pytest.approx(head.lung_weight, rel=0.1)  # equal edited (feathered) areas
    assert verdict(comparison, headline=head)["status"] != "outside"


def test_matched_outside_mask_matches_the_lung_area_and_avoids_the_lungs(chest_phantom):
    _, lungs = chest_phantom(128, seed=1)
    masks = [matched_outside_mask(lungs, seed=s) for s in range(N_MATCHED_DRAWS)]
    from xai.interventions import feather

    for m in masks:
        assert not (m & lungs).any()
        # the edited (feathered) areas match, to within one patch
        assert feather(lungs).sum() <= feather(m).sum() < feather(lungs).sum() + (128 // 14) ** 2
    assert not np.array_equal(masks[0], masks[1])  # different draws, different places


def test_sweep_records_log_odds_and_every_quality_metric(chest_phantom):
    from quality.metrics import METRICS

    images, lungs = _films(chest_phantom, n=2)
    model = RegionMeanModel(lungs[0], k=5, c=0.3).eval()
    per_image = _sweep(model, images, lungs, [Variant("gaussian_blur", 2.0, "whole")])
    for m in METRICS:
        assert m in per_image and f"{m}_before" in per_image
    p = per_image["p_after"].to_numpy()
    np.testing.assert_allclose(per_image["logit_after"], np.log(p / (1 - p)), rtol=1e-6)
    np.testing.assert_allclose(per_image["delta_logit"], per_image["logit_after"] - per_image["logit_before"])


def test_texture_reader_survives_patch_shuffling_but_not_low_pass(chest_phantom):
    images, lungs = _films(chest_phantom, size=128)
    probe = TextureModel(lungs[0], k=1.0, c=0.0).eval()
    with torch.no_grad():
        from training.predict import to_model_input

        texture = probe(to_model_input(images, IMAGENET_MEAN, IMAGENET_STD))[:, 1].numpy()
    model = TextureModel(lungs[0], k=40.0, c=float(texture.mean())).eval()
    variants = [Variant("shuffle_patches", 8, "lungs"), Variant("low_pass", 2.0, "lungs")]
    per_image = _sweep(model, images, lungs, variants)
    rows = texture_vs_shape(per_image, n_boot=200, seed=0)["rows"]
    assert {r["label"] for r in rows} == {"NORMAL", "PNEUMONIA"}
    for r in rows:
        assert r["shuffle_coverage"] > 0.5
        assert r["low_pass_abs"] > 0.2 and r["shuffle_abs"] < 0.05 * r["low_pass_abs"] + 0.01
        assert r["preserved"] == "shuffle_patches"
        assert "texture" in r["statement"]


def test_layout_reader_survives_low_pass_but_not_patch_shuffling(chest_phantom):
    images, lungs = _films(chest_phantom, size=128)
    yy, xx = np.mgrid[0:128, 0:128] / 128
    opacity = lungs[0] & (((yy - 0.55) / 0.08) ** 2 + ((xx - 0.31) / 0.06) ** 2 <= 1)
    images = images.copy()
    images[:, opacity] = np.clip(images[:, opacity] + 0.4, 0, 1)  # a focal opacity at a fixed place
    model = RegionMeanModel(opacity, k=20, c=float(images[:, opacity].mean()) - 0.1).eval()
    variants = [Variant("shuffle_patches", 8, "lungs"), Variant("low_pass", 2.0, "lungs")]
    rows = texture_vs_shape(_sweep(model, images, lungs, variants), n_boot=200, seed=0)["rows"]
    for r in rows:
        assert r["shuffle_abs"] > 2 * r["low_pass_abs"] and r["shuffle_abs"] > 0.05
        assert r["preserved"].startswith("low_pass")
        assert "layout" in r["statement"]


def test_texture_test_is_flagged_when_patches_do_not_fit(chest_phantom):
    images, lungs = _films(chest_phantom, n=2, size=32)
    model = RegionMeanModel(lungs[0], k=5, c=0.3).eval()
    rows = texture_vs_shape(_sweep(model, images, lungs, [Variant("shuffle_patches", 16, "lungs"),
                                                          Variant("low_pass", 4.0, "lungs")]), n_boot=50)["rows"]
    assert rows and all(r["preserved"] == "not tested" and r["shuffle_coverage"] == 0 for r in rows)


# ----------------------------------------------------------------------------- statistics match direct computation

def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = []
    for label in ("NORMAL", "PNEUMONIA"):
        for region in ("lungs", "outside"):
            for i in range(9):
                before = 0.1 if label == "NORMAL" else 0.9
                after = float(np.clip(before + rng.normal(0.3 if region == "outside" else 0.0, 0.2)
                                      * (1 if label == "NORMAL" else -1), 0, 1))
                rows.append({"image_id": f"{label}{i}", "label": label, "intervention": "gamma", "strength": 0.6,
                             "region": region, "region_fraction": 0.3 if region == "lungs" else 0.7,
                             "p_before": before, "p_after": after, "q_mean": 0.5 + i / 100})
    frame = pd.DataFrame(rows)
    frame["delta"] = frame["p_after"] - frame["p_before"]
    frame["abs_delta"] = frame["delta"].abs()
    frame["flipped"] = (frame["p_after"] >= 0.5) != (frame["p_before"] >= 0.5)
    return frame


def test_summary_numbers_match_direct_computation():
    frame = _frame()
    summary = summarise(frame, n_boot=500, seed=3)
    assert len(summary) == 4 and list(summary["n"]) == [9, 9, 9, 9]
    for row in summary.itertuples():
        part = frame[(frame["label"] == row.label) & (frame["region"] == row.region)]
        assert row.mean_delta == pytest.approx(part["delta"].mean())
        assert row.mean_abs_delta == pytest.approx(part["abs_delta"].mean())
        assert row.abs_delta_low <= row.mean_abs_delta <= row.abs_delta_high
        k = int(part["flipped"].sum())
        assert row.flips == k and row.flip_rate == pytest.approx(k / 9)
        assert (row.flip_low, row.flip_high) == pytest.approx(proportion_confint(k, 9, method="wilson"))
        assert row.mean_q_mean == pytest.approx(part["q_mean"].mean())
        assert row.flip_direction == ("NORMAL->PNEUMONIA" if row.label == "NORMAL" else "PNEUMONIA->NORMAL")
        assert row.delta_low <= row.mean_delta <= row.delta_high


def test_region_comparison_is_paired_and_matches_direct_computation():
    frame = _frame()
    comp = region_comparison(frame, n_boot=400, seed=1)
    assert len(comp) == 2
    for row in comp.itertuples():
        lungs = frame[(frame["label"] == row.label) & (frame["region"] == "lungs")].set_index("image_id")
        outside = frame[(frame["label"] == row.label) & (frame["region"] == "outside")].set_index("image_id")
        diff = (outside["abs_delta"] - lungs["abs_delta"]).to_numpy()
        assert row.diff == pytest.approx(diff.mean())
        assert row.diff_low <= row.diff <= row.diff_high
        assert row.lung_fraction == pytest.approx(0.3)
        assert row.relation == "outside > lungs"


def test_verdict_negligible_and_empty():
    frame = _frame()
    frame["p_after"] = frame["p_before"] + 0.001
    frame["delta"] = 0.001
    frame["abs_delta"] = 0.001
    frame["flipped"] = False
    judged = verdict(region_comparison(frame, n_boot=100))
    assert judged["status"] == "not tested" and "pre-declared headline" in judged["headline"]
    assert all(r["relation"] == "negligible" for r in judged["rows"])
    assert verdict(region_comparison(frame[frame["region"] == "lungs"]))["status"] == "not tested"


def test_plan_variants_counts():
    variants = plan_variants()
    n_main = sum(len(s) for _, s in INTERVENTIONS.values()) * (3 + N_MATCHED_DRAWS)
    assert len(variants) == n_main + sum(len(s) for _, s in TEXTURE_SHAPE.values())
    assert all(v.region == "lungs" for v in variants[n_main:])
    assert len(plan_variants(("noise",), ("whole",), texture_shape=False)) == 3


# ----------------------------------------------------------------------------- the command, end to end

@pytest.fixture
def planted_run(tmp_path, chest_phantom, monkeypatch):
    """A run folder + dataset where P(pneumonia) depends only on brightness OUTSIDE the lungs.

    In this data the label is confounded with that brightness (pneumonia films were
    'exposed' brighter outside the body), the shortcut the command must expose.
    """
    from PIL import Image

    root = tmp_path / "xray"
    _, planted = chest_phantom(SIZE, seed=0)
    rows = []
    for label, shift in (("NORMAL", 0.0), ("PNEUMONIA", 0.12)):
        folder = root / "test" / label
        folder.mkdir(parents=True)
        for s in range(5):
            image, _ = chest_phantom(SIZE, seed=100 + s + (50 if shift else 0))
            image = np.where(planted, image, np.clip(image + shift, 0, 1))
            name = f"{label.lower()}{s}.png"
            Image.fromarray((image * 255).round().astype(np.uint8)).save(folder / name)
            rows.append({"image_id": f"test/{label}/{name}", "path": f"test/{label}/{name}", "split": "test",
                         "label": label})
    from data.cache import load_resized

    table = pd.DataFrame(rows)
    pixels = load_resized([root / p for p in table["path"]], SIZE, cache_dir=tmp_path / "cache", workers=1)
    outside_means = (pixels.astype(float) / 255 * ~planted).sum((1, 2)) / (~planted).sum()
    c = float(outside_means.mean())
    model = RegionMeanModel(~planted, k=40, c=c).eval()
    run_dir = tmp_path / "runs" / "planted"
    run_dir.mkdir(parents=True)
    torch.save(model.state_dict(), run_dir / "model.pth")
    (run_dir / "run.json").write_text(json.dumps({
        "config": {"arch": "planted", "size": SIZE}, "data_root": str(root),
        "normalisation": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}}))
    p = predict_proba(model, pixels, IMAGENET_MEAN, IMAGENET_STD)
    outcome_table(table, p).to_csv(run_dir / "predictions.csv", index=False)
    monkeypatch.setattr(predict_module, "build_untrained_classifier", lambda arch: RegionMeanModel(~planted, 40, c))
    return run_dir, tmp_path


@pytest.mark.slow  # the whole command end to end; the sweep, verdict and parser have fast tests
def test_command_end_to_end_finds_the_outside_shortcut(planted_run, capsys):
    run_dir, tmp = planted_run
    code = main(["--run", str(run_dir), "--split", "test", "--per-class", "3", "--interventions", "gamma,contrast",
                 "--n-boot", "200", "--headline", "gamma:0.6:NORMAL", "--cache-dir", str(tmp / "cache"), "--workers", "1", "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "OUTSIDE" in captured.out
    out = run_dir / "explain" / "test" / "counterfactual"
    for name in ("per_image.csv", "summary.csv", "comparison.csv", "texture_shape.csv", "counterfactual.json",
                 "config.json", "dose_response.png", "quality_response.png", "texture_shape.png"):
        assert (out / name).is_file(), name
    result = json.loads((out / "counterfactual.json").read_text())
    assert result["n_images"] == {"NORMAL": 3, "PNEUMONIA": 3}
    assert result["verdict"]["status"] == "outside"
    per_image = pd.read_csv(out / "per_image.csv")
    n_variants = (3 + 2) * (3 + N_MATCHED_DRAWS) + sum(len(s) for _, s in TEXTURE_SHAPE.values())
    assert result["n_variants_per_image"] == n_variants and len(per_image) == 6 * n_variants
    assert per_image.groupby("image_id").size().eq(n_variants).all()
    # the images were correct, and the recorded P(before) is the model's
    preds = pd.read_csv(run_dir / "predictions.csv").set_index("image_id")
    assert preds.loc[per_image["image_id"].unique(), "correct"].all()
    first = per_image.drop_duplicates("image_id").set_index("image_id")
    np.testing.assert_allclose(first["p_before"], preds.loc[first.index, "p_pneumonia"], atol=1e-5)
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["region"]) == {"whole", "lungs", "outside", "outside_matched"}
    # the statistics can be redone from the per-image table alone
    again_stats = analyse_sweep(per_image, n_boot=200, seed=0, headline=("gamma", 0.6, "NORMAL"))
    assert again_stats["verdict"]["headline"] == result["verdict"]["headline"]
    # seeded: a second run gives identical tables
    cfg = CounterfactualConfig(run=str(run_dir), per_class=3, interventions=("gamma", "contrast"), n_boot=200,
                               headline=("gamma", 0.6, "NORMAL"),
                               cache_dir=str(tmp / "cache"), workers=1, device="cpu", plots=False,
                               out=str(tmp / "again"))
    again = run_counterfactuals(cfg, progress=False)
    pd.testing.assert_frame_equal(pd.read_csv(tmp / "again" / "summary.csv"), summary)
    assert again["verdict"] == result["verdict"]


def test_command_reports_config_errors_in_one_line(tmp_path, capsys):
    assert main(["--run", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


@pytest.mark.parametrize("kwargs", [{"split": "train"}, {"per_class": 0}, {"regions": ("lungs", "heart")},
                                    {"interventions": ("sharpen",)}, {"device": "tpu"}, {"quality": ("q_bogus",)},
                                    {"min_effect": 0}, {"regions": ("lungs", "lungs")},
                                    {"interventions": (), "texture_shape": False}])
def test_config_validation(kwargs):
    with pytest.raises(ConfigError):
        CounterfactualConfig(**kwargs)


def test_summary_counts_images_not_draws(chest_phantom):
    from xai.sweeps import collapse_draws

    images, lungs = _films(chest_phantom, n=4)
    model = RegionMeanModel(~lungs[0], k=20, c=_mean_outside(images, lungs)).eval()
    per_image = _sweep(model, images, lungs, plan_variants(("gamma",), ("outside_matched",), texture_shape=False))
    assert len(per_image) == 4 * 2 * N_MATCHED_DRAWS
    collapsed = collapse_draws(per_image)
    assert len(collapsed) == 4 * 2 and list(collapsed.columns) == list(per_image.columns)
    summary = summarise(per_image, n_boot=100)
    assert (summary["n"] == 2).all()  # 2 images per true class, each with 3 draws
    first = per_image[(per_image["image_id"] == 0) & (per_image["strength"] == 0.6)]
    assert collapsed.loc[(collapsed["image_id"] == 0) & (collapsed["strength"] == 0.6), "delta"].item() == \
        pytest.approx(first["delta"].mean())


def test_parser_defaults_are_the_config_defaults():
    """The parser writes no default of its own: no flags give CounterfactualConfig()."""
    from xai.counterfactual import parse_args

    assert parse_args([]) == CounterfactualConfig()
    cfg = parse_args(["--regions", "lungs", "--headline", "gaussian_blur:2.0:NORMAL", "--no-plots"])
    assert (cfg.regions, cfg.headline, cfg.plots) == (("lungs",), ("gaussian_blur", 2.0, "NORMAL"), False)
