"""Small helpers shared by the explainers: device, target classes, Grad-CAM layer, log-odds wrapper.

The model contract: a ``torch.nn.Module`` in eval mode that takes (N, 3, H, W)
float tensors (grayscale replicated to 3 channels, then normalised with the
ImageNet mean/std) and returns logits (N, 2); class 1 = PNEUMONIA, 0 = NORMAL.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from data.errors import ConfigError
from training.backbones import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401  (re-exported for the explainers)
from training.predict import to_model_input  # noqa: F401  (the one input conversion, re-exported)

_CONTAINERS = (nn.Sequential, nn.ModuleList)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); CPU if it has none."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def as_target_array(targets: int | Sequence[int] | np.ndarray | torch.Tensor, n: int) -> np.ndarray:
    """Broadcast class indices to one per image.

    Args:
        targets: one class index for all images, or one per image.
        n: number of images.

    Returns:
        int64 array (n,).

    Raises:
        ConfigError: wrong length, non-integer or negative values.
    """
    if isinstance(targets, torch.Tensor):
        targets = targets.detach().cpu().numpy()
    arr = np.asarray(targets)
    if arr.ndim == 0:
        arr = np.full(n, arr.item())
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ConfigError(f"targets must be one class index or {n} of them, got shape {arr.shape}")
    if arr.size and not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ConfigError(f"targets must be integer class indices, got {arr.tolist()[:5]}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ConfigError(f"targets must be class indices >= 0, got {int(arr.min())}")
    return arr


def _has_conv(module: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in module.modules())


def _last_conv_block(module: nn.Module) -> nn.Module | None:
    """Last child that contains a Conv2d, descending through plain containers.

    A ``Sequential``/``ModuleList`` of blocks (e.g. a ResNet stage) is entered so
    that its last block is returned; anything else (a residual block, a Conv2d)
    is returned as is.
    """
    if isinstance(module, nn.Conv2d):
        return module
    candidates = [child for child in module.children() if _has_conv(child)]
    if not candidates:
        return None
    last = candidates[-1]
    if isinstance(last, _CONTAINERS):
        inner = _last_conv_block(last)
        return inner if inner is not None else last
    return last


def _after_conv_head(module: nn.Module, conv_head: nn.Module) -> nn.Module:
    """The normalisation + activation that follows ``conv_head`` (timm: ``bn2``), else ``conv_head``.

    timm's ``bn2`` is a ``BatchNormAct2d`` (BN then the activation), whose output is
    what ``forward_head`` pools. Older timm versions split it into ``bn2`` + ``act2``.
    """
    act2 = getattr(module, "act2", None)
    bn2 = getattr(module, "bn2", None)
    if isinstance(act2, nn.Module) and not isinstance(act2, nn.Identity):
        return act2
    if isinstance(bn2, nn.Module) and not isinstance(bn2, nn.Identity):
        return bn2
    return conv_head


def target_layer_for(model: nn.Module) -> nn.Module:
    """Find the last convolutional block of a classifier, for Grad-CAM.

    Rules, first match wins:

    1. a module (the model or any submodule, e.g. a fastai ``TimmBody``) with a
       ``layer4`` stage (torchvision ResNet): ``layer4[-1]``;
    2. a module with a ``conv_head`` Conv2d (timm EfficientNet, e.g.
       ``tf_efficientnet_lite0``): the module right after it that normalises and
       rectifies it (timm's ``bn2``, a ``BatchNormAct2d``), i.e. the rectified
       feature map the pooling head consumes, like ResNet's ``layer4[-1]``
       (hooking ``conv_head`` itself would add BatchNorm's spatially constant
       offset before the ReLU and change which cells survive); ``conv_head``
       only when there is no such module;
    3. a fastai-style ``nn.Sequential(body, head)`` whose head has no Conv2d:
       the last child of the body that contains a Conv2d, entering a stage
       container to return its last block (for a ResNet body: the last
       BasicBlock of layer4);
    4. fallback: the last module containing a Conv2d, found the same way on the
       whole model.

    Args:
        model: a ``torch.nn.Module`` classifier.

    Returns:
        The module whose output Grad-CAM should use (a submodule of ``model``).

    Raises:
        ConfigError: the model has no Conv2d at all (message names its type).
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"expected a torch.nn.Module, got {type(model).__name__}")
    for module in model.modules():
        stage = getattr(module, "layer4", None)
        if isinstance(stage, nn.Sequential) and len(stage) > 0 and _has_conv(stage):
            return stage[-1]
        head = getattr(module, "conv_head", None)
        if isinstance(head, nn.Conv2d):
            return _after_conv_head(module, head)
    if isinstance(model, nn.Sequential) and len(model) >= 2:
        body, head = model[0], model[-1]
        if _has_conv(body) and not _has_conv(head):
            layer = _last_conv_block(body)
            if layer is not None:
                return layer
    layer = _last_conv_block(model)
    if layer is None:
        raise ConfigError(
            f"cannot find a convolutional layer for Grad-CAM in a model of type "
            f"{type(model).__name__}; pass target_layer explicitly"
        )
    return layer


class BinaryLogOdds(nn.Module):
    """Wrap a 2-logit classifier so that output k is the log-odds of class k.

    Softmax is unchanged by adding a constant to both logits, so a single logit is
    not identifiable; the log-odds ``l_k - l_(1-k)`` is what decides the prediction.
    Explaining it makes IG completeness a statement about the decision, and avoids
    dividing by ``f(x) - f(baseline) ~ 0`` when both logits move together.

    Input: what the wrapped model takes. Output: (N, 2) with column 1 = -column 0.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        if logits.shape[-1] != 2:
            raise ConfigError(f"BinaryLogOdds needs a model with 2 outputs, got {logits.shape[-1]}")
        diff = logits[:, 1] - logits[:, 0]
        return torch.stack([-diff, diff], dim=1)


# --------------------------------------------------------------------------- any model (imported ones)

def named_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (``--gradcam-layer``), also looked up inside an import wrapper.

    Raises:
        ConfigError: no such submodule (the message lists the last few names that exist).
    """
    for prefix in ("", "model."):
        try:
            return model.get_submodule(prefix + name)
        except AttributeError:
            continue
    names = [n for n, _ in model.named_modules() if n]
    raise ConfigError(f"--gradcam-layer {name!r} is not a submodule of the model (expected a name such as "
                      f"{', '.join(repr(n.removeprefix('model.')) for n in names[-5:])})")


def last_spatial_layer(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """The module whose output is the model's last spatial feature map, found by one probe forward.

    Every submodule that accepts a forward hook is watched; the answer is the one that
    ran last among those called exactly once (a reused activation would give Grad-CAM
    two maps) whose output is a (N, C, H, W) tensor with H, W > 1. For a CNN this is
    the last convolutional stage before global pooling, whatever the architecture.

    Args:
        model: any ``nn.Module`` classifier.
        example: one valid input (1, 3, S, S).

    Raises:
        ConfigError: no submodule produces a spatial map that can be hooked (e.g. a
            TorchScript model that is not a ``Sequential``, or a model without
            convolutions); the message says why.
    """
    calls: dict[int, int] = {}
    order: list[tuple[nn.Module, tuple]] = []
    handles = []

    def hook(module, _inputs, output):
        calls[id(module)] = calls.get(id(module), 0) + 1
        if isinstance(output, torch.Tensor):
            order.append((module, tuple(output.shape)))

    for module in model.modules():
        if module is model:
            continue
        try:
            handles.append(module.register_forward_hook(hook))
        except (NotImplementedError, RuntimeError):
            continue  # TorchScript internals take no hooks
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        for handle in handles:
            handle.remove()
    spatial = [m for m, shape in order if len(shape) == 4 and shape[2] > 1 and shape[3] > 1 and calls[id(m)] == 1]
    if not spatial:
        raise ConfigError(f"no submodule of {type(model).__name__} outputs a hookable (N, C, H, W) feature map "
                          "(a TorchScript model that is not a Sequential, or a model without convolutions)")
    return spatial[-1]


def find_gradcam_layer(model: nn.Module, name: str | None = None, *, size: int) -> tuple[nn.Module | None, str]:
    """The Grad-CAM layer of any model, or None and the one-line reason it cannot be explained so.

    ``name`` (``--gradcam-layer``) wins; then the known rules of :func:`target_layer_for`
    for the toolkit's own models; for an imported model (an ``import`` wrapper exposing
    ``.model`` and ``.head``) the last spatial feature map found by :func:`last_spatial_layer`.

    Returns:
        (layer or None, how it was found or why there is none).

    Raises:
        ConfigError: ``name`` is given and is not a submodule.
    """
    if name:
        return named_layer(model, name), f"--gradcam-layer {name}"
    imported = hasattr(model, "head") and hasattr(model, "model") and hasattr(model, "channels")
    if not imported:
        try:
            return target_layer_for(model), "known architecture rule"
        except ConfigError:
            pass
    try:
        example = torch.zeros(1, 3, size, size, device=model_device(model))
        layer = last_spatial_layer(model, example)
    except ConfigError as exc:
        return None, str(exc)
    found = next((n for n, m in model.named_modules() if m is layer), "?")
    return layer, f"last spatial feature map ({found.removeprefix('model.')})"
