"""ROAD: RemOve And Debias (Rong et al. 2022), the default faithfulness measure, with a matched random control.

Rong, Leemann, Borisov, Kasneci, Kasneci, "A Consistent and Efficient Evaluation
Strategy for Attribution Methods", ICML 2022. A share of the pixels is removed
and filled by *noisy linear imputation* (each removed pixel becomes the weighted
mean of its neighbours, solved as one sparse linear system, plus a little noise),
so that the shape of the removed region does not leak the class and the filled
film stays close to the data (no black holes, no salt noise). Two orders:

* MoRF (most relevant first): P(explained class) after removing the top f of
  the pixels; a faithful map makes it fall fast (low MoRF AUC).
* LeRF (least relevant first): the bottom f removed first; a faithful map keeps
  P high (high LeRF AUC).

``road_score`` = mean over f of (LeRF - MoRF), as ``pytorch_grad_cam``'s
``ROADCombined``: higher = more faithful, 0 = the order carries no information.

The removal and the imputation are pytorch_grad_cam's own
(:class:`pytorch_grad_cam.metrics.road.ROADMostRelevantFirst` /
``ROADLeastRelevantFirst``, ``NoisyLinearImputer``); this module adds:

* an exact ranking: the map is turned into its ranks (ties broken at random,
  seeded) before the library thresholds it at a percentile, so exactly the share
  f is removed even on the plateaus of an upsampled Grad-CAM;
* a spatially matched random control: a random map at the map's own
  granularity (random values on a coarse grid, bilinearly resized like a
  Grad-CAM) instead of i.i.d. pixels, whose scattered removals would be a
  texture change of their own; ``gain`` = map score - random score;
* seeding of the imputation noise (the library draws from torch's global RNG;
  here inside a forked, seeded RNG).

P(explained class) is the softmax output of the plain classifier (2 logits).
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch
from pytorch_grad_cam.metrics.road import ROADLeastRelevantFirst, ROADMostRelevantFirst
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
from torch import nn

from data.errors import ConfigError
from xai.models_util import model_device


def image_and_map(image_tensor: torch.Tensor, saliency: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """Check one normalised image and its map: returns x (1, 3, H, W), detached, and the map float64 (H, W).

    Raises:
        ConfigError: not one image, or a map of another size.
    """
    x = image_tensor.detach()
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1:
        raise ConfigError(f"image_tensor must be (3, H, W) or (1, 3, H, W), got {tuple(image_tensor.shape)}")
    sal = np.asarray(saliency, np.float64)
    if sal.shape != tuple(x.shape[-2:]):
        raise ConfigError(f"saliency shape {sal.shape} does not match the image {tuple(x.shape[-2:])}")
    return x, sal

#: Shares of the pixels removed (ROAD's percentiles 10 ... 90, as fractions removed).
DEFAULT_FRACTIONS: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
ROAD_KEYS = ("morf", "lerf", "random_morf", "random_lerf")


def rank_map(saliency: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ranks of the pixels scaled to [0, 1] (1 = most salient), ties broken at random.

    Args:
        saliency: (H, W) map; NaN counts as least salient.
        rng: tie-breaking generator.

    Returns:
        float32 (H, W), a permutation of ``linspace(0, 1, H*W)``.
    """
    s = np.nan_to_num(np.asarray(saliency, np.float64).ravel(), nan=-np.inf)
    order = np.lexsort((rng.random(s.size), s))  # ascending: least salient first
    ranks = np.empty(s.size, np.float64)
    ranks[order] = np.arange(s.size)
    return (ranks / max(s.size - 1, 1)).reshape(np.shape(saliency)).astype(np.float32)


def map_granularity(saliency: np.ndarray) -> int:
    """Correlation length of a map in pixels: the smallest lag at which its autocorrelation falls below 0.5.

    Averaged over rows and columns (circular autocorrelation by FFT of the
    mean-removed map). An upsampled Grad-CAM from a 4x4 grid on a 128 px film
    gives ~ 20-30 px; a pixel-level map 1.

    Args:
        saliency: (H, W) finite map.

    Returns:
        int in [1, min(H, W) // 2]; 1 for a constant map.
    """
    a = np.asarray(saliency, np.float64)
    a = a - a.mean()
    if not np.any(a):
        return 1
    lengths = []
    for axis in (0, 1):
        spec = np.fft.rfft(a, axis=axis)
        ac = np.fft.irfft(spec * np.conj(spec), n=a.shape[axis], axis=axis).sum(axis=1 - axis)
        ac = ac / ac[0] if ac[0] > 0 else ac
        half = ac[: a.shape[axis] // 2 + 1]
        below = np.flatnonzero(half < 0.5)
        lengths.append(int(below[0]) if below.size else a.shape[axis] // 2)
    return int(max(1, min(int(round(np.mean(lengths))), min(a.shape) // 2)))


def random_block_map(shape: tuple[int, int], granularity: int, rng: np.random.Generator) -> np.ndarray:
    """A random map with the spatial structure of a coarse saliency map.

    Uniform random values on a grid of ``ceil(H / g) x ceil(W / g)`` cells,
    bilinearly resized to (H, W) (``cv2.resize``, as pytorch_grad_cam upsamples a
    CAM). With ``g = 1`` it is i.i.d. pixel noise.

    Args:
        shape: (H, W).
        granularity: cell size g in pixels (>= 1), e.g. :func:`map_granularity`.
        rng: generator.

    Returns:
        float32 (H, W) in [0, 1].
    """
    h, w = int(shape[0]), int(shape[1])
    g = max(1, int(granularity))
    grid = rng.random((max(1, -(-h // g)), max(1, -(-w // g)))).astype(np.float32)
    if grid.shape == (h, w):
        return grid
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR)


def _scores(model: nn.Module, x: torch.Tensor, cams: np.ndarray, target: int, fractions, most_first: bool,
            seed: int) -> np.ndarray:
    """P(target) after removing each fraction (MoRF or LeRF) of every map in ``cams`` (K, H, W)."""
    cls = ROADMostRelevantFirst if most_first else ROADLeastRelevantFirst
    batch = x.expand(len(cams), *x.shape[1:])
    targets = [ClassifierOutputSoftmaxTarget(int(target)) for _ in range(len(cams))]
    out = np.zeros((len(cams), len(fractions)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for j, f in enumerate(fractions):
            # the library removes the pixels at or above the percentile of the map (MoRF) or of 1 - map
            # (LeRF): with rank maps, percentile 100 (1 - f) removes exactly the share f either way
            metric = cls(percentile=100.0 * (1.0 - float(f)))
            out[:, j] = metric(batch, cams, targets, model, return_diff=False)
    return out


def road_curves(model: nn.Module, image_tensor: torch.Tensor, saliency: np.ndarray, target: int, *,
                fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0,
                granularity: int | None = None) -> dict:
    """ROAD MoRF / LeRF curves of one image for a map and for a matched random map.

    Args:
        model: classifier returning logits (N, n_classes), eval mode (CPU or any device).
        image_tensor: normalised input (3, H, W) or (1, 3, H, W).
        saliency: (H, W) map at the input size (higher = more important; signed
            maps are ranked as given, most positive first).
        target: class whose probability is tracked.
        fractions: shares of pixels removed, each in (0, 1).
        seed: seed of the tie-breaking, the random map and the imputation noise.
        granularity: cell size of the random control (default
            :func:`map_granularity` of ``saliency``).

    Returns:
        ``{"fractions": (K+1,) = 0 then ``fractions``, "morf", "lerf", "random_morf",
        "random_lerf": (K+1,) P(target)`` (at 0: the original probability),
        ``"morf_auc", "lerf_auc",
        "random_morf_auc", "random_lerf_auc"``: means over the K fractions,
        ``"road_score"`` (mean LeRF - MoRF), ``"random_road_score"``, ``"gain"``
        (score - random score), ``"granularity"``, ``"p_original"``}.

    Raises:
        ConfigError: bad shapes, fractions or target.
    """
    x, sal = image_and_map(image_tensor, saliency)
    h, w = x.shape[-2:]
    fr = [float(f) for f in fractions]
    if not fr or not all(0.0 < f < 1.0 for f in fr):
        raise ConfigError(f"fractions must be in (0, 1), got {list(fractions)}")
    model.eval()
    x = x.to(device=model_device(model), dtype=torch.float32)
    with torch.no_grad():
        logits = model(x)
    if logits.ndim != 2 or not 0 <= int(target) < logits.shape[1]:
        raise ConfigError(f"model must return logits (N, n_classes) with class {target}, got {tuple(logits.shape)}")
    p0 = float(torch.softmax(logits.float(), dim=1)[0, int(target)])
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7]))
    g = map_granularity(np.nan_to_num(sal)) if granularity is None else int(granularity)
    cams = np.stack([rank_map(sal, rng), rank_map(random_block_map((h, w), g, rng), rng)])
    morf = _scores(model, x, cams, int(target), fr, True, seed)
    lerf = _scores(model, x, cams, int(target), fr, False, seed)
    out: dict = {"fractions": np.asarray([0.0, *fr]),
                 "morf": np.asarray([p0, *morf[0]]), "lerf": np.asarray([p0, *lerf[0]]),
                 "random_morf": np.asarray([p0, *morf[1]]), "random_lerf": np.asarray([p0, *lerf[1]])}
    for key in ROAD_KEYS:
        out[f"{key}_auc"] = float(np.mean(out[key][1:]))
    out["road_score"] = out["lerf_auc"] - out["morf_auc"]
    out["random_road_score"] = out["random_lerf_auc"] - out["random_morf_auc"]
    out["gain"] = out["road_score"] - out["random_road_score"]
    out["granularity"] = g
    out["p_original"] = p0
    return out
