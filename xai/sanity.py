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

* Every map is compared twice, signed and in absolute value (Adebayo et al.
  report both: the sign of an attribution can flip under randomisation while the
  magnitude pattern stays). Grad-CAM maps are non-negative, so both agree there.
  ``spearman`` is the method's primary comparison (absolute for IG, the map for
  Grad-CAM); ``spearman_signed`` and ``spearman_abs`` are both kept.
* A null reference gives the threshold a meaning: the similarity between the
  original maps of *different* images (same model, same method). Film-shaped
  maps of chest X-rays resemble each other whatever the model does; a
  randomised map is "destroyed" when it is no more like the original than the
  map of an unrelated image is (within ``tolerance``).
* The verdict reads the whole cascade curve, not its last point (see
  :func:`sanity_verdict`).
* A constant original map has no ranking to compare: its Spearman is NaN and
  the image is excluded (counted); a method with no comparable image is
  "not tested", never a pass. A constant randomised map (e.g. an all-zero
  Grad-CAM) shares no rank information with a non-constant original: 0.
* Maps are explained on :class:`xai.models_util.BinaryLogOdds` (the log-odds of
  the target class), like the explain step.
* For SSIM each map is min-max scaled to [0, 1] first (randomised models produce
  maps on wildly different scales; SSIM needs a common ``data_range``), then
  ``data_range`` is the range spanned by the two scaled maps (1 unless a map is
  constant).
* Re-initialisation calls ``reset_parameters()`` of every submodule that has it
  (Conv, Linear: Kaiming-uniform; BatchNorm: weight 1, bias 0, running stats
  reset) under a seeded, forked torch RNG; the caller's model and global RNG
  are untouched.
* Blocks: the cascade walks every stage block from the top down, for a
  torchvision/timm CNN, a fastai ``Sequential(body, head)`` around a ResNet body,
  or a fastai ``TimmBody`` around a timm EfficientNet (its ``blocks`` stages,
  one step per block).
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
from xai.models_util import IMAGENET_MEAN, IMAGENET_STD, BinaryLogOdds, as_target_array, find_gradcam_layer

#: A map function: (model with 2 logits, normalised x (N, 3, H, W), targets (N,)) -> maps (N, H, W).
MapFn = Callable[[nn.Module, torch.Tensor, np.ndarray], np.ndarray]
#: Methods whose primary comparison is in absolute value.
ABSOLUTE = ("ig",)
#: Spearman above which a method fails when no null reference exists (a single image).
DEFAULT_THRESHOLD = 0.5
#: How far above the null reference (maps of unrelated images) a randomised map may stay.
DEFAULT_TOLERANCE = 0.1
PASS, FAIL, NOT_TESTED = "pass", "fail", "not tested"

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


# ----------------------------------------------------------------------------- which blocks, in which order

def _has_conv(module: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in module.modules())


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _is_stage(module: nn.Module) -> bool:
    """A container of at least two convolutional blocks (a ResNet ``layerN``, an EfficientNet stage)."""
    return isinstance(module, _CONTAINERS) and sum(_has_conv(c) for c in module.children()) >= 2


def _is_wrapper(module: nn.Module) -> bool:
    """A module around exactly one parameterised child (fastai's ``TimmBody``, a ``BinaryLogOdds``)."""
    return sum(_has_params(c) for c in module.children()) == 1 and not any(
        True for _ in module.parameters(recurse=False))


def _leaves(module: nn.Module, prefix: str, root: bool) -> list[tuple[str, nn.Module]]:
    """Blocks of a network: descend through the root, containers, wrappers and modules that hold stages."""
    descend = (root or isinstance(module, _CONTAINERS) or any(_is_stage(c) for c in module.children())
               or (_is_wrapper(module) and _has_conv(module)))
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
    """Grad-CAM of the log-odds at :func:`xai.models_util.find_gradcam_layer`; (N, H, W) in [0, 1]."""
    layer, why = find_gradcam_layer(model, size=int(x.shape[-1]))  # imported models too
    if layer is None:
        raise ConfigError(f"Grad-CAM cannot explain this model: {why}")
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


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0:
        return float("nan")
    if np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a.ravel(), b.ravel())[0])


def map_similarity(original: np.ndarray, randomised: np.ndarray, *, absolute: bool = False) -> tuple[float, float]:
    """Spearman rank correlation and SSIM of two maps (see the module conventions).

    Args:
        original: (H, W) map of the original model.
        randomised: (H, W) map of the randomised model.
        absolute: compare absolute values.

    Returns:
        (spearman in [-1, 1] or NaN when the original is constant, ssim in [-1, 1]).
    """
    a, b = np.asarray(original, np.float64), np.asarray(randomised, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ConfigError(f"maps must be 2-D of equal shape, got {a.shape} and {b.shape}")
    if absolute:
        a, b = np.abs(a), np.abs(b)
    rho = _spearman(a, b)
    sa, sb = _scaled(a), _scaled(b)
    data_range = max(sa.max(), sb.max()) - min(sa.min(), sb.min())
    if data_range == 0:
        ssim = 1.0 if np.array_equal(sa, sb) else 0.0
    else:
        win = min(7, *a.shape)
        win = win if win % 2 else win - 1
        ssim = float(structural_similarity(sa, sb, data_range=data_range, win_size=max(win, 3)))
    return rho, ssim


def _compare(original: np.ndarray, other: np.ndarray, method: str) -> dict[str, float]:
    """``spearman`` (primary), ``spearman_signed``, ``spearman_abs``, ``ssim`` of two maps."""
    signed, ssim_signed = map_similarity(original, other, absolute=False)
    absolute, ssim_abs = map_similarity(original, other, absolute=True)
    primary_abs = method in ABSOLUTE
    return {"spearman": absolute if primary_abs else signed, "spearman_signed": signed, "spearman_abs": absolute,
            "ssim": ssim_abs if primary_abs else ssim_signed}


def null_reference(maps: np.ndarray, method: str) -> pd.DataFrame:
    """Similarity of the original maps of *different* images: the level that means "unrelated".

    Args:
        maps: (N, H, W) original maps of N >= 2 images.
        method: method name (which comparison is primary).

    Returns:
        One row per ordered pair i != j: ``image, other, spearman, spearman_signed,
        spearman_abs, ssim`` (empty when N < 2).
    """
    rows = []
    for i in range(len(maps)):
        for j in range(len(maps)):
            if i != j:
                rows.append({"image": i, "other": j, **_compare(maps[i], maps[j], method)})
    return pd.DataFrame(rows, columns=["image", "other", *SIMILARITY])


SIMILARITY = ("spearman", "spearman_signed", "spearman_abs", "ssim")


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
        (0 = original, k = k blocks randomised, -1 = the null reference: mean
        similarity of this image's original map with the other images' original
        maps), ``layer`` (name of the block randomised last; ``original`` at step
        0), ``image`` (index), ``spearman`` (primary: |map| for IG),
        ``spearman_signed``, ``spearman_abs``, ``ssim``. With ``return_maps``:
        ``(frame, {method: [maps at step 0, step 1, ...]})``, each (N, H, W).

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
            rows.append({"method": name, "step": 0, "layer": "original", "image": i,
                         **_compare(maps[i], maps[i], name)})
        null = null_reference(maps, name)
        for r in null.groupby("image")[list(SIMILARITY)].mean().reset_index().to_dict("records"):
            rows.append({"method": name, "step": -1, "layer": "null (other images)", **r})
    for k, (layer_name, modules) in enumerate(steps, start=1):
        reinitialise(modules, int(seed) * 1000 + k)
        work.eval()
        for name, fn in fns.items():
            maps = np.asarray(fn(work, x, target_arr))
            all_maps[name].append(maps)
            for i in range(len(maps)):
                rows.append({"method": name, "step": k, "layer": layer_name, "image": i,
                             **_compare(originals[name][i], maps[i], name)})
    frame = pd.DataFrame(rows, columns=["method", "step", "layer", "image", *SIMILARITY])
    return (frame, all_maps) if return_maps else frame


def _curve(part: pd.DataFrame, column: str) -> pd.Series:
    """Mean similarity per cascade step (1..K), NaN images left out."""
    return part[part["step"] > 0].groupby("step", sort=True)[column].mean()


def sanity_verdict(df: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD,
                   tolerance: float = DEFAULT_TOLERANCE) -> pd.DataFrame:
    """PASS / FAIL / NOT TESTED per method, from the whole cascade curve against the null reference.

    Images whose original map is constant (Spearman NaN at every step) are
    excluded and counted. With no comparable image left, no randomisation step,
    or a null reference at or above ``threshold`` (maps of unrelated images
    already agree, so the check has no power), the method is "not tested"
    (never a pass).

    The reference level is the null reference (mean similarity of maps of
    different images, step -1, floored at 0), when it exists (>= 2 images); else
    ``threshold`` (the classic absolute rule). Per comparison (signed and absolute) the curve
    of mean Spearman per step is compared with ``reference + tolerance``. A
    method PASSES when, for both comparisons, the last step *and* the mean of
    the deeper half of the cascade (the steps where most weights are random) are
    at or below that level: the maps become no more like the originals than the
    maps of unrelated images. Otherwise it FAILS.

    Args:
        df: :func:`saliency_sanity` output (older frames without the signed /
            absolute / null columns are read with ``spearman`` alone and ``threshold``).
        threshold: Spearman level without a null reference.
        tolerance: allowed excess over the null reference.

    Returns:
        One row per method: ``method, status`` (pass / fail / not tested),
        ``passed`` (bool, True only for pass), ``n_images`` (compared),
        ``n_excluded`` and ``excluded_reason``, ``n_steps, final_layer``,
        ``spearman_final`` (mean, primary), ``spearman_final_max``,
        ``spearman_signed_final``, ``spearman_abs_final``, ``ssim_final``,
        ``spearman_first``, ``spearman_deep_half`` (mean of the deeper half),
        ``null_spearman``, ``null_spearman_signed``, ``null_spearman_abs``,
        ``reference`` (what the curve is compared with), ``destroyed_at`` (first
        block at which both comparisons reach the reference; '' if never) and
        ``statement`` (plain language, with numbers).
    """
    columns = ["method", "status", "passed", "n_images", "n_excluded", "excluded_reason", "n_steps", "final_layer",
               "spearman_final", "spearman_final_max", "spearman_signed_final", "spearman_abs_final", "ssim_final",
               "spearman_first", "spearman_deep_half", "null_spearman", "null_spearman_signed", "null_spearman_abs",
               "reference", "destroyed_at", "statement"]
    rows = []
    for method, part in df.groupby("method", sort=False):
        name = {"gradcam": "Grad-CAM", "ig": "Integrated Gradients"}.get(method, method)
        comparisons = [c for c in ("spearman_signed", "spearman_abs") if c in part] or ["spearman"]
        steps_part = part[part["step"] > 0]
        comparable = steps_part.groupby("image")["spearman"].apply(lambda v: v.notna().any())
        keep = set(comparable[comparable].index)
        n_all = int(part.loc[part["step"] >= 0, "image"].nunique())
        n_excl = n_all - len(keep) if len(steps_part) else 0
        reason = f"{n_excl} image(s) with a constant original map (no ranking to compare)" if n_excl else ""
        part = part[part["image"].isin(keep) | (part["step"] == 0)] if len(steps_part) else part
        last = int(part["step"].max()) if len(part) else 0
        null = part[part["step"] == -1]
        null_vals = {c: float(null[c].mean()) if c in null and len(null) else float("nan")
                     for c in ("spearman", "spearman_signed", "spearman_abs")}
        row = {"method": method, "n_images": len(keep), "n_excluded": n_excl, "excluded_reason": reason,
               "n_steps": max(last, 0), **{f"null_{k}": v for k, v in null_vals.items()}}
        if last <= 0 or not keep:
            why = "no randomisation step ran" if last <= 0 else reason
            rows.append({**row, "status": NOT_TESTED, "passed": False, "final_layer": "",
                         "reference": float("nan"), "destroyed_at": "",
                         "statement": f"{name}: NOT TESTED ({why}); no conclusion either way."})
            continue
        if not np.isnan(null_vals["spearman"]) and null_vals["spearman"] >= threshold:
            why = (f"the original maps of different images already agree (null Spearman "
                   f"{null_vals['spearman']:.2f} >= {threshold}): the maps barely depend on the image, so a "
                   "destroyed map cannot be told from an intact one")
            rows.append({**row, "status": NOT_TESTED, "passed": False, "final_layer": "",
                         "reference": float("nan"), "destroyed_at": "",
                         "statement": f"{name}: NOT TESTED on {len(keep)} image(s) ({why}); that image-independence "
                                      "is itself a warning about these maps."})
            continue
        final = part[part["step"] == last]
        first = part[part["step"] == 1]
        curves = {c: _curve(part, c) for c in comparisons}
        has_null = len(null) > 0 and not np.isnan(null_vals["spearman"])
        # floored at 0: maps of unrelated images may anti-correlate (a lesion here vs there); a destroyed map
        # need only be unrelated (rho ~ 0), not anti-correlated
        refs = {c: (max(null_vals.get(c, null_vals["spearman"]), 0.0) + tolerance if has_null else threshold)
                for c in comparisons}
        deep = {c: float(v.iloc[len(v) // 2:].mean()) for c, v in curves.items()}
        ok = {c: bool(curves[c].iloc[-1] <= refs[c] and deep[c] <= refs[c]) for c in comparisons}
        below = pd.concat([curves[c] <= refs[c] for c in comparisons], axis=1).all(axis=1)
        layers = part[part["step"] > 0].drop_duplicates("step").set_index("step")["layer"]
        destroyed_at = str(layers[below[below].index[0]]) if below.any() else ""
        passed = all(ok.values())
        rho = float(final["spearman"].mean())
        ssim = float(final["ssim"].mean())
        ref_text = (f"the null reference (maps of other images: Spearman {null_vals['spearman']:.2f}, floored at 0) "
                    f"+ {tolerance}" if has_null else f"the fixed threshold {threshold} (one image: no null reference)")
        detail = "; ".join(f"{c.replace('spearman_', '')}: final {curves[c].iloc[-1]:.2f}, deeper half {deep[c]:.2f}, "
                           f"level {refs[c]:.2f}" for c in comparisons)
        where = f"first reached at '{destroyed_at}'" if destroyed_at else "never reached"
        verb = "PASSES" if passed else "FAILS"
        tail = ("Its maps depend on the learned weights." if passed else
                "Its maps stay more like the originals than maps of unrelated images after the weights are "
                "destroyed: they reflect the input more than the model; do not read them as the model's reasoning.")
        statement = (f"{name} {verb} on {len(keep)} image(s){f' ({reason} excluded)' if n_excl else ''}: over "
                     f"{last} cascading steps down to '{final['layer'].iloc[0]}', Spearman vs {ref_text} ({detail}; "
                     f"{where}); SSIM at the end {ssim:.2f}. {tail}")
        rows.append({**row, "status": PASS if passed else FAIL, "passed": passed,
                     "final_layer": str(final["layer"].iloc[0]), "spearman_final": rho,
                     "spearman_final_max": float(final["spearman"].max()),
                     "spearman_signed_final": float(final["spearman_signed"].mean()) if "spearman_signed" in final
                     else float("nan"),
                     "spearman_abs_final": float(final["spearman_abs"].mean()) if "spearman_abs" in final
                     else float("nan"),
                     "ssim_final": ssim, "spearman_first": float(first["spearman"].mean()),
                     "spearman_deep_half": deep[comparisons[0]] if len(comparisons) == 1 else max(deep.values()),
                     "reference": max(refs.values()), "destroyed_at": destroyed_at, "statement": statement})
    return pd.DataFrame(rows, columns=columns)


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
        :func:`xai.faithfulness.load_explained` output for the images used, plus
        ``saved["excluded"] = {"n", "reason"}``: images passed over because their
        IG map did not converge (those images are not used for any method, so
        every method is tested on the same films).
    """
    from training.predict import to_model_input
    from xai.exclusions import IG_REASON, unconverged_ig_maps
    from xai.faithfulness import load_explained

    bad = unconverged_ig_maps(out_dir) if "ig" in methods else set()
    saved = load_explained(out_dir, (), None if bad else n_images)
    pairs = list(zip(saved["image_id"], saved["target"].tolist()))
    use = [i for i, p in enumerate(pairs) if (str(p[0]), int(p[1])) not in bad][:n_images]
    n_skipped = sum(1 for p in pairs[:max(use) + 1 if use else len(pairs)] if (str(p[0]), int(p[1])) in bad)
    if not use:
        raise ConfigError(f"no explained image with a converged IG map under {out_dir} for the sanity check")
    saved = {k: ([v[i] for i in use] if isinstance(v, list) else v[use]) for k, v in saved.items() if k != "maps"}
    saved["excluded"] = {"n": n_skipped, "reason": IG_REASON} if n_skipped else {"n": 0, "reason": ""}
    x = to_model_input(saved["images"], mean, std)
    frame, maps = saliency_sanity(model, x, saved["target"], methods=methods, n_layers=n_layers, seed=seed,
                                  mean=mean, std=std, ig_steps=ig_steps, return_maps=True)
    ids = np.asarray(saved["image_id"], dtype=object)
    frame["image_id"] = np.where(frame["image"].notna(), ids[frame["image"].fillna(0).astype(int).to_numpy()], None)
    return frame, maps, saved
