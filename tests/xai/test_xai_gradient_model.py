"""gradient_model: folding batch norms into convolutions changes speed, not the function or its input gradient."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from xai.gradient_model import fold_batchnorm, frozen_parameters, gradient_model
from xai.models_util import BinaryLogOdds


def _randomise_batchnorms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial running statistics and affine parameters, so that folding has something to get wrong."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=g) - 0.5)
    return model.eval()


def _input_gradient(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    point = x.clone().requires_grad_(True)
    out = model(point)
    (grad,) = torch.autograd.grad(out[:, 1].sum(), point)
    return out.detach(), grad


def _n_bn(model: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def _assert_same_function(original: nn.Module, folded: nn.Module, x: torch.Tensor, grad_floor: float = 1e-5) -> None:
    """Same scores; input gradients as close to the float64 truth as the original network's, or within ``grad_floor``.

    At one point an input gradient is discontinuous: a unit within float32 rounding
    of its kink (ReLU6 at 0 or 6) can switch either way in either network.
    """
    out0, grad0 = _input_gradient(original, x)
    out1, grad1 = _input_gradient(folded, x)
    torch.testing.assert_close(out1, out0, rtol=1e-4, atol=1e-4 * float(out0.abs().max()))
    _, exact = _input_gradient(copy.deepcopy(original).double(), x.double())

    def off(grad):
        return float((grad.double() - exact).norm() / exact.norm())

    assert off(grad1) <= max(2 * off(grad0), grad_floor), (off(grad1), off(grad0))


def test_resnet18_behind_log_odds_is_folded_and_computes_the_same_scores_and_input_gradients():
    torch.manual_seed(0)
    model = BinaryLogOdds(_randomise_batchnorms(resnet18(weights=None, num_classes=2)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(3, 3, 64, 64)
    fast = gradient_model(model, x[:1])
    assert fast is not model and _n_bn(model) == 20 and _n_bn(fast) == 0  # every conv -> bn pair folded
    # BinaryLogOdds checks its logits' shape in Python (fx cannot trace it): it is kept, its child folded
    assert isinstance(fast, BinaryLogOdds)
    assert not any(p.requires_grad for p in fast.parameters())
    _assert_same_function(model, fast, x)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the original is untouched
    assert all(p.requires_grad for p in model.parameters())


def test_timm_batchnorm_with_activation_keeps_its_activation():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = _randomise_batchnorms(timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=2))
    assert any(type(m).__name__ == "BatchNormAct2d" for m in model.modules())
    x = torch.randn(2, 3, 64, 64)
    fast = gradient_model(model, x[:1])
    assert _n_bn(fast) == 0 and any(isinstance(m, nn.ReLU6) for m in fast.modules())
    # one ReLU6 unit of 1,005,312 switches here (0.15 % of the gradient); the float64 fold is exact (2e-15)
    _assert_same_function(model, fast, x, grad_floor=1e-2)


class _SharedConvOutput(nn.Module):
    """A convolution whose output feeds a batch norm *and* a skip: folding it would change the skip."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y = self.conv(x)
        z = self.bn2(self.conv2(torch.relu(self.bn(y)))) + y
        return self.fc(z.mean(dim=(2, 3)))


def test_a_convolution_used_twice_is_not_folded_and_the_rest_is():
    torch.manual_seed(0)
    model = _randomise_batchnorms(_SharedConvOutput())
    folded = fold_batchnorm(model)
    assert _n_bn(folded) == 1  # bn (after the shared conv) stays; bn2 is folded into conv2
    _assert_same_function(model, folded, torch.randn(2, 3, 16, 16))


def test_a_model_without_batch_norm_is_returned_itself():
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    assert gradient_model(model, torch.randn(1, 3, 8, 8)) is model


def test_frozen_parameters_switches_grads_off_inside_and_restores_each_flag():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model[1].bias.requires_grad_(False)
    with frozen_parameters(model):
        assert not any(p.requires_grad for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == [True, True, True, False]
    with pytest.raises(RuntimeError), frozen_parameters(model):
        raise RuntimeError("restored on errors too")
    assert [p.requires_grad for p in model.parameters()] == [True, True, True, False]
