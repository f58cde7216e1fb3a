"""target_layer_for on the architectures the toolkit trains, and model input helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models import resnet18
from torchvision.models.resnet import BasicBlock

from data.errors import ConfigError
from xai.models_util import IMAGENET_MEAN, IMAGENET_STD, target_layer_for, to_model_input


def _fastai_like(model: nn.Module) -> nn.Sequential:
    """fastai's ``create_body`` + head: Sequential(Sequential(resnet children[:-2]), head)."""
    body = nn.Sequential(*list(model.children())[:-2])
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(512), nn.Linear(512, 2))
    return nn.Sequential(body, head)


def test_torchvision_resnet18():
    model = resnet18(weights=None, num_classes=2)
    assert target_layer_for(model) is model.layer4[-1]


def test_fastai_like_sequential_body_head():
    model = _fastai_like(resnet18(weights=None))
    layer = target_layer_for(model)
    assert isinstance(layer, BasicBlock)
    assert layer is model[0][-1][-1]


def test_tiny_cnn_last_conv(tiny_cnn):
    assert target_layer_for(tiny_cnn) is tiny_cnn.features[2]


def test_timm_efficientnet_lite0():
    timm = pytest.importorskip("timm")
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=2)
    layer = target_layer_for(model)
    assert layer is model.bn2  # BN + activation after conv_head: the rectified map the head pools
    x = torch.randn(1, 3, 64, 64)
    seen = {}
    handle = layer.register_forward_hook(lambda m, i, o: seen.setdefault("out", o.detach().clone()))
    with torch.no_grad():
        features = model.forward_features(x)
    handle.remove()
    assert torch.equal(seen["out"], features) and float(seen["out"].min()) >= 0.0


def test_no_conv_raises_naming_the_type():
    with pytest.raises(ConfigError, match="Sequential"):
        target_layer_for(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))


def test_to_model_input_replicates_and_normalises():
    images = np.random.default_rng(0).random((2, 8, 8)).astype(np.float32)
    x = to_model_input(images)
    assert x.shape == (2, 3, 8, 8) and x.dtype == torch.float32
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    pixels = (x * std + mean).numpy()
    for c in range(3):
        np.testing.assert_allclose(pixels[:, c], images, atol=1e-6)
    assert to_model_input(images[0]).shape == (1, 3, 8, 8)


@pytest.mark.slow
def test_real_fastai_models():
    learner = pytest.importorskip("fastai.vision.learner")
    model = learner.create_vision_model(resnet18, n_out=2, pretrained=False)
    assert target_layer_for(model) is model[0][-1][-1]
    timm_model, _ = learner.create_timm_model("tf_efficientnet_lite0", n_out=2, pretrained=False)
    assert target_layer_for(timm_model) is timm_model[0].model.bn2
