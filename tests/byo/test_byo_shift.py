"""Domain shift: a known transformation is found on the right metrics, and harmonisation undoes a planted loss.

The planted world: the bundled sample at 64 px, with a bright disc (the "lesion") added to
every PNEUMONIA film; the planted model reads only the disc's contrast against its
surround (:func:`tests.byo.models.planted_contrast_model`). The external set is the planted
test split with lower contrast and blur (:func:`data.make_shifted.shift_image`): the disc
fades below the model's threshold, so sensitivity is lost for a reason we know.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data.cache import load_resized
from data.shifting import make_shifted
from data.scan import scan_dataset
from training.config import bundled_sample
from training.evalsets import EvalSetConfig, evaluate_set
from training.importing import ImportConfig, import_model
from xai.domain_shift import ShiftConfig, run_shift
from tests.byo.models import SIZE, plant_lesion, planted_contrast_model, save_torchscript

CONTRAST_AND_BLUR = ("q_rms_contrast", "q_dynamic_range", "q_laplacian_var", "q_highfreq_share")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planted")
    sample = scan_dataset(bundled_sample(), splits=("train", "test"))
    pixels = load_resized([Path(sample.attrs["root"]) / p for p in sample["path"]], SIZE,
                          cache_dir=tmp / "cache", workers=1)
    world = tmp / "world"
    for row, px in zip(sample.itertuples(), pixels):
        image = px.astype(np.float32) / 255
        if row.label == "PNEUMONIA":
            image = plant_lesion(image)
        target = world / row.path.rsplit(".", 1)[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(f"{target}.png")
    make_shifted(world, tmp / "shifted", contrast=0.5, blur=0.01, subsets=("test",))
    model_file = save_torchscript(planted_contrast_model(), tmp / "planted.pt", channels=1)
    run_dir = import_model(ImportConfig(out=str(tmp / "run"), size=SIZE, head="sigmoid", torchscript=str(model_file),
                                        channels=1, mean=(0.0,), std=(1.0,), train_data=str(world)))
    common = dict(run=str(run_dir), cache_dir=str(tmp / "cache"), workers=1, n_boot=200)
    home = evaluate_set(EvalSetConfig(images=str(world), name="home", subsets=("test",), **common))
    shifted = evaluate_set(EvalSetConfig(images=str(tmp / "shifted"), name="shifted", **common))
    results = {name: run_shift(ShiftConfig(run=str(run_dir), split=name, cache_dir=str(tmp / "cache"), workers=1,
                                           n_boot=300), progress=False) for name in ("home", "shifted")}
    return {"home": home, "shifted": shifted, "results": results, "run": run_dir}


@pytest.mark.slow
def test_planted_loss_is_real(planted):
    assert planted["home"].metrics["sensitivity"]["value"] == 1.0
    assert planted["home"].metrics["specificity"]["value"] == 1.0
    assert planted["shifted"].metrics["sensitivity"]["value"] <= 0.25  # the disc faded below threshold


@pytest.mark.slow
def test_known_transformation_found_on_the_right_metrics(planted):
    comp = planted["results"]["shifted"].comparisons.set_index(["class", "metric"])
    for cls in ("NORMAL", "PNEUMONIA"):
        for metric in CONTRAST_AND_BLUR:
            row = comp.loc[(cls, metric)]
            assert row["shifted"] and row["ci_high"] < 0, (cls, metric, row.to_dict())  # external lower
        assert not comp.loc[(cls, "q_mean"), "shifted"]  # contrast was scaled about each film's own mean
    # Control: the untransformed test split of the same source. The sample's test films do differ from train
    # (real: less fine detail in NORMAL films, more contrast in PNEUMONIA films), so the control is "no
    # contrast loss, and every planted-direction difference much smaller", not "no difference at all".
    control = planted["results"]["home"].comparisons.set_index(["class", "metric"])
    for cls in ("NORMAL", "PNEUMONIA"):
        for metric in ("q_rms_contrast", "q_dynamic_range"):
            row = control.loc[(cls, metric)]
            assert not (row["shifted"] and row["rank_biserial"] < 0), (cls, metric, row.to_dict())
        for metric in CONTRAST_AND_BLUR:
            assert abs(control.loc[(cls, metric), "rank_biserial"]) < abs(comp.loc[(cls, metric), "rank_biserial"])


@pytest.mark.slow
def test_harmonisation_restores_most_of_the_planted_loss(planted):
    result = planted["results"]["shifted"]
    primary = result.recovery["primary"]
    assert primary["per_class"]["PNEUMONIA"]["before"] <= 0.25
    assert primary["per_class"]["PNEUMONIA"]["after"] >= 0.9
    assert primary["balanced"]["recovered_share"] >= 0.8 and primary["balanced"]["ci_low"] > 0
    assert "image statistics" in result.verdict
    assert primary["per_class"]["NORMAL"]["after"] >= 0.9  # without buying sensitivity with false positives
    saved = json.loads((result.out_dir / "shift.json").read_text())
    assert saved["verdict"] == result.verdict and saved["detail"]["kind"] in ("sharpen", "none")
    home = planted["results"]["home"]
    assert "no loss to recover" in home.verdict
