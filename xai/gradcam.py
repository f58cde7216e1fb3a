"""Grad-CAM maps through ``pytorch_grad_cam`` (pip name ``grad-cam``).

The GradCAM object registers forward hooks on the target layer; it is used as a
context manager so that the hooks are removed when the block ends, even on error.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from data.errors import ConfigError
from xai.models_util import as_target_array, model_device, target_layer_for


class _CheckedTarget(ClassifierOutputTarget):
    """ClassifierOutputTarget that rejects an out-of-range class index.

    ``BaseCAM.__exit__`` silently swallows ``IndexError``; raising ConfigError
    instead makes a bad class index fail loudly.
    """

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        n_classes = model_output.shape[-1]
        if not 0 <= self.category < n_classes:
            raise ConfigError(f"target class {self.category} is out of range for a model with {n_classes} outputs")
        return super().__call__(model_output)


def gradcam_maps(
    model: nn.Module,
    x: torch.Tensor,
    targets: int | Sequence[int] | np.ndarray | torch.Tensor,
    *,
    target_layer: nn.Module | None = None,
    batch_size: int = 16,
) -> np.ndarray:
    """Grad-CAM heat maps for a batch of model inputs.

    One ``GradCAM`` object (one set of hooks) serves all batches; the hooks are
    released when the ``with`` block ends. Each map is ReLU'd and min-max scaled
    per image by pytorch_grad_cam, then bilinearly resized to the input size.
    A flat (all non-positive) CAM comes out as zeros, never NaN.

    The model is put in eval mode (pytorch_grad_cam does so); parameter gradients
    it accumulates are cleared afterwards. The input is copied, never modified.

    Args:
        model: classifier following the model contract, logits (N, n_classes).
        x: float tensor (N, 3, H, W), already normalised (any device; it is
            copied to the model's device).
        targets: class index explained (1 = PNEUMONIA, 0 = NORMAL), one for all
            images or one per image.
        target_layer: layer whose activations are used; default
            :func:`xai.models_util.target_layer_for`.
        batch_size: images per forward/backward pass, >= 1.

    Returns:
        float32 array (N, H, W) with values in [0, 1], no NaN.

    Raises:
        ConfigError: bad shapes, batch size or class indices.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ConfigError(f"x must be a 4-D tensor (N, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    n, _, height, width = x.shape
    target_arr = as_target_array(targets, n)
    if n == 0:
        return np.zeros((0, height, width), dtype=np.float32)
    layer = target_layer if target_layer is not None else target_layer_for(model)
    device = model_device(model)
    maps: list[np.ndarray] = []
    try:
        with torch.enable_grad(), GradCAM(model=model, target_layers=[layer]) as cam:
            for start in range(0, n, int(batch_size)):
                stop = min(start + int(batch_size), n)
                # A fresh leaf that requires grad: keeps x untouched and makes the
                # target activations carry gradients even if the body is frozen.
                batch = x[start:stop].detach().to(device=device, dtype=torch.float32).clone().requires_grad_(True)
                batch_targets = [_CheckedTarget(int(t)) for t in target_arr[start:stop]]
                maps.append(np.asarray(cam(input_tensor=batch, targets=batch_targets), dtype=np.float32))
    finally:
        model.zero_grad(set_to_none=True)
    if sum(m.shape[0] for m in maps) != n:  # BaseCAM.__exit__ swallows IndexError
        raise ConfigError(f"Grad-CAM failed for some of {n} images (an IndexError inside pytorch_grad_cam)")
    out = np.concatenate(maps, axis=0)
    out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)
