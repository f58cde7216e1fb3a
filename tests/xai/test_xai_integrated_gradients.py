"""Integrated Gradients: completeness, exactness on a linear model, adaptive steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from data.errors import ConfigError
from xai.integrated_gradients import IGResult, black_baseline, integrated_gradients
from xai.models_util import IMAGENET_MEAN, IMAGENET_STD


class SteepModel(nn.Module):
    """Logit(1) = s + tanh(k (s - c)), s = mean pixel (through a 1x1 conv); logit(0) = -logit(1).

    On the path from a black baseline to a constant image of value v, the tanh
    is saturated (flat) when v << c, so the integrand is constant and any
    quadrature is exact; when v > c the path crosses a steep step at alpha = c / v,
    which 16 Gauss-Legendre nodes cannot resolve.
    """

    def __init__(self, k: float = 30.0, c: float = 0.5) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.fill_(1 / 3)
        self.k, self.c = k, c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.conv(x).mean(dim=(1, 2, 3))
        logit = s + torch.tanh(self.k * (s - self.c))
        return torch.stack([-logit, logit], dim=1)


def _easy_and_hard() -> torch.Tensor:
    return torch.stack([torch.full((3, 8, 8), 0.2), torch.full((3, 8, 8), 1.0)])


def test_black_baseline_is_black_in_pixel_space():
    x = torch.randn(2, 3, 16, 16)
    base = black_baseline(x, IMAGENET_MEAN, IMAGENET_STD)
    assert base.shape == x.shape and base.dtype == x.dtype
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    pixels = base * std + mean
    assert torch.allclose(pixels, torch.zeros_like(pixels), atol=1e-6)
    # A zero tensor in normalised space is mean-grey, not black.
    assert not torch.allclose(base, torch.zeros_like(base))
    assert black_baseline(x[0]).shape == (3, 16, 16)


def test_black_baseline_rejects_wrong_channel_count():
    with pytest.raises(ConfigError, match="3 values"):
        black_baseline(torch.zeros(1, 3, 8, 8), mean=(0.5,), std=(0.5,))


def test_linear_model_attributions_are_exact():
    """For f(x) = w . x, IG = w * (x - b) with any number of steps."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 6, 2)).eval()
    x = torch.randn(2, 3, 6, 6)
    base = black_baseline(x)
    result = integrated_gradients(model, x, 1, baseline=base, sum_channels=False)
    assert isinstance(result, IGResult)
    w = model[1].weight[1].detach().view(3, 6, 6)
    expected = (w * (x - base)).numpy()
    np.testing.assert_allclose(result.attributions, expected, rtol=1e-4, atol=1e-5)
    assert np.all(result.steps_used == 16)
    assert np.all(result.completeness_error < 1e-4)


def test_completeness_on_tiny_cnn(tiny_cnn, tiny_batch):
    x_before = tiny_batch.clone()
    attr, err, steps = integrated_gradients(tiny_cnn, tiny_batch, [0, 1, 1], baseline=black_baseline(tiny_batch))
    assert torch.equal(tiny_batch, x_before)
    assert attr.shape == (3, 32, 32) and attr.dtype == np.float32
    assert err.shape == (3,) and steps.shape == (3,) and steps.dtype == np.int64
    assert np.all(err < 0.01)
    # Independent check of the completeness axiom from the returned maps.
    with torch.no_grad():
        logits_x = tiny_cnn(tiny_batch)
        logits_b = tiny_cnn(black_baseline(tiny_batch))
    targets = torch.tensor([0, 1, 1])
    diff = (logits_x - logits_b)[torch.arange(3), targets].numpy()
    rel = np.abs(attr.reshape(3, -1).sum(axis=1) - diff) / np.maximum(np.abs(diff), 0.1)
    assert np.all(rel < 0.011)


def test_adaptive_steps_only_where_needed():
    model = SteepModel().eval()
    x = _easy_and_hard()
    base = torch.zeros(3, 8, 8)
    fixed = integrated_gradients(model, x, 1, baseline=base, start_steps=16, max_steps=16)
    assert fixed.completeness_error[0] < 1e-4  # easy: exact at 16 steps
    assert fixed.completeness_error[1] > 0.05  # hard: 16 steps are far off
    adaptive = integrated_gradients(model, x, 1, baseline=base, tol=0.01, start_steps=16, max_steps=128)
    assert adaptive.steps_used[0] == 16
    assert 16 < adaptive.steps_used[1] <= 128
    assert np.all(adaptive.completeness_error < 0.01)
    np.testing.assert_allclose(adaptive.attributions[0], fixed.attributions[0], rtol=1e-5, atol=1e-7)


def test_max_steps_caps_and_reports_remaining_error():
    model = SteepModel().eval()
    result = integrated_gradients(model, _easy_and_hard(), 1, baseline=torch.zeros(3, 8, 8), max_steps=32)
    assert result.steps_used.tolist() == [16, 32]
    assert result.completeness_error[1] > 0.01  # not hidden: still above tol


def test_equal_scores_give_finite_error():
    """f(x) == f(baseline): the error falls back to |delta| / min_denominator."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).eval()
    x = torch.randn(1, 3, 4, 4)
    result = integrated_gradients(model, x, 0, baseline=x.clone())
    assert np.isfinite(result.completeness_error).all()
    assert result.completeness_error[0] < 1e-4
    np.testing.assert_allclose(result.attributions, 0.0, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tol": 0}, "tol"),
        ({"start_steps": 0}, "start_steps"),
        ({"start_steps": 64, "max_steps": 32}, "start_steps"),
        ({"method": "simpson"}, "method"),
        ({"min_denominator": 0}, "min_denominator"),
    ],
)
def test_bad_parameters_raise_config_error(tiny_cnn, tiny_batch, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        integrated_gradients(tiny_cnn, tiny_batch, 1, baseline=black_baseline(tiny_batch), **kwargs)


def test_bad_targets_and_baseline_raise(tiny_cnn, tiny_batch):
    base = black_baseline(tiny_batch)
    with pytest.raises(ConfigError, match="out of range"):
        integrated_gradients(tiny_cnn, tiny_batch, 2, baseline=base)
    with pytest.raises(ConfigError, match="targets"):
        integrated_gradients(tiny_cnn, tiny_batch, [0, 1], baseline=base)
    with pytest.raises(ConfigError, match="baseline shape"):
        integrated_gradients(tiny_cnn, tiny_batch, 1, baseline=base[:, :, :16])
