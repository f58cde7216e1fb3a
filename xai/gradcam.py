"""Grad-CAM maps through ``pytorch_grad_cam`` (pip name ``grad-cam``).

The GradCAM object registers forward hooks on the target layer; it is used as a
context manager so that the hooks are removed when the block ends, even on error.

Grad-CAM needs the target layer's activations and the gradient of the score with
respect to them, i.e. only the part of the network *after* that layer. A forward
hook (:func:`_backward_stops_at`) hands the rest of the network a fresh leaf in
place of the layer's output, so the backward pass ends there instead of running
through the whole body to the input: the maps are the same to the bit (tested)
and the backward pass covers only the head (its speed-up was not timed on its own).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import cv2
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


class _GradCAMKeepRaw(GradCAM):
    """GradCAM that also keeps the raw class-activation map of each image.

    The raw map is the gradient-weighted sum of the target layer's channels
    *before* pytorch_grad_cam's ReLU and per-image min-max, bilinearly resized to
    the input (the same ``cv2.resize`` the library uses). Its ranking of pixels
    does not depend on where a ReLU cuts, which the localisation statistics need.
    """

    def compute_cam_per_layer(self, input_tensor, targets, eigen_smooth):
        activations = [a.cpu().data.numpy() for a in self.activations_and_grads.activations]
        grads = [g.cpu().data.numpy() for g in self.activations_and_grads.gradients]
        if activations and grads:
            cam = self.get_cam_image(input_tensor, self.target_layers[0], None, activations[0], grads[0], False)
            size = self.get_target_width_height(input_tensor)
            self.raw_maps.append(np.stack([cv2.resize(np.float32(c), size) for c in cam]))
        return super().compute_cam_per_layer(input_tensor, targets, eigen_smooth)


@contextmanager
def _backward_stops_at(layer: nn.Module) -> Iterator[None]:
    """Inside the block, ``layer`` returns a copy of its output that starts a new graph.

    The copy is a non-leaf (``clone`` of a detached leaf that requires grad), so an
    in-place operation after the layer stays legal. The hook is put first
    (``prepend``) so that pytorch_grad_cam's own hooks see the copy.
    """

    def start_graph(module: nn.Module, inputs: tuple, output):
        if not isinstance(output, torch.Tensor):
            return None
        return output.detach().requires_grad_(True).clone()

    handle = layer.register_forward_hook(start_graph, prepend=True)
    try:
        yield
    finally:
        handle.remove()


def gradcam_maps(
    model: nn.Module,
    x: torch.Tensor,
    targets: int | Sequence[int] | np.ndarray | torch.Tensor,
    *,
    target_layer: nn.Module | None = None,
    batch_size: int = 16,
    return_raw: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
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
        return_raw: also return the raw maps (before ReLU and min-max, resized;
            any sign, in the units of the explained output per activation).

    Returns:
        float32 array (N, H, W) with values in [0, 1], no NaN; with
        ``return_raw``, ``(maps, raw)`` with raw float32 (N, H, W).

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
        empty = np.zeros((0, height, width), dtype=np.float32)
        return (empty, empty.copy()) if return_raw else empty
    layer = target_layer if target_layer is not None else target_layer_for(model)
    device = model_device(model)
    maps: list[np.ndarray] = []
    try:
        with (torch.enable_grad(), _backward_stops_at(layer),
              _GradCAMKeepRaw(model=model, target_layers=[layer]) as cam):
            cam.raw_maps = []
            for start in range(0, n, int(batch_size)):
                stop = min(start + int(batch_size), n)
                # The target activations carry gradients even if the body is frozen
                # (_backward_stops_at); the input needs none.
                batch = x[start:stop].detach().to(device=device, dtype=torch.float32)
                batch_targets = [_CheckedTarget(int(t)) for t in target_arr[start:stop]]
                maps.append(np.asarray(cam(input_tensor=batch, targets=batch_targets), dtype=np.float32))
    finally:
        model.zero_grad(set_to_none=True)
    if sum(m.shape[0] for m in maps) != n:  # BaseCAM.__exit__ swallows IndexError
        raise ConfigError(f"Grad-CAM failed for some of {n} images (an IndexError inside pytorch_grad_cam)")
    out = np.concatenate(maps, axis=0)
    out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    out = np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)
    if not return_raw:
        return out
    raw = np.concatenate(cam.raw_maps, axis=0).astype(np.float32)
    return out, np.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0)
