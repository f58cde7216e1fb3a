"""Deletion / insertion curves on a model whose used pixels are known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from data.errors import ConfigError
from training.backbones import IMAGENET_MEAN, IMAGENET_STD
from training.predict import to_model_input
from stats.bootstrap import bootstrap_mean_ci
from xai.faithfulness import (deletion_insertion, faithfulness_from_explain, faithfulness_summary,
                              faithfulness_table, mean_curves, pixel_order)
from helpers import RegionMeanModel

SIDE = 48


@pytest.fixture
def setup(chest_phantom):
    region = np.zeros((SIDE, SIDE), bool)
    region[16:32, 14:30] = True
    films = []
    for seed in range(4):
        image, _ = chest_phantom(SIDE, seed=seed)
        image = image.copy()
        image[region] = 0.9  # the used pixels are bright: P(class 1) is high
        films.append(image)
    x = to_model_input(np.stack(films), IMAGENET_MEAN, IMAGENET_STD)
    return RegionMeanModel(region).eval(), x, region


def test_deleting_the_used_pixels_beats_random_order(setup):
    model, x, region = setup
    truth = region.astype(float)
    res = deletion_insertion(model, x[0], truth, 1, steps=20, seed=0)
    assert res["fractions"].shape == (21,) and res["fractions"][0] == 0 and res["fractions"][-1] == 1
    assert res["p_original"] > 0.99
    assert res["deletion_auc"] < 0.5 * res["random_deletion_auc"]
    # the region is 11 % of the film: after 3 of 20 steps it is gone and P has collapsed
    assert res["deletion"][3] < 0.01 < res["random_deletion"][3]
    for key in ("deletion", "insertion", "random_deletion", "random_insertion"):
        curve = res[key]
        assert curve.shape == (21,) and (curve >= 0).all() and (curve <= 1).all()
        assert res[f"{key}_auc"] == pytest.approx(np.trapezoid(curve, res["fractions"]))
    # an anti-map (everything but the used pixels first) is worse than random
    anti = deletion_insertion(model, x[0], 1 - truth, 1, steps=20, seed=0)
    assert anti["deletion_auc"] > res["random_deletion_auc"] > res["deletion_auc"]
    assert anti["random_deletion_auc"] == pytest.approx(res["random_deletion_auc"])  # same random order


def test_blurred_deletion_fill(setup):
    model, x, region = setup
    res = deletion_insertion(model, x[0], region.astype(float), 1, steps=20, seed=0, deletion_fill="blur",
                             blur_sigma=8.0)
    black = deletion_insertion(model, x[0], region.astype(float), 1, steps=20, seed=0)
    assert res["deletion_auc"] < res["random_deletion_auc"]
    assert res["deletion"][-1] > black["deletion"][-1]  # a blurred film keeps some brightness in the region
    with pytest.raises(ConfigError):
        deletion_insertion(model, x[0], region.astype(float), 1, deletion_fill="grey")


def test_inserting_the_used_pixels_beats_random_order(setup):
    model, x, region = setup
    res = deletion_insertion(model, x[0], region.astype(float), 1, steps=20, seed=0, canvas="black")
    assert res["insertion"][0] < 0.01 and res["insertion"][-1] == pytest.approx(res["p_original"], abs=1e-6)
    assert res["insertion_auc"] > res["random_insertion_auc"] + 0.2


def test_ties_are_broken_at_random_but_reproducibly():
    sal = np.zeros((4, 4))
    sal[0, 0] = 1
    o1 = pixel_order(sal, np.random.default_rng(0))
    o2 = pixel_order(sal, np.random.default_rng(0))
    assert o1[0] == 0 and np.array_equal(o1, o2) and sorted(o1) == list(range(16))
    assert not np.array_equal(o1[1:], np.arange(1, 16))  # not raster order
    assert np.array_equal(pixel_order(sal), [0, *range(1, 16)])


def test_batch_table_and_outcome_summary(setup):
    model, x, region = setup
    maps = {"truth": np.repeat(region[None].astype(float), 4, 0),
            "anti": np.repeat((~region)[None].astype(float), 4, 0)}
    outcomes = ["TP", "TP", "FP", "FP"]
    table, curves = faithfulness_table(model, x, maps, 1, image_ids=list("abcd"), outcomes=outcomes, steps=10,
                                       seed=0, return_curves=True, measure="deletion")
    assert len(table) == 8 and set(table["method"]) == {"truth", "anti"}
    truth = table[table["method"] == "truth"]
    assert (truth["deletion_gain"] > 0).all()
    assert (table[table["method"] == "anti"]["deletion_gain"] < 0).all()
    # random baseline shared by both methods on one image (paired)
    pivot = table.pivot(index="image_id", columns="method", values="random_deletion_auc")
    np.testing.assert_allclose(pivot["truth"], pivot["anti"])
    summary = faithfulness_summary(table, n_boot=300, seed=2)
    assert list(summary["outcome"].unique()) == ["FP", "TP", "all"]
    row = summary[(summary["outcome"] == "FP") & (summary["method"] == "truth")].iloc[0]
    part = truth[truth["outcome"] == "FP"]
    assert row["n"] == 2 and row["deletion_gain"] == pytest.approx(part["deletion_gain"].mean())
    assert (row["deletion_gain_low"], row["deletion_gain_high"]) == pytest.approx(
        bootstrap_mean_ci(part["deletion_gain"], 300, 2))
    assert row["deletion_beats_random"] == 1.0
    mean = mean_curves(curves)
    assert set(mean) == {"truth", "anti"} and mean["truth"]["deletion"].shape == (11,)


def test_from_explain_folder(setup, tmp_path):
    model, x, region = setup
    out = tmp_path / "explain" / "test"
    (out / "maps").mkdir(parents=True)
    images = np.clip(np.rint((x[:, 0].numpy() * IMAGENET_STD[0] + IMAGENET_MEAN[0]) * 255), 0, 255).astype(np.uint8)
    rows = []
    for i in range(3):
        iid = f"test/PNEUMONIA/im{i}.png"
        np.savez_compressed(out / "maps" / f"{iid.replace('/', '__')}.npz", image=images[i],
                            gradcam=region.astype(np.float32), ig=(~region).astype(np.float32),
                            lung_mask=region)
        rows.append({"image_id": iid, "label": "PNEUMONIA", "pred": "PNEUMONIA", "outcome": "TP", "explained": True})
    rows.append({"image_id": "test/NORMAL/none.png", "label": "NORMAL", "pred": "NORMAL", "outcome": "TN",
                 "explained": False})
    pd.DataFrame(rows).to_csv(out / "table.csv", index=False)
    (out / "config.json").write_text(json.dumps({"target": "predicted", "ig_tol": 0.01}))
    # the IG map of im2 missed the completeness tolerance: left out of the IG rows, counted
    pd.DataFrame({"image_id": [f"test/PNEUMONIA/im{i}.png" for i in range(3)] * 2,
                  "method": ["gradcam"] * 3 + ["ig"] * 3, "target_class": 1,
                  "ig_completeness_error": [np.nan] * 3 + [0.001, 0.002, 0.5]}).to_csv(out / "saliency.csv",
                                                                                     index=False)
    table = faithfulness_from_explain(out, model, IMAGENET_MEAN, IMAGENET_STD, fractions=(0.1, 0.5))
    assert len(table) == 5 and set(table["outcome"]) == {"TP"} and (table["target"] == 1).all()
    assert "test/PNEUMONIA/im2.png" not in set(table.loc[table["method"] == "ig", "image_id"])
    assert table.attrs["excluded"]["ig"]["n"] == 1 and "tolerance" in table.attrs["excluded"]["ig"]["reason"]
    assert "gradcam" not in table.attrs["excluded"]
    gains = table.groupby("method")["gain"].mean()
    assert gains["gradcam"] > 0 > gains["ig"]
    old = faithfulness_from_explain(out, model, IMAGENET_MEAN, IMAGENET_STD, steps=10, measure="deletion")
    assert old.groupby("method")["deletion_gain"].mean()["gradcam"] > 0
    (tmp_path / "table.csv").write_text("image_id,explained\n")  # nothing explained: a clear error
    with pytest.raises(ConfigError):
        faithfulness_from_explain(tmp_path, model, IMAGENET_MEAN, IMAGENET_STD)


def test_bad_arguments(setup):
    model, x, region = setup
    with pytest.raises(ConfigError):
        deletion_insertion(model, x[0], region[:10], 1)
    with pytest.raises(ConfigError):
        deletion_insertion(model, x[0], region.astype(float), 1, steps=0)
    with pytest.raises(ConfigError):
        deletion_insertion(model, x[0], region.astype(float), 1, canvas="grey")
    with pytest.raises(ConfigError):
        deletion_insertion(model, x[0], region.astype(float), 5)


# ----------------------------------------------------------------------------- ROAD (default measure)

def test_road_ranks_the_planted_region_above_random_and_elsewhere(setup):
    from xai.road import road_curves

    model, x, region = setup
    elsewhere = np.zeros_like(region)
    elsewhere[34:46, 2:16] = True  # same kind of blob, away from the used pixels
    rng = np.random.default_rng(0)
    scores = {"region": [], "elsewhere": [], "random": []}
    for i in range(1):
        smooth = rng.random((6, 6))
        noise = np.kron(smooth, np.ones((8, 8)))  # a blocky texture so the maps are not pure indicators
        for name, planted in (("region", region), ("elsewhere", elsewhere)):
            res = road_curves(model, x[i], planted + 0.1 * noise, 1, seed=i)
            scores[name].append(res["road_score"])
            if name == "region":
                scores["random"].append(res["random_road_score"])
                assert res["gain"] > 0 and res["morf_auc"] < res["random_morf_auc"] < res["lerf_auc"]
                assert res["granularity"] > 1  # the control is blocky like the map, not salt noise
    region_s, else_s, rand_s = (np.mean(scores[k]) for k in ("region", "elsewhere", "random"))
    assert region_s > rand_s + 0.1 and region_s > else_s + 0.1, scores
    assert else_s < 0.05  # removing pixels the model never reads first: no faithfulness


def test_road_helpers():
    from xai.road import map_granularity, random_block_map, rank_map

    rng = np.random.default_rng(0)
    ranks = rank_map(np.zeros((4, 4)), rng)
    assert sorted(ranks.ravel()) == pytest.approx(np.linspace(0, 1, 16))  # ties broken, exact ranks
    coarse = random_block_map((64, 64), 16, rng)
    assert coarse.shape == (64, 64) and 6 <= map_granularity(coarse) <= 24
    assert map_granularity(rng.random((64, 64))) == 1
    assert map_granularity(np.ones((8, 8))) == 1


def test_constant_maps_are_left_out_and_counted(setup):
    model, x, region = setup
    maps = {"flat": np.zeros((2, SIDE, SIDE)), "truth": np.repeat(region[None].astype(float), 2, 0)}
    table = faithfulness_table(model, x[:2], maps, 1, fractions=(0.2, 0.6))
    assert set(table["method"]) == {"truth"} and table.attrs["constant_maps"] == {"flat": 2}
