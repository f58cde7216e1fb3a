"""Grad-CAM maps: size, range, no NaN, input untouched, hooks released, localisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from data.errors import ConfigError
from xai.gradcam import gradcam_maps
from xai.models_util import target_layer_for


class BlobModel(nn.Module):
    """Logit(1) = mean of relu(1x1 conv(x)) with positive weights: evidence = bright pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.conv.bias.zero_()
        self.fc = nn.Linear(1, 2, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[-1.0], [1.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def _hook_count(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in module.modules())


def test_maps_shape_range_and_input_untouched(tiny_cnn, tiny_batch):
    x_before = tiny_batch.clone()
    maps = gradcam_maps(tiny_cnn, tiny_batch, [0, 1, 1], batch_size=2)
    assert maps.shape == (3, 32, 32) and maps.dtype == np.float32
    assert np.isfinite(maps).all()
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    assert torch.equal(tiny_batch, x_before)
    assert not tiny_batch.requires_grad


def test_non_square_input_keeps_size(tiny_cnn):
    x = torch.randn(2, 3, 24, 40, generator=torch.Generator().manual_seed(3))
    assert gradcam_maps(tiny_cnn, x, 1).shape == (2, 24, 40)


def test_hooks_released_after_the_with_block(tiny_cnn, tiny_batch):
    layer = target_layer_for(tiny_cnn)
    assert _hook_count(tiny_cnn) == 0
    gradcam_maps(tiny_cnn, tiny_batch, 1, target_layer=layer)
    assert len(layer._forward_hooks) == 0
    assert _hook_count(tiny_cnn) == 0
    assert all(p.grad is None for p in tiny_cnn.parameters())


def test_batching_does_not_change_maps(tiny_cnn, tiny_batch):
    one = gradcam_maps(tiny_cnn, tiny_batch, 1, batch_size=1)
    all_ = gradcam_maps(tiny_cnn, tiny_batch, 1, batch_size=16)
    np.testing.assert_allclose(one, all_, atol=1e-5)


def test_map_peaks_on_the_evidence():
    x = torch.zeros(1, 3, 32, 32)
    x[:, :, 4:10, 20:28] = 1.0
    maps = gradcam_maps(BlobModel().eval(), x, 1, target_layer=None)
    row, col = np.unravel_index(np.argmax(maps[0]), maps[0].shape)
    assert 4 <= row < 10 and 20 <= col < 28
    assert maps[0, 20:, :10].max() == 0.0


def test_flat_cam_is_zeros_not_nan():
    """Class 0 has only negative evidence here: ReLU leaves a flat map -> zeros."""
    x = torch.zeros(2, 3, 16, 16)
    x[:, :, 2:6, 2:6] = 1.0
    maps = gradcam_maps(BlobModel().eval(), x, 0)
    assert np.isfinite(maps).all()
    assert np.all(maps == 0.0)


def test_frozen_model_still_gets_gradients(tiny_cnn, tiny_batch):
    for p in tiny_cnn.parameters():
        p.requires_grad_(False)
    maps = gradcam_maps(tiny_cnn, tiny_batch, 1)
    assert maps.shape == (3, 32, 32) and maps.max() > 0


def test_works_under_no_grad(tiny_cnn, tiny_batch):
    with torch.no_grad():
        maps = gradcam_maps(tiny_cnn, tiny_batch, 1)
    assert maps.max() > 0


def test_bad_inputs_raise_config_error(tiny_cnn, tiny_batch):
    with pytest.raises(ConfigError, match="out of range"):
        gradcam_maps(tiny_cnn, tiny_batch, 5)
    assert _hook_count(tiny_cnn) == 0
    with pytest.raises(ConfigError, match="targets"):
        gradcam_maps(tiny_cnn, tiny_batch, [0, 1])
    with pytest.raises(ConfigError, match="4-D"):
        gradcam_maps(tiny_cnn, tiny_batch[0], 1)
    with pytest.raises(ConfigError, match="batch_size"):
        gradcam_maps(tiny_cnn, tiny_batch, 1, batch_size=0)


def test_raw_maps_keep_the_ranking_the_relu_throws_away(tiny_cnn, tiny_batch):
    from xai.gradcam import gradcam_maps
    from xai.models_util import target_layer_for

    shown, raw = gradcam_maps(tiny_cnn, tiny_batch, 1, return_raw=True)
    assert raw.shape == shown.shape and raw.dtype == np.float32 and np.isfinite(raw).all()
    assert np.array_equal(shown, gradcam_maps(tiny_cnn, tiny_batch, 1))  # the display maps are unchanged
    for s, r in zip(shown, raw):
        if s.max() > 0:  # where the display map has a peak, the raw map peaks there too
            assert r[np.unravel_index(np.argmax(s), s.shape)] >= np.quantile(r, 0.95)
    # the raw map of class 0 is the negative of class 1's (log-odds model): the display map cannot say that
    from xai.models_util import BinaryLogOdds

    model = BinaryLogOdds(tiny_cnn)
    layer = target_layer_for(tiny_cnn)
    _, r1 = gradcam_maps(model, tiny_batch, 1, target_layer=layer, return_raw=True)
    _, r0 = gradcam_maps(model, tiny_batch, 0, target_layer=layer, return_raw=True)
    np.testing.assert_allclose(r0, -r1, atol=1e-5)


def test_same_maps_as_pytorch_grad_cam_with_a_full_backward(tiny_cnn, tiny_batch):
    """Stopping the backward at the target layer changes no map: the reference runs it to the input."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    layer = target_layer_for(tiny_cnn)
    with GradCAM(model=tiny_cnn, target_layers=[layer]) as cam:
        reference = cam(input_tensor=tiny_batch.clone().requires_grad_(True),
                        targets=[ClassifierOutputTarget(1)] * len(tiny_batch))
    np.testing.assert_array_equal(gradcam_maps(tiny_cnn, tiny_batch, 1, target_layer=layer), reference)


def test_backward_stops_at_the_target_layer(tiny_cnn, tiny_batch):
    """No gradient flows into the layers below the target layer (the cost of a pass is about a forward)."""
    layer = target_layer_for(tiny_cnn)
    below = [m for m in tiny_cnn.modules() if isinstance(m, nn.Conv2d) and m is not layer
             and not any(m is sub for sub in layer.modules())][0]
    reached = []
    handle = below.register_full_backward_hook(lambda *args: reached.append(1))
    try:
        maps = gradcam_maps(tiny_cnn, tiny_batch, 1, target_layer=layer)
    finally:
        handle.remove()
    assert maps.max() > 0 and reached == []
