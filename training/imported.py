"""Bring your own model: wrap a classifier this toolkit did not train so every command can use it.

A model is imported from a TorchScript file, or from a torchvision/timm architecture
name plus a state dict. The user states its preprocessing (input side, channels,
mean/std; the toolkit squeezes every film to a square) and which output is PNEUMONIA:

- ``softmax``: a K-class softmax head (K >= 2) and the PNEUMONIA index;
- ``sigmoid``: a single logit, P(pneumonia) = sigmoid(logit);
- ``multilabel``: one index of a multi-label (independent sigmoid) head.

:class:`PneumoniaOutput` turns any of these into the toolkit's model contract:
(N, 3, S, S) normalised grayscale-replicated input -> (N, 2) logits whose softmax
column 1 is P(pneumonia) (column 0 is a constant 0 and column 1 the log-odds).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from data.errors import ConfigError

HEADS = ("softmax", "sigmoid", "multilabel")
RESIZE_RULES = ("squeeze",)
SOURCES = ("torchscript", "torchvision", "timm")


@dataclass(frozen=True)
class ModelSpec:
    """How to rebuild and feed an imported model (saved in ``run.json`` under ``import``).

    Attributes:
        source: ``torchscript``, ``torchvision`` or ``timm``.
        arch: architecture name (torchvision/timm) or ``None`` for TorchScript.
        size: square input side S in pixels.
        channels: 1 (the model takes one grayscale channel) or 3 (grayscale replicated).
        mean, std: per-channel normalisation after scaling pixels to [0, 1] (``channels`` values each).
        head: ``softmax``, ``sigmoid`` or ``multilabel``.
        pneumonia_index: output index of PNEUMONIA (0 for ``sigmoid``).
        num_outputs: width K of the model's output.
        resize: how films are made square (only ``squeeze``, the toolkit's rule).
    """

    source: str
    arch: str | None
    size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    head: str
    pneumonia_index: int
    num_outputs: int
    resize: str = "squeeze"

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ConfigError(f"model source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.channels not in (1, 3):
            raise ConfigError(f"--channels must be 1 or 3, got {self.channels}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ConfigError(f"--mean and --std need {self.channels} value(s) each for --channels {self.channels}, "
                              f"got mean={list(self.mean)} std={list(self.std)}")
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"--std values must be > 0, got {list(self.std)}")
        if int(self.size) < 16:
            raise ConfigError(f"--size must be >= 16 pixels, got {self.size}")
        if self.head not in HEADS:
            raise ConfigError(f"--head must be one of {', '.join(HEADS)}, got {self.head!r}")
        if self.resize not in RESIZE_RULES:
            raise ConfigError(f"--resize must be {' or '.join(RESIZE_RULES)} (the toolkit squeezes every film to "
                              f"size x size), got {self.resize!r}")

    @property
    def mean3(self) -> tuple[float, float, float]:
        """Mean for the toolkit's 3-channel input (one value replicated for a 1-channel model)."""
        return tuple(self.mean) * 3 if self.channels == 1 else tuple(self.mean)

    @property
    def std3(self) -> tuple[float, float, float]:
        return tuple(self.std) * 3 if self.channels == 1 else tuple(self.std)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["mean"], out["std"] = list(self.mean), list(self.std)
        return out


def check_head(spec_head: str, index: int | None, num_outputs: int) -> int:
    """Validate the stated PNEUMONIA output against the model's output width; returns the index.

    Raises:
        ConfigError: no stated index for a multi-output head, an index out of range, a
            ``sigmoid`` head with more than one output, or a ``softmax`` head with one.
    """
    if spec_head == "sigmoid":
        if num_outputs != 1:
            raise ConfigError(f"--head sigmoid expects a single output logit, but the model has {num_outputs} "
                              "outputs; use --head softmax or --head multilabel with --pneumonia-index K")
        if index not in (None, 0):
            raise ConfigError(f"--pneumonia-index must be 0 (or omitted) for --head sigmoid, got {index}")
        return 0
    if spec_head == "softmax" and num_outputs < 2:
        raise ConfigError(f"--head softmax needs at least 2 outputs, but the model has {num_outputs}; "
                          "use --head sigmoid for a single logit")
    if index is None:
        raise ConfigError(f"the model has {num_outputs} outputs and no PNEUMONIA output was stated; "
                          f"pass --pneumonia-index K with 0 <= K < {num_outputs}")
    if not 0 <= index < num_outputs:
        raise ConfigError(f"--pneumonia-index {index} is outside the model's {num_outputs} outputs "
                          f"(expected 0 <= K < {num_outputs})")
    return int(index)


class PneumoniaOutput(nn.Module):
    """Wrap any classifier into the toolkit's contract (see module docstring).

    Input: (N, 3, S, S) float, grayscale replicated and normalised with ``spec.mean3/std3``
    (for a 1-channel model only channel 0 is passed on). Output: (N, 2) with column 0 = 0
    and column 1 = log-odds of PNEUMONIA, so ``softmax(out)[:, 1]`` is the model's own
    P(pneumonia): ``softmax(logits)[k]``, ``sigmoid(logit)`` or ``sigmoid(logits[k])``.
    """

    def __init__(self, model: nn.Module, head: str, index: int, channels: int):
        super().__init__()
        self.model = model
        self.head = head
        self.index = int(index)
        self.channels = int(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels == 1:
            x = x[:, :1]
        out = self.model(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if isinstance(out, dict):
            out = out.get("logits", next(iter(out.values())))
        out = out.reshape(out.shape[0], -1)
        if self.head == "softmax":
            others = torch.cat([out[:, :self.index], out[:, self.index + 1:]], dim=1)
            z = out[:, self.index] - torch.logsumexp(others, dim=1)  # log(p_k / (1 - p_k))
        else:
            z = out[:, self.index]
        return torch.stack([torch.zeros_like(z), z], dim=1)


class _ScriptStep(nn.Module):
    """A Python module around one TorchScript submodule, so Grad-CAM can hook its output."""

    def __init__(self, step: nn.Module):
        super().__init__()
        self.step = step

    def forward(self, x):
        return self.step(x)


def unroll_script(module: nn.Module) -> nn.Module:
    """A TorchScript ``Sequential`` as a Python ``nn.Sequential`` of hookable steps (recursively).

    TorchScript modules accept no forward hooks, which Grad-CAM needs. A scripted or
    traced ``Sequential`` (e.g. a fastai ``Sequential(body, head)``) only chains its
    children, so calling them one by one from Python computes the same function. Any
    other scripted module is kept whole (Grad-CAM will then find no spatial layer in it).
    """
    if getattr(module, "original_name", None) == "Sequential":
        return nn.Sequential(*[unroll_script(child) for child in module.children()])
    return _ScriptStep(module) if isinstance(module, torch.jit.ScriptModule) else module


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_torchscript(path: str | Path) -> nn.Module:
    """Load a TorchScript file on CPU and unroll it for hooks.

    Raises:
        ConfigError: the file is missing or is not a TorchScript model.
    """
    import warnings

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model file {path} does not exist (expected a TorchScript .pt file)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated but still the common export
            scripted = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError/ValueError/... for a file that is not TorchScript
        raise ConfigError(f"{path} is not a TorchScript model (expected a file written by torch.jit.save): "
                          f"{str(exc).splitlines()[0][:200]}") from exc
    return unroll_script(scripted.eval()).eval()


def build_architecture(source: str, arch: str, num_outputs: int, channels: int) -> nn.Module:
    """An untrained torchvision or timm model with ``num_outputs`` outputs.

    Raises:
        ConfigError: unknown architecture name.
    """
    if source == "timm":
        import timm

        try:
            return timm.create_model(arch, pretrained=False, num_classes=num_outputs, in_chans=channels)
        except Exception as exc:  # timm raises RuntimeError for an unknown name
            raise ConfigError(f"timm has no architecture {arch!r} ({exc}); see timm.list_models()") from exc
    import torchvision

    if arch not in torchvision.models.list_models():
        raise ConfigError(f"torchvision has no architecture {arch!r} (expected a name from "
                          "torchvision.models.list_models(), e.g. resnet18, densenet121)")
    if channels != 3:
        raise ConfigError(f"torchvision architectures take 3 channels; got --channels {channels}")
    return torchvision.models.get_model(arch, weights=None, num_classes=num_outputs)


def read_state_dict(path: str | Path) -> dict:
    """A state dict from a file (also unwraps ``{"state_dict": ...}`` / ``{"model": ...}`` checkpoints).

    Raises:
        ConfigError: missing file, or not a state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"state dict {path} does not exist (expected a file written by torch.save(model.state_dict()))")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"{path} is not a state dict (expected a file written by torch.save(model.state_dict())): "
                          f"{str(exc).splitlines()[0][:200]}") from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{path} does not hold a state dict (a mapping of parameter names to tensors)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def infer_num_outputs(state: dict) -> int:
    """Width of the last 2-D weight in a state dict (the classifier head), e.g. ``fc.weight`` (K, F) -> K."""
    matrices = [v for k, v in state.items() if k.endswith("weight") and v.ndim == 2]
    if not matrices:
        raise ConfigError("cannot tell the number of outputs from the state dict (no linear layer); "
                          "pass --num-outputs K")
    return int(matrices[-1].shape[0])


def load_state_model(source: str, arch: str, state: dict, num_outputs: int, channels: int) -> nn.Module:
    """Build ``arch`` and load ``state`` into it (strict).

    Raises:
        ConfigError: the state dict does not fit the architecture.
    """
    model = build_architecture(source, arch, num_outputs, channels)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:300]
        raise ConfigError(f"the state dict does not fit {source} {arch} with {num_outputs} outputs and "
                          f"{channels} channel(s): {first}") from exc
    return model.eval()


def probe_outputs(model: nn.Module, size: int, channels: int) -> int:
    """Run one black image of the stated input size; returns the output width K.

    Raises:
        ConfigError: the model refuses an input of (1, channels, size, size) (wrong input
            size or channels), or does not return a (1, K) tensor.
    """
    x = torch.zeros(1, channels, size, size)
    try:
        with torch.no_grad():
            out = model.eval()(x)
    except Exception as exc:  # shape mismatches surface as RuntimeError deep inside the model
        raise ConfigError(f"the model does not accept the stated input (1, {channels}, {size}, {size}) "
                          f"(--size {size}, --channels {channels}): {' '.join(str(exc).split())[:200]}") from exc
    if isinstance(out, (tuple, list)):
        out = out[0]
    if isinstance(out, dict):
        out = out.get("logits", next(iter(out.values())))
    if not isinstance(out, torch.Tensor) or out.shape[0] != 1 or out[0].numel() < 1:
        raise ConfigError(f"the model must return a (1, K) tensor of scores for one image, got "
                          f"{getattr(out, 'shape', type(out).__name__)}")
    return int(out[0].numel())


def wrap(model: nn.Module, spec: ModelSpec) -> PneumoniaOutput:
    """The model in the toolkit's contract (eval mode, CPU)."""
    return PneumoniaOutput(model, spec.head, spec.pneumonia_index, spec.channels).eval()


def load_imported(run_dir: Path, info: dict) -> nn.Module:
    """Rebuild an imported run's model from ``run.json['import']`` and the model file in the run.

    Raises:
        ConfigError: the run's import record or model file is unusable.
    """
    record = info["import"]
    spec = ModelSpec(**{**record["spec"], "mean": tuple(record["spec"]["mean"]),
                        "std": tuple(record["spec"]["std"])})
    path = run_dir / record["model_file"]
    if spec.source == "torchscript":
        model = load_torchscript(path)
    else:
        model = load_state_model(spec.source, spec.arch, read_state_dict(path), spec.num_outputs, spec.channels)
    return wrap(model, spec)
