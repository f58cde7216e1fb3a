"""Sanity check of saliency maps by cascading model-parameter randomisation (Adebayo et al. 2018).

Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim, "Sanity Checks for Saliency
Maps", NeurIPS 2018. A map that explains the model must change when the model's
weights are destroyed. The model is deep-copied and its blocks are
re-initialised from the head down, cumulatively (head; head + last stage block;
...; everything). After each step the maps of a few images are recomputed and
compared with the original ones by Spearman rank correlation (scipy) and SSIM
(scikit-image). A method whose maps stay similar after full randomisation
(mean Spearman above a threshold) FAILS: its maps show the input (edges,
brightness), not the model's reasoning.

Conventions:

* Integrated Gradients is compared in absolute value, as in the paper (the sign
  of an attribution can flip under randomisation while the magnitude pattern
  stays, and it is the magnitude pattern a reader sees). Grad-CAM maps are
  non-negative already.
* Maps are explained on :class:`xai.models_util.BinaryLogOdds` (the log-odds of
  the target class), like the explain step.
* For SSIM each map is min-max scaled to [0, 1] first (randomised models produce
  maps on wildly different scales; SSIM needs a common ``data_range``), then
  ``data_range`` is the range spanned by the two scaled maps (1 unless a map is
  constant).
* A constant randomised map (e.g. an all-zero Grad-CAM) shares no rank
  information with a non-constant original: its Spearman is 0, not NaN.
* Re-initialisation calls ``reset_parameters()`` of every submodule that has it
  (Conv, Linear: Kaiming-uniform; BatchNorm: weight 1, bias 0, running stats
  reset) under a seeded, forked torch RNG; the caller's model and global RNG
  are untouched.
"""

from __future__ import annotations

import copy
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity
from torch import nn

from data.errors import ConfigError
from xai.gradcam import gradcam_maps
from xai.integrated_gradients import black_baseline, integrated_gradients
from xai.models_util import IMAGENET_MEAN, IMAGENET_STD, BinaryLogOdds, as_target_array, target_layer_for

#: A map function: (model with 2 logits, normalised x (N, 3, H, W), targets (N,)) -> maps (N, H, W).
MapFn = Callable[[nn.Module, torch.Tensor, np.ndarray], np.ndarray]
#: Methods whose maps are compared in absolute value.
ABSOLUTE = ("ig",)
DEFAULT_THRESHOLD = 0.5

_CONTAINERS = (nn.Sequential, nn.ModuleList)


# ----------------------------------------------------------------------------- which blocks, in which order

def _has_conv(module: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in module.modules())


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _is_stage(module: nn.Module) -> bool:
    """A container of at least two convolutional blocks (a ResNet ``layerN``, an EfficientNet stage)."""
    return isinstance(module, _CONTAINERS) and sum(_has_conv(c) for c in module.children()) >= 2


def _leaves(module: nn.Module, prefix: str, root: bool) -> list[tuple[str, nn.Module]]:
    """Blocks of a network: descend through the root, containers and modules that hold stages."""
    descend = root or isinstance(module, _CONTAINERS) or any(_is_stage(c) for c in module.children())
    if descend and any(True for _ in module.children()):
        out = []
        for name, child in module.named_children():
            out += _leaves(child, f"{prefix}.{name}" if prefix else name, False)
        return out
    return [(prefix or "model", module)] if _has_params(module) else []


#: Children of a torchvision ResNet up to layer4, as fastai's ``create_body`` keeps them (names lost).
_RESNET_BODY = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")


def _readable(name: str, inner: nn.Module) -> str:
    """``0.7.1`` -> ``body.layer4.1`` for a fastai ``Sequential(body, head)`` around a ResNet body."""
    if not (isinstance(inner, nn.Sequential) and len(inner) == 2 and _has_conv(inner[0])
            and not _has_conv(inner[1]) and name.startswith("0.")):
        return name
    parts = name.split(".")[1:]
    body = inner[0]
    resnet_like = (isinstance(body, nn.Sequential) and len(body) == len(_RESNET_BODY)
                   and isinstance(body[0], nn.Conv2d) and all(isinstance(body[i], nn.Sequential) for i in range(4, 8)))
    if resnet_like and parts and parts[0].isdigit():
        parts[0] = _RESNET_BODY[int(parts[0])]
    return ".".join(["body", *parts])


def randomisation_steps(model: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """The cascade: blocks of ``model`` from the head (output side) down to the input.

    Blocks are the children of the model and of its containers, entering
    stage containers (ResNet ``layer4`` -> its BasicBlocks) but not the blocks
    themselves. Every parameterised block after the last convolutional one is
    grouped as one ``head`` step. A :class:`BinaryLogOdds` wrapper is looked through.
    The body of a fastai ``Sequential(body, head)`` is named ``body.*`` (with the
    ResNet stage names when the body is a ResNet: ``body.layer4.1``).

    Args:
        model: a classifier.

    Returns:
        ``[(name, [modules]), ...]`` in randomisation order (head first).

    Raises:
        ConfigError: the model has no parameters.
    """
    inner = model.model if isinstance(model, BinaryLogOdds) else model
    leaves = [(_readable(name, inner), m) for name, m in _leaves(inner, "", True)]
    if not leaves:
        raise ConfigError(f"a model of type {type(inner).__name__} has no parameters to randomise")
    conv_idx = [i for i, (_, m) in enumerate(leaves) if _has_conv(m)]
    if not conv_idx:
        return [(name, [m]) for name, m in reversed(leaves)]
    last = conv_idx[-1]
    steps = []
    head = leaves[last + 1:]
    if head:
        steps.append(("head", [m for _, m in head]))
    steps += [(name, [m]) for name, m in reversed(leaves[:last + 1])]
    return steps


def reinitialise(modules: Sequence[nn.Module], seed: int) -> int:
    """Re-initialise every submodule with ``reset_parameters`` (seeded; global RNG untouched).

    Args:
        modules: modules to randomise in place.
        seed: torch seed of this step.

    Returns:
        Number of submodules reset.
    """
    count = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for module in modules:
            for sub in module.modules():
                reset = getattr(sub, "reset_parameters", None)
                if callable(reset):
                    reset()
                    count += 1
    return count


# ----------------------------------------------------------------------------- maps and similarity

def gradcam_method(model: nn.Module, x: torch.Tensor, targets: np.ndarray) -> np.ndarray:
    """Grad-CAM of the log-odds at :func:`xai.models_util.target_layer_for`; (N, H, W) in [0, 1]."""
    layer = target_layer_for(model)
    return gradcam_maps(BinaryLogOdds(model), x, targets, target_layer=layer)


def ig_method(mean=IMAGENET_MEAN, std=IMAGENET_STD, steps: int = 16) -> MapFn:
    """Integrated Gradients of the log-odds from a black baseline with a fixed number of steps.

    A fixed step count keeps the cost bounded: randomised models can have any
    completeness error, and only the map pattern is compared.
    """
    def method(model: nn.Module, x: torch.Tensor, targets: np.ndarray) -> np.ndarray:
        res = integrated_gradients(BinaryLogOdds(model), x, targets, baseline=black_baseline(x, mean, std),
                                   tol=1e9, start_steps=steps, max_steps=steps)
        return res.attributions

    return method


def default_methods(mean=IMAGENET_MEAN, std=IMAGENET_STD, ig_steps: int = 16) -> dict[str, MapFn]:
    """``{"gradcam": ..., "ig": ...}``."""
    return {"gradcam": gradcam_method, "ig": ig_method(mean, std, ig_steps)}


def _scaled(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return np.zeros_like(a, dtype=np.float64) if hi - lo <= 0 else (a.astype(np.float64) - lo) / (hi - lo)


def map_similarity(original: np.ndarray, randomised: np.ndarray, *, absolute: bool = False) -> tuple[float, float]:
    """Spearman rank correlation and SSIM of two maps (see the module conventions).

    Args:
        original: (H, W) map of the original model.
        randomised: (H, W) map of the randomised model.
        absolute: compare absolute values (IG).

    Returns:
        (spearman in [-1, 1] or NaN when the original is constant, ssim in [-1, 1]).
    """
    a, b = np.asarray(original, np.float64), np.asarray(randomised, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ConfigError(f"maps must be 2-D of equal shape, got {a.shape} and {b.shape}")
    if absolute:
        a, b = np.abs(a), np.abs(b)
    if np.ptp(a) == 0:
        rho = float("nan")
    elif np.ptp(b) == 0:
        rho = 0.0
    else:
        rho = float(spearmanr(a.ravel(), b.ravel())[0])
    sa, sb = _scaled(a), _scaled(b)
    data_range = max(sa.max(), sb.max()) - min(sa.min(), sb.min())
    if data_range == 0:
        ssim = 1.0 if np.array_equal(sa, sb) else 0.0
    else:
        win = min(7, *a.shape)
        win = win if win % 2 else win - 1
        ssim = float(structural_similarity(sa, sb, data_range=data_range, win_size=max(win, 3)))
    return rho, ssim


# ----------------------------------------------------------------------------- the check

def _resolve_methods(methods, mean, std, ig_steps) -> dict[str, MapFn]:
    builtins = default_methods(mean, std, ig_steps)
    if isinstance(methods, Mapping):
        return dict(methods)
    out = {}
    for m in methods:
        if m not in builtins:
            raise ConfigError(f"unknown saliency method {m!r}; known: {', '.join(builtins)} (or pass callables)")
        out[m] = builtins[m]
    return out


def saliency_sanity(model: nn.Module, x: torch.Tensor, targets, *,
                    methods: Sequence[str] | Mapping[str, MapFn] = ("gradcam", "ig"), n_layers: int | None = None,
                    seed: int = 0, mean=IMAGENET_MEAN, std=IMAGENET_STD, ig_steps: int = 16,
                    return_maps: bool = False):
    """Cascading randomisation test of saliency methods on a few images.

    Args:
        model: classifier with 2 logits (not modified; a deep copy is randomised).
        x: float tensor (N, 3, H, W), normalised model input (N small: 2-8).
        targets: class explained per image (one int or N).
        methods: names (``gradcam``, ``ig``) or ``{name: fn(model, x, targets) -> (N, H, W)}``.
        n_layers: randomise only the first ``n_layers`` steps of
            :func:`randomisation_steps` (None: all, down to the input layer).
        seed: re-initialisation seed (step k uses ``seed * 1000 + k``).
        mean, std: normalisation (for the IG black baseline).
        ig_steps: IG integration steps.
        return_maps: also return the maps.

    Returns:
        DataFrame with one row per method x step x image: ``method, step``
        (0 = original, k = k blocks randomised), ``layer`` (name of the block
        randomised last; ``original`` at step 0), ``image`` (index),
        ``spearman, ssim``. With ``return_maps``: ``(frame, {method: [maps at
        step 0, step 1, ...]})``, each (N, H, W).

    Raises:
        ConfigError: bad input, no parameters, unknown method.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ConfigError(f"x must be a 4-D tensor (N, 3, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    fns = _resolve_methods(methods, mean, std, ig_steps)
    target_arr = as_target_array(targets, x.shape[0])
    work = copy.deepcopy(model).eval()
    steps = randomisation_steps(work)
    if n_layers is not None:
        if int(n_layers) < 1:
            raise ConfigError(f"n_layers must be >= 1, got {n_layers}")
        steps = steps[:int(n_layers)]
    x = x.detach()
    originals = {name: np.asarray(fn(work, x, target_arr)) for name, fn in fns.items()}
    all_maps = {name: [m] for name, m in originals.items()}
    rows = []
    for name, maps in originals.items():
        for i in range(len(maps)):
            rho, ssim = map_similarity(maps[i], maps[i], absolute=name in ABSOLUTE)
            rows.append({"method": name, "step": 0, "layer": "original", "image": i, "spearman": rho, "ssim": ssim})
    for k, (layer_name, modules) in enumerate(steps, start=1):
        reinitialise(modules, int(seed) * 1000 + k)
        work.eval()
        for name, fn in fns.items():
            maps = np.asarray(fn(work, x, target_arr))
            all_maps[name].append(maps)
            for i in range(len(maps)):
                rho, ssim = map_similarity(originals[name][i], maps[i], absolute=name in ABSOLUTE)
                rows.append({"method": name, "step": k, "layer": layer_name, "image": i, "spearman": rho,
                             "ssim": ssim})
    frame = pd.DataFrame(rows, columns=["method", "step", "layer", "image", "spearman", "ssim"])
    return (frame, all_maps) if return_maps else frame


def sanity_verdict(df: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """PASS / FAIL per method from the similarity at full randomisation (the last step).

    A method FAILS when its mean Spearman correlation between original and fully
    randomised maps is above ``threshold``: the maps barely change when the
    weights they claim to explain are destroyed.

    Args:
        df: :func:`saliency_sanity` output.
        threshold: Spearman above which a method fails.

    Returns:
        One row per method: ``method, n_images, n_steps, final_layer,
        spearman_final`` (mean), ``spearman_final_max``, ``ssim_final`` (mean),
        ``spearman_first`` (mean after the head alone), ``passed`` (bool) and
        ``statement`` (plain language, with numbers).
    """
    rows = []
    for method, part in df.groupby("method", sort=False):
        last = int(part["step"].max())
        final = part[part["step"] == last]
        first = part[part["step"] == min(1, last)]
        rho = float(final["spearman"].mean())
        ssim = float(final["ssim"].mean())
        passed = bool(last > 0 and not (rho > threshold))
        name = {"gradcam": "Grad-CAM", "ig": "Integrated Gradients (|IG|)"}.get(method, method)
        if last == 0:
            statement = f"{name}: not tested (no randomisation step ran)."
            passed = False
        elif passed:
            statement = (f"{name} PASSES: after randomising {last} blocks down to '{final['layer'].iloc[0]}', "
                         f"its maps keep a mean Spearman correlation of {rho:.2f} (SSIM {ssim:.2f}) with the "
                         f"original ones (<= {threshold}): they depend on the learned weights.")
        else:
            statement = (f"{name} FAILS: after randomising {last} blocks down to '{final['layer'].iloc[0]}', its "
                         f"maps still have a mean Spearman correlation of {rho:.2f} (SSIM {ssim:.2f}) with the "
                         f"original ones (> {threshold}): they reflect the input more than the model; do not read "
                         "them as the model's reasoning.")
        rows.append({"method": method, "n_images": int(final["image"].nunique()), "n_steps": last,
                     "final_layer": str(final["layer"].iloc[0]), "spearman_final": rho,
                     "spearman_final_max": float(final["spearman"].max()), "ssim_final": ssim,
                     "spearman_first": float(first["spearman"].mean()), "passed": passed, "statement": statement})
    return pd.DataFrame(rows, columns=["method", "n_images", "n_steps", "final_layer", "spearman_final",
                                       "spearman_final_max", "ssim_final", "spearman_first", "passed", "statement"])


def sanity_from_explain(out_dir, model: nn.Module, mean, std, *, n_images: int = 4,
                        methods: Sequence[str] = ("gradcam", "ig"), n_layers: int | None = None, seed: int = 0,
                        ig_steps: int = 16) -> tuple[pd.DataFrame, dict, dict]:
    """Run :func:`saliency_sanity` on the first ``n_images`` images the explain step saved maps for.

    The original maps are recomputed (with ``ig_steps`` fixed IG steps, like the
    randomised ones), so the comparison is like for like.

    Args:
        out_dir: ``<run>/explain/<split>``.
        model: the run's classifier; mean, std: its normalisation.
        n_images: images to test (each costs one Grad-CAM and one IG per step).
        methods, n_layers, seed, ig_steps: see :func:`saliency_sanity`.

    Returns:
        (frame, maps, saved): the :func:`saliency_sanity` frame and maps, and
        :func:`xai.faithfulness.load_explained` output for the images used.
    """
    from training.predict import to_model_input
    from xai.faithfulness import load_explained

    saved = load_explained(out_dir, (), n_images)
    x = to_model_input(saved["images"], mean, std)
    frame, maps = saliency_sanity(model, x, saved["target"], methods=methods, n_layers=n_layers, seed=seed,
                                  mean=mean, std=std, ig_steps=ig_steps, return_maps=True)
    ids = np.asarray(saved["image_id"], dtype=object)
    frame["image_id"] = ids[frame["image"].to_numpy()]
    return frame, maps, saved
