"""Cascading model-parameter randomisation (Adebayo et al. 2018) on a tiny trained-like CNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from data.errors import ConfigError
from xai.models_util import BinaryLogOdds
from xai.sanity import map_similarity, randomisation_steps, reinitialise, saliency_sanity, sanity_verdict

SIDE = 32


class SpotNet(nn.Module):
    """Three 3x3 convolutions, global average pooling, a linear head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1),
                                      nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def _spots(n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise films; class 1 carries a bright 6x6 spot at a random place."""
    x = rng.normal(0, 0.3, (n, 1, SIDE, SIDE)).astype(np.float32)
    y = rng.integers(0, 2, n)
    for i in np.nonzero(y)[0]:
        r, c = rng.integers(2, SIDE - 8, 2)
        x[i, 0, r:r + 6, c:c + 6] += 2.0
    return torch.tensor(x).repeat(1, 3, 1, 1), torch.tensor(y)


@pytest.fixture(scope="module")
def trained():
    """A SpotNet trained to find the spot (a 'trained-like' model whose maps depend on its weights)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = SpotNet()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(80):
        x, y = _spots(32, rng)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x, y = _spots(64, np.random.default_rng(1))
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.9, accuracy  # it really learned the task
    x, y = _spots(12, np.random.default_rng(5))
    return model, x[y == 1][:3]


def test_cascading_randomisation_destroys_gradcam_and_ig_maps(trained):
    model, x = trained
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng_state = torch.random.get_rng_state()
    df = saliency_sanity(model, x, 1, seed=0)
    # the caller's model and the global RNG are untouched
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng_state, torch.random.get_rng_state())
    assert list(dict.fromkeys(df["layer"])) == ["original", "null (other images)", "head", "features.4",
                                                "features.2", "features.0"]
    assert len(df) == 2 * 6 * len(x)
    step0 = df[df["step"] == 0]
    assert np.allclose(step0["spearman"], 1.0) and np.allclose(step0["ssim"], 1.0)
    assert np.allclose(step0["spearman_signed"], 1.0) and np.allclose(step0["spearman_abs"], 1.0)
    final = df[df["step"] == df["step"].max()].groupby("method")["spearman"].mean()
    for method in ("gradcam", "ig"):
        assert final[method] < 0.5, final  # correlation with the original maps is gone
    verdict = sanity_verdict(df, threshold=0.5).set_index("method")
    assert verdict.loc["gradcam", "status"] == "pass" and verdict.loc["gradcam", "passed"]
    assert "PASSES" in verdict.loc["gradcam", "statement"] and verdict.loc["ig", "n_steps"] == 4
    # |IG| = |x * gradient| keeps the film's structure after randomisation (Adebayo et al. saw the same for
    # gradient x input): the signed maps decorrelate, the absolute ones stay above the null reference
    ig = verdict.loc["ig"]
    assert ig["spearman_signed_final"] < 0.1 < ig["spearman_abs_final"] and ig["status"] == "fail"
    # seeded: the same seed gives the same numbers
    again = saliency_sanity(model, x, 1, seed=0, methods=("gradcam",))
    np.testing.assert_allclose(again["spearman"].to_numpy(), df[df["method"] == "gradcam"]["spearman"].to_numpy())


def test_maps_of_a_random_weights_model_fail(trained):
    """A 'method' that shows the maps of a separately randomised model ignores the model it claims to explain."""
    from xai.sanity import gradcam_method

    model, x = trained
    torch.manual_seed(123)
    random_model = SpotNet().eval()

    def random_weights_gradcam(_model, x, targets):
        return gradcam_method(random_model, x, targets)

    df = saliency_sanity(model, x, 1, methods={"random_weights": random_weights_gradcam}, seed=0)
    row = sanity_verdict(df).iloc[0]
    assert row["status"] == "fail" and not row["passed"] and row["destroyed_at"] == ""
    assert row["spearman_final"] == pytest.approx(1.0) and row["null_spearman"] < 0.9


def test_a_constant_map_is_not_tested_never_passed(trained):
    model, x = trained

    def constant(_model, x, targets):
        return np.ones((x.shape[0], SIDE, SIDE))

    df = saliency_sanity(model, x, 1, methods={"constant": constant}, seed=0)
    assert df.loc[df["step"] > 0, "spearman"].isna().all()
    row = sanity_verdict(df).iloc[0]
    assert row["status"] == "not tested" and not row["passed"]
    assert row["n_excluded"] == len(x) and "constant original map" in row["excluded_reason"]
    assert "NOT TESTED" in row["statement"]


def test_signed_and_absolute_comparisons_differ_for_a_sign_flip(trained):
    model, x = trained
    calls = {"n": 0}

    def flips(_model, x, targets):  # the same pattern, sign flipped after the first call
        calls["n"] += 1
        base = x[:, 0].numpy().astype(np.float64)
        return base if calls["n"] == 1 else -base

    df = saliency_sanity(model, x, 1, methods={"flip": flips}, seed=0, n_layers=1)
    step1 = df[df["step"] == 1]
    assert np.allclose(step1["spearman_signed"], -1.0) and np.allclose(step1["spearman_abs"], 1.0, atol=0.05)


def test_a_map_that_ignores_the_model_fails(trained):
    model, x = trained

    def edges(model, x, targets):  # input-only "saliency": gradient magnitude of the film
        img = x[:, 0].numpy()
        return np.hypot(*np.gradient(img, axis=(1, 2)))

    df = saliency_sanity(model, x, 1, methods={"edges": edges}, seed=0)
    verdict = sanity_verdict(df, threshold=0.5)
    row = verdict.iloc[0]
    assert row["spearman_final"] == pytest.approx(1.0) and not row["passed"] and row["status"] == "fail"
    assert "FAILS" in row["statement"] and "do not read them" in row["statement"]


def test_n_layers_limits_the_cascade(trained):
    model, x = trained
    df = saliency_sanity(model, x[:1], 1, methods=("gradcam",), n_layers=1)
    assert sorted(df["step"].unique()) == [0, 1] and set(df["layer"]) == {"original", "head"}
    with pytest.raises(ConfigError):
        saliency_sanity(model, x[:1], 1, n_layers=0)
    with pytest.raises(ConfigError):
        saliency_sanity(model, x[:1], 1, methods=("lime",))


def test_steps_of_the_toolkit_resnet18():
    from training.backbones import build_untrained_classifier

    names = [n for n, _ in randomisation_steps(build_untrained_classifier("resnet18"))]
    assert names == ["head", "body.layer4.1", "body.layer4.0", "body.layer3.1", "body.layer3.0", "body.layer2.1",
                     "body.layer2.0", "body.layer1.1", "body.layer1.0", "body.bn1", "body.conv1"]


def test_steps_of_a_torchvision_resnet_and_a_body_head_model():
    names = [n for n, _ in randomisation_steps(torchvision.models.resnet18())]
    assert names == ["head", "layer4.1", "layer4.0", "layer3.1", "layer3.0", "layer2.1", "layer2.0", "layer1.1",
                     "layer1.0", "bn1", "conv1"]
    body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Sequential(nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3)))
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(4), nn.Linear(4, 2))
    steps = randomisation_steps(BinaryLogOdds(nn.Sequential(body, head)))  # the wrapper is looked through
    assert [n for n, _ in steps] == ["head", "body.3.1", "body.3.0", "body.1", "body.0"]
    assert len(steps[0][1]) == 2  # BatchNorm1d + Linear of the head, one step


def test_efficientnet_cascade_has_one_step_per_block():
    pytest.importorskip("timm")
    from training.backbones import build_untrained_classifier

    model = build_untrained_classifier("efficientnet_lite0")
    effnet = model[0].model
    blocks = [f"body.model.blocks.{i}.{j}" for i in range(len(effnet.blocks)) for j in range(len(effnet.blocks[i]))]
    steps = randomisation_steps(model)
    names = [n for n, _ in steps]
    assert len(blocks) == 16
    assert [n for n in names if ".blocks." in n] == blocks[::-1]  # every block, top down, once
    assert names[0] == "head" and names[-2:] == ["body.model.bn1", "body.model.conv_stem"]
    assert "body.model.conv_head" in names
    assert steps[names.index(blocks[-1])][1][0] is effnet.blocks[-1][-1]


def test_reinitialise_is_seeded_and_changes_weights():
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    before = a.weight.detach().clone()
    assert reinitialise([a], 7) == 1 and reinitialise([b], 7) == 1
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, before)


def test_map_similarity_conventions():
    rng = np.random.default_rng(0)
    a = rng.random((16, 16))
    assert map_similarity(a, a) == pytest.approx((1.0, 1.0))
    rho, _ = map_similarity(a, -a)
    assert rho == pytest.approx(-1.0)
    rho_abs, ssim_abs = map_similarity(a, -a, absolute=True)  # |IG|: a sign flip is no change
    assert rho_abs == pytest.approx(1.0) and ssim_abs == pytest.approx(1.0)
    rho0, _ = map_similarity(a, np.zeros_like(a))
    assert rho0 == 0.0
    assert np.isnan(map_similarity(np.ones((8, 8)), a[:8, :8])[0])
    assert map_similarity(a, 3 * a + 1)[1] == pytest.approx(1.0)  # SSIM after min-max scaling
    with pytest.raises(ConfigError):
        map_similarity(a, a[:4])


def test_sanity_from_an_explain_folder(trained, tmp_path):
    import json

    import pandas as pd

    from xai.sanity import sanity_from_explain

    model, x = trained
    out = tmp_path / "explain" / "valid"
    (out / "maps").mkdir(parents=True)
    rows = []
    for i in range(3):
        iid = f"val/PNEUMONIA/p{i}.png"
        image = np.clip(x[i % len(x), 0].numpy() * 60 + 100, 0, 255).astype(np.uint8)
        np.savez_compressed(out / "maps" / f"{iid.replace('/', '__')}.npz", image=image,
                            gradcam=np.zeros((SIDE, SIDE), np.float32), lung_mask=np.zeros((SIDE, SIDE), bool))
        rows.append({"image_id": iid, "label": "PNEUMONIA", "pred": "PNEUMONIA", "outcome": "TP", "explained": True})
    pd.DataFrame(rows).to_csv(out / "table.csv", index=False)
    (out / "config.json").write_text(json.dumps({"target": "predicted"}))
    frame, maps, saved = sanity_from_explain(out, model, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), n_images=2,
                                             methods=("gradcam",), n_layers=2)
    assert saved["image_id"] == ["val/PNEUMONIA/p0.png", "val/PNEUMONIA/p1.png"]
    assert set(frame["image_id"]) == set(saved["image_id"]) and sorted(frame["step"].unique()) == [-1, 0, 1, 2]
    assert saved["excluded"]["n"] == 0
    assert len(maps["gradcam"]) == 3 and maps["gradcam"][0].shape == (2, SIDE, SIDE)


def test_image_independent_maps_are_not_tested(trained):
    model, x = trained
    rng = np.random.default_rng(0)
    pattern = rng.random((SIDE, SIDE))

    def fixed_pattern(_model, x, targets):  # the same map for every image, perturbed a little per call
        return np.stack([pattern + 0.01 * rng.random((SIDE, SIDE)) for _ in range(x.shape[0])])

    row = sanity_verdict(saliency_sanity(model, x, 1, methods={"fixed": fixed_pattern}, n_layers=2)).iloc[0]
    assert row["null_spearman"] > 0.9 and row["status"] == "not tested" and not row["passed"]
    assert "barely depend on the image" in row["statement"]
