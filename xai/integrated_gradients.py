"""Integrated Gradients with adaptive, nested quadrature along the path, and a completeness check.

IG (Sundararajan et al. 2017) of pixel i for a target score ``f``, image ``x`` and
baseline ``x'``::

    IG_i = (x_i - x'_i) * integral_0^1 df/dx_i (x' + a (x - x')) da

Completeness: ``sum_i IG_i = f(x) - f(x')``. Here ``f`` is what the model returns
for the target class; the toolkit passes models wrapped in
:class:`xai.models_util.BinaryLogOdds`, so ``f`` is the **log-odds** of the target
class (not a single logit, which is not identifiable, and not a probability, which
saturates).

Quadrature. Write ``F(a) = f(x' + a (x - x'))``. One forward/backward pass at a
node ``a`` yields both ``F(a)`` and the gradient, hence ``F'(a) = grad . (x - x')``.
The attributions are integrated with the composite trapezoid rule on a set of
nodes; on a segment ``[a, b]`` the rule integrates ``F'`` to
``(b - a) (F'(a) + F'(b)) / 2`` while the exact integral is ``F(b) - F(a)``: their
difference, the segment's **residual**, is known for free, and the residuals sum
exactly to the completeness gap of the attributions. The scheme starts from
``start_steps`` uniform segments and then, round after round, splits the
segments that carry most of the absolute residual (nested: every node already
evaluated is kept), until the completeness error is within ``tol`` or the
evaluation cap is reached. ReLU networks are piecewise linear, so ``F'`` is
piecewise constant with jumps where units switch. A marked segment is bisected
(the default) or, with ``split="kink"``, split where its residual says the jump
is if one jump explains it (:func:`split_points`), leaving two halves with a
constant slope. The kink split finds a planted single jump in a few nodes, but
on the networks measured (README) segments hold many jumps and bisection met the
tolerance on more images with fewer evaluations (EfficientNet-Lite0: 26 vs 22 of
30 within 1 %, at 231 vs 307 evaluations), hence the default. Rounds are small
(``MARK_FRACTION``), which matters more than where a segment is split. A few
narrow stretches of the path carry most of the error on ResNet18, which is
where the nodes go; uniform rules (Captum's Gauss-Legendre) spend their nodes
everywhere.

The estimator is the composite trapezoid rule on the nodes evaluated, whatever
their placement, so the completeness error stays an honest check: the kink
estimate only decides where to look next.

Completeness checks the *sum* of a map; positive and negative attributions can
cancel so that the sum is right while pixels are not (measured on
EfficientNet-Lite0, README). With ``pixel_tol`` a map must also pass a per-pixel
check, :func:`half_rule_change` (the relative L2 change of the map when every
other node is dropped) within ``pixel_tol``; once the sum is within ``tol``, the
segments are then marked by how far the map bends at their ends
(:meth:`_Path.map_bends`, the terms of that estimate) and bisected until both
hold or the cap is reached.

Nodes of many images are flattened into (image, alpha) pairs and evaluated in
batches of a fixed size, so a GPU is kept full and a CPU does no extra work (the
last batch is padded to that size). With a baseline common to all images (black),
the ``alpha = 0`` node is the same point for every image: it is evaluated once
per target class and each image multiplies that gradient by its own ``x - x'``
(the same numbers as a pass of its own). The node placement depends only on the
image's own values, and every pass has the same batch size: the result is
deterministic for a given input, bit for bit, whichever images share the call.
The passes run on :func:`xai.gradient_model.gradient_model` of the model: a copy
with batch norms folded into their convolutions where that reproduces its scores
(the same function; on ResNet18 at 224 px the passes are about a sixth faster),
with parameters frozen so that autograd keeps only what the input gradient needs.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from data.errors import ConfigError
from xai.gradient_model import frozen_parameters, gradient_model
from xai.models_util import IMAGENET_MEAN, IMAGENET_STD, as_target_array, model_device

#: Baselines selectable by name (``--ig-baseline``).
BASELINES = ("black", "blur")
#: Default blur of the blurred baseline, as a fraction of the image side (sigma = side / 16).
BLUR_SIGMA_FRACTION = 1 / 16
#: Share of an image's summed absolute residual that one refinement round splits at least (Doerfler
#: marking). Small rounds stop closer to the tolerance: on 60 test images of the 224-px ResNet18,
#: 0.1 with rounds of multiples of 8 took 70-72 evaluations per image against 83 for 0.5 (README).
MARK_FRACTION = 0.1
#: Nodes added to an image per round are a multiple of this (passes of 8 on CPU are never padded).
ROUND_MULTIPLE = 8
#: Rounds are filled up to ROUND_MULTIPLE only with segments holding at least this share of the largest |residual|.
FILL_FLOOR = 1e-3
#: Ways to split a marked segment: at the midpoint (default) or at the estimated kink of F'.
SPLITS = ("kink", "midpoint")
#: A kink estimate is kept this fraction of the segment's length inside its ends.
KINK_MARGIN = 1 / 16
#: Nodes per forward/backward pass when ``batch_size`` is None, by device type. On 2 CPU cores a
#: ResNet18 pass at 224 px costs 0.048 s per node at 8 nodes and 0.055 s at 32 (cache effects; measured
#: before batch norms were folded, 0.033-0.034 s at 8 since), and a small pass wastes fewer padded rows
#: at the end of each refinement round.
PASS_SIZE = {"cpu": 8}
PASS_SIZE_OTHER = 32


def half_rule_change(full: np.ndarray, half: np.ndarray) -> float:
    """Relative L2 distance ``||full - half|| / ||full||`` of two maps of one image (0 for an all-zero map).

    With ``half`` the trapezoid rule on every other node, this estimates the
    per-pixel error of the coarser rule and bounds that of the full one from above
    when the quadrature converges (the error falls as nodes are added). Completeness
    checks only the *sum* of a map, which can be right by cancellation while pixels
    are not; this checks the pixels (README, "per-pixel check").
    """
    norm = float(np.linalg.norm(full))
    return float(np.linalg.norm(full.astype(np.float64) - half)) / norm if norm > 0 else 0.0


class IGResult(NamedTuple):
    """Result of :func:`integrated_gradients`.

    Attributes:
        attributions: float32 (N, H, W) (channels summed, the default) or
            (N, C, H, W); same units as the explained score (log-odds), signed.
            They are those of the finest integration run for the image.
        completeness_error: float64 (N,), ``|sum(attributions) - (f(x) - f(x'))| /
            max(|f(x) - f(x')|, min_denominator)`` >= 0, computed from the returned maps.
        evaluations: int64 (N,), nodes on the image's path (forward/backward passes
            spent on it; with a baseline common to all images, e.g. black, the
            alpha = 0 node is one pass per target class for the whole call and is
            counted in every image's number).
        converged: bool (N,), ``completeness_error <= tol`` and, when a
            ``pixel_tol`` is given, ``half_rule_change <= pixel_tol``.
        nodes: per image, the sorted path positions alpha in [0, 1] evaluated
            (float64 arrays; where the quadrature spent its evaluations).
        half_rule_change: float64 (N,) >= 0, :func:`half_rule_change` of the map
            against the same rule on every other node: a per-pixel error estimate
            (part of ``converged`` only when a ``pixel_tol`` is given).
    """

    attributions: np.ndarray
    completeness_error: np.ndarray
    evaluations: np.ndarray
    converged: np.ndarray
    nodes: tuple[np.ndarray, ...]
    half_rule_change: np.ndarray


def black_baseline(
    x_like: torch.Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> torch.Tensor:
    """A black image (pixel value 0) in the model's normalised input space.

    A zero tensor *after* normalisation is a mean-grey image, not black; the
    black image is ``(0 - mean) / std`` per channel. Pixels that are themselves
    almost black (aerated lung on a radiograph, the film border) have
    ``x - x' ~ 0`` and so get almost no attribution from this baseline, whatever
    the model does with them.

    Args:
        x_like: tensor (N, C, H, W) or (C, H, W) giving shape, dtype and device.
        mean: per-channel mean used by the model's normalisation (length C).
        std: per-channel std used by the model's normalisation (length C).

    Returns:
        Tensor shaped like ``x_like`` with channel c equal to ``-mean[c] / std[c]``.

    Raises:
        ConfigError: shape is not 3-/4-D, or mean/std lengths do not match C.
    """
    if x_like.ndim not in (3, 4):
        raise ConfigError(f"x_like must be (N, C, H, W) or (C, H, W), got shape {tuple(x_like.shape)}")
    channels = x_like.shape[-3]
    if len(mean) != channels or len(std) != channels:
        raise ConfigError(f"mean/std must have {channels} values, got mean={tuple(mean)} std={tuple(std)}")
    if any(float(s) <= 0 for s in std):
        raise ConfigError(f"std values must be > 0, got {tuple(std)}")
    dtype = x_like.dtype if x_like.is_floating_point() else torch.float32
    m = torch.tensor(mean, dtype=dtype, device=x_like.device).view(channels, 1, 1)
    s = torch.tensor(std, dtype=dtype, device=x_like.device).view(channels, 1, 1)
    return ((torch.zeros_like(x_like, dtype=dtype) - m) / s).contiguous()


def blur_baseline(x: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """A blurred copy of each image (Sturmfels et al. 2020, "Visualizing the impact of feature attribution baselines").

    The baseline keeps the film's brightness and large-scale anatomy and removes
    fine structure, so IG attributes the fine structure (edges, texture,
    opacities) instead of brightness against black. Gaussian blur is linear and
    the normalisation is affine per channel, so blurring the normalised tensor
    equals normalising the blurred image (reflecting borders keep constants).

    Args:
        x: float tensor (N, C, H, W) or (C, H, W) in the model's normalised space.
        sigma: Gaussian standard deviation in pixels of ``x``, > 0 (default:
            ``BLUR_SIGMA_FRACTION`` of the shorter side, 8 px at 128 px).

    Returns:
        Tensor shaped like ``x``, same dtype and device.

    Raises:
        ConfigError: shape is not 3-/4-D or sigma <= 0.
    """
    if x.ndim not in (3, 4):
        raise ConfigError(f"x must be (N, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    if sigma is None:
        sigma = BLUR_SIGMA_FRACTION * min(x.shape[-2:])
    if not sigma > 0:
        raise ConfigError(f"blur sigma must be > 0 pixels, got {sigma}")
    arr = x.detach().cpu().double().numpy()
    spatial_only = (0,) * (arr.ndim - 2) + (float(sigma), float(sigma))
    blurred = gaussian_filter(arr, sigma=spatial_only, mode="reflect")
    return torch.as_tensor(blurred, dtype=x.dtype if x.is_floating_point() else torch.float32, device=x.device)


def make_baseline(name: str, x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                  std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """The baseline called ``name`` (``black`` or ``blur``) for the normalised images ``x`` (N, C, H, W).

    Raises:
        ConfigError: unknown name (or the errors of the baseline functions).
    """
    if name == "black":
        return black_baseline(x, mean, std)
    if name == "blur":
        return blur_baseline(x)
    raise ConfigError(f"IG baseline must be one of {', '.join(BASELINES)}, got {name!r}")


class _Segments(NamedTuple):
    """Segments of one path, sorted: ends ``a < b``, slopes ``F'(a)``, ``F'(b)`` and trapezoid residuals (float64)."""

    a: np.ndarray
    b: np.ndarray
    slope_a: np.ndarray
    slope_b: np.ndarray
    residual: np.ndarray


class _Path:
    """Nodes evaluated so far on one image's path (alpha in [0, 1]) and what each gave."""

    def __init__(self) -> None:
        self.alpha: list[float] = []
        self.value: list[float] = []  # F(alpha), float64
        self.slope: list[float] = []  # F'(alpha) = grad . (x - x'), float64
        self.grad: list[np.ndarray] = []  # grad * (x - x'), float32, channels summed or not
        self._bends: dict[tuple[int, int, int], float] = {}  # map_bends' term by node triple, reused across rounds

    def add(self, alpha: float, value: float, slope: float, grad: np.ndarray) -> None:
        self.alpha.append(alpha)
        self.value.append(value)
        self.slope.append(slope)
        self.grad.append(grad)

    def order(self) -> np.ndarray:
        return np.argsort(np.asarray(self.alpha), kind="stable")

    def segments(self) -> "_Segments":
        """Sorted segments [a, b], their end slopes and residuals F(b) - F(a) - trapezoid of F' on [a, b]."""
        o = self.order()
        a, v, s = (np.asarray(self.alpha)[o], np.asarray(self.value)[o], np.asarray(self.slope)[o])
        h = np.diff(a)
        return _Segments(a[:-1], a[1:], s[:-1], s[1:], np.diff(v) - h * (s[:-1] + s[1:]) / 2)

    def map_bends(self) -> np.ndarray:
        """Per sorted segment, how far the map bends at its ends: float64 (n_segments,) >= 0.

        At an interior node ``k`` with neighbours ``k-1``, ``k+1`` (spacings ``h1``,
        ``h2``), dropping the node changes the trapezoid map by
        ``(h1 + h2) / 2 * ||G(k) - (h2 G(k-1) + h1 G(k+1)) / (h1 + h2)||``, its
        distance from the straight line through its neighbours (zero where ``G``
        varies linearly, which the rule integrates exactly). The half rule drops
        every other node, so :func:`half_rule_change` is the norm of the sum of these
        terms at the nodes it drops. A segment gets the larger term of its two ends.
        """
        o = self.order()
        a = np.asarray(self.alpha)[o]
        bend = np.zeros(len(o))
        for j in range(1, len(o) - 1):
            key = (int(o[j - 1]), int(o[j]), int(o[j + 1]))
            if key not in self._bends:
                h1, h2 = a[j] - a[j - 1], a[j + 1] - a[j]
                # float32 is ample for an indicator that only orders segments
                off_line = self.grad[o[j]] - (h2 * self.grad[o[j - 1]] + h1 * self.grad[o[j + 1]]) / (h1 + h2)
                self._bends[key] = float((h1 + h2) / 2 * np.linalg.norm(off_line.ravel()))
            bend[j] = self._bends[key]
        return np.maximum(bend[:-1], bend[1:])

    def half_rule_change(self) -> float:
        """:func:`half_rule_change` of this path's map against the rule on every other node."""
        return half_rule_change(self.attributions(), self.attributions(every_other=True))

    def attributions(self, every_other: bool = False) -> np.ndarray:
        """Composite trapezoid rule of ``grad * (x - x')`` over the nodes.

        ``every_other``: the same rule on every other node of the sorted path (both
        ends kept), a nested rule with half the nodes for :func:`half_rule_change`.
        """
        o = self.order()
        if every_other:
            o = np.concatenate([o[:-1:2], o[-1:]])
        a = np.asarray(self.alpha)[o]
        w = np.zeros_like(a)
        w[:-1] += np.diff(a) / 2
        w[1:] += np.diff(a) / 2
        total = np.zeros(self.grad[0].shape, dtype=np.float64)
        for k, weight in zip(o, w):
            total += weight * self.grad[k]
        return total.astype(np.float32)


def _evaluate(model: nn.Module, x: torch.Tensor, base: torch.Tensor, targets: np.ndarray,
              pairs: list[tuple[int, float]], paths: list[_Path], batch_size: int, sum_channels: bool,
              start_shared_by: dict[int, list[int]] | None = None) -> None:
    """Forward/backward passes at (image, alpha) pairs in batches of ``batch_size``; results into ``paths``.

    ``start_shared_by`` maps an image to the images whose alpha = 0 node is the same point
    and target (a baseline shared by all, e.g. black): its pass at alpha = 0 serves them all
    (:func:`_add_shared_start`), each getting the gradient times its own ``x - x'``.
    """
    start_shared_by = start_shared_by or {}
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        # Every pass has exactly batch_size rows (the last chunk is padded with copies of its last
        # node, whose outputs are dropped): backends pick kernels by batch size, and their float
        # results differ in the last bits, so without padding an image's maps would depend on how
        # many other images share its explain batch.
        padded = chunk + [chunk[-1]] * (batch_size - len(chunk))
        idx = torch.as_tensor([i for i, _ in padded], device=x.device)
        alpha = torch.as_tensor([a for _, a in padded], dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
        delta = x.index_select(0, idx) - base.index_select(0, idx)
        point = base.index_select(0, idx) + alpha * delta
        if point.device.type == "cpu":
            # oneDNN convolutions run 5-20% faster on channels-last inputs (ResNet18 and
            # EfficientNet-Lite0 on 2 cores); the model is not touched.
            point = point.contiguous(memory_format=torch.channels_last)
        point = point.requires_grad_(True)
        with torch.enable_grad(), frozen_parameters(model):
            out = model(point)
            if out.ndim != 2:
                raise ConfigError(f"model must return scores (N, n_classes), got shape {tuple(out.shape)}")
            tgt = torch.as_tensor(targets[[i for i, _ in padded]], device=out.device)
            if int(tgt.max()) >= out.shape[1]:
                raise ConfigError(f"target class {int(tgt.max())} is out of range for {out.shape[1]} outputs")
            score = out.gather(1, tgt[:, None])[:, 0]
            (grad,) = torch.autograd.grad(score.sum(), point)
        contrib = (grad * delta).detach()[:len(chunk)]
        slopes = contrib.double().flatten(1).sum(1).cpu().numpy()
        values = score.detach()[:len(chunk)].double().cpu().numpy()
        maps = (contrib.sum(1) if sum_channels else contrib).cpu().numpy()
        for k, (i, a) in enumerate(chunk):
            if a == 0.0 and i in start_shared_by:
                _add_shared_start(grad[k], float(values[k]), x, base, start_shared_by[i], paths, sum_channels)
            else:
                paths[i].add(a, float(values[k]), float(slopes[k]), maps[k])


def _add_shared_start(grad: torch.Tensor, value: float, x: torch.Tensor, base: torch.Tensor, images: list[int],
                      paths: list[_Path], sum_channels: bool) -> None:
    """The alpha = 0 node of ``images`` from one gradient at their common baseline point (C, H, W).

    Each image's contribution is computed on its own, so it does not depend on which
    images share the call.
    """
    for j in images:
        contrib = (grad * (x[j] - base[j]))[None].detach()
        slope = float(contrib.double().flatten(1).sum(1)[0])
        paths[j].add(0.0, value, slope, (contrib.sum(1) if sum_channels else contrib)[0].cpu().numpy())


def _shared_starts(base: torch.Tensor, targets: np.ndarray) -> dict[int, list[int]]:
    """Images grouped by target when every image has the same baseline (one alpha = 0 pass per group).

    Returns {first image of a group: all images of the group}; empty when the baselines differ
    (e.g. the blurred baseline, one per image).
    """
    if not bool((base == base[:1]).all()):
        return {}
    groups: dict[int, list[int]] = {}
    for i, t in enumerate(targets):
        groups.setdefault(int(t), []).append(i)
    return {members[0]: members for members in groups.values()}


def split_points(seg: _Segments) -> np.ndarray:
    """Where to split each segment: at its estimated kink, else at its midpoint.

    If ``F'`` jumps once on ``[a, b]`` (one unit switching, the common case in a
    ReLU network), from ``F'(a)`` to ``F'(b)`` at ``c``, then ``F(b) - F(a) =
    F'(a) (c - a) + F'(b) (b - c)`` and the residual is ``(F'(a) - F'(b)) (c - m)``
    with ``m`` the midpoint, so ``c = m + residual / (F'(a) - F'(b))``. A node at
    ``c`` leaves two segments on which ``F'`` is constant. Where that estimate
    falls outside the segment (several jumps, or ``F'(a) == F'(b)``) the midpoint
    is used; estimates are kept ``KINK_MARGIN`` of the length inside the ends so
    that no segment shrinks by more than that factor in one split.

    Returns:
        float64 (n_segments,), strictly inside each segment.
    """
    h = seg.b - seg.a
    mid = (seg.a + seg.b) / 2
    jump = seg.slope_a - seg.slope_b
    with np.errstate(divide="ignore", invalid="ignore"):
        kink = mid + seg.residual / jump
    inside = np.isfinite(kink) & (kink > seg.a) & (kink < seg.b)
    lo, hi = seg.a + KINK_MARGIN * h, seg.b - KINK_MARGIN * h
    return np.where(inside, np.clip(kink, lo, hi), mid)


def _mark(seg: _Segments, mag: np.ndarray, budget: int, split: str) -> list[float]:
    """New nodes of one round: split the segments with the largest error indicator ``mag`` first.

    ``mag`` (n_segments,) >= 0 is |residual| while the completeness error is above its
    tolerance, else :meth:`_Path.map_bends` (per-pixel). The segments marked together
    hold at least ``MARK_FRACTION`` of the summed indicator (Doerfler marking); their
    number is rounded up to a multiple of ``ROUND_MULTIPLE`` with the next largest
    segments, so that passes of that many nodes are never padded, but never with a
    segment whose indicator is below ``FILL_FLOOR`` of the largest (splitting it would
    gain nothing). Capped by the remaining ``budget`` of segments.
    """
    a, b = seg.a, seg.b
    order = np.lexsort((a, -mag))  # by indicator descending, ties by position: deterministic
    order = order[b[order] - a[order] > 1e-12]  # segments at float resolution cannot be split
    if order.size == 0:
        return []
    core = int(np.count_nonzero(np.cumsum(mag[order]) < MARK_FRACTION * mag.sum())) + 1
    filled = -(-core // ROUND_MULTIPLE) * ROUND_MULTIPLE
    worth = int(np.count_nonzero(mag[order] >= FILL_FLOOR * mag[order[0]]))
    n = min(max(core, min(filled, worth)), budget, order.size)
    at = split_points(seg) if split == "kink" else (a + b) / 2
    return sorted(float(at[k]) for k in order[:n])


def _check_args(tol: float, start_steps: int, max_steps: int, batch_size: int | None,
                min_denominator: float) -> None:
    if not tol > 0:
        raise ConfigError(f"tol must be > 0, got {tol}")
    if int(start_steps) < 1 or int(max_steps) < int(start_steps):
        raise ConfigError(f"need 1 <= start_steps <= max_steps, got start_steps={start_steps} max_steps={max_steps}")
    if batch_size is not None and int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1 or None, got {batch_size}")
    if not min_denominator > 0:
        raise ConfigError(f"min_denominator must be > 0, got {min_denominator}")


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target: int | Sequence[int] | np.ndarray | torch.Tensor,
    *,
    baseline: torch.Tensor,
    tol: float = 0.01,
    start_steps: int = 8,
    max_steps: int = 512,
    batch_size: int | None = None,
    sum_channels: bool = True,
    min_denominator: float = 0.1,
    split: str = "midpoint",
    pixel_tol: float | None = None,
) -> IGResult:
    """Integrated Gradients of the target score with adaptive nested trapezoid quadrature.

    Every image starts with ``start_steps`` uniform segments (``start_steps + 1``
    nodes, both ends included). Each round, an image whose completeness error
    exceeds ``tol`` splits its segments with the largest absolute residuals
    (together at least ``MARK_FRACTION``, 10 %, of its summed absolute residual,
    in rounds of a multiple of ``ROUND_MULTIPLE`` = 8 nodes; at the estimated
    kink, :func:`split_points`, or at the midpoint, ``split``), until the error is
    within ``tol`` or it has ``max_steps`` segments (``max_steps + 1``
    evaluations). With ``pixel_tol`` set, an image whose sum is within ``tol`` but
    whose :func:`half_rule_change` exceeds ``pixel_tol`` keeps refining, splitting
    at their midpoints the segments at whose ends the map bends most
    (:meth:`_Path.map_bends`). The attributions returned are always those of all
    nodes evaluated (the finest integration run); images that miss a tolerance at
    the cap come back with ``converged`` False and must be left out of IG statistics.

    Completeness error, per image::

        delta = sum(attributions) - (f(x) - f(x'))
        error = |delta| / max(|f(x) - f(x')|, min_denominator)

    The floor ``min_denominator`` (in units of ``f``, log-odds for the toolkit)
    makes the error absolute (``|delta| / min_denominator``) when image and
    baseline score almost the same, instead of dividing by ~0.

    Runs on the model's device; the model is put in eval mode (its parameters'
    ``requires_grad`` flags are switched off during each pass and restored);
    ``x`` is not modified.

    Args:
        model: classifier returning scores (N, n_classes); the toolkit passes
            :class:`xai.models_util.BinaryLogOdds` so scores are log-odds.
        x: float tensor (N, C, H, W), already normalised.
        target: class index explained (1 = PNEUMONIA), one or one per image.
        baseline: (C, H, W), (1, C, H, W) or (N, C, H, W) in the same normalised
            space, e.g. :func:`black_baseline` or :func:`blur_baseline`.
        tol: completeness error accepted (0.01 = 1 %).
        start_steps: uniform segments of the first round, >= 1 (default 8).
        max_steps: most segments per image, >= start_steps (cap of
            ``max_steps + 1`` evaluations).
        batch_size: (image, alpha) nodes per forward/backward pass; None picks
            by device (:data:`PASS_SIZE`: 8 on CPU, 32 elsewhere). Results are
            deterministic for a fixed value (every pass is padded to it).
        sum_channels: sum attributions over channels (the 3 channels are the
            same grayscale pixel, so the sum is the pixel's attribution and
            completeness still holds); False keeps (N, C, H, W).
        min_denominator: floor of ``|f(x) - f(x')|`` in the error, > 0.
        split: where a marked segment gets its new node: ``"midpoint"``
            (default, bisection) or ``"kink"`` (:func:`split_points`).
        pixel_tol: per-pixel tolerance on :func:`half_rule_change` (relative L2,
            e.g. 0.1), > 0; None (default) judges convergence by completeness alone.

    Returns:
        IGResult(attributions, completeness_error, evaluations, converged, nodes,
        half_rule_change): float32 (N, H, W) or (N, C, H, W); float64 (N,); int64
        (N,); bool (N,); N float64 arrays; float64 (N,).

    Raises:
        ConfigError: bad shapes, class indices or parameters.
    """
    _check_args(tol, start_steps, max_steps, batch_size, min_denominator)
    if pixel_tol is not None and not pixel_tol > 0:
        raise ConfigError(f"pixel_tol must be > 0 or None, got {pixel_tol}")
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ConfigError(f"x must be a 4-D tensor (N, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    n = x.shape[0]
    targets = as_target_array(target, n)
    device = model_device(model)
    model.eval()
    x = x.detach().to(device=device, dtype=torch.float32)
    base = torch.as_tensor(baseline).detach().to(device=device, dtype=torch.float32)
    if base.ndim == 3:
        base = base[None]
    if base.ndim != 4 or base.shape[1:] != x.shape[1:] or base.shape[0] not in (1, n):
        raise ConfigError(f"baseline shape {tuple(base.shape)} does not match input shape {tuple(x.shape)}")
    base = base.expand_as(x).contiguous()

    out_shape = (n,) + (tuple(x.shape[2:]) if sum_channels else tuple(x.shape[1:]))
    if n == 0:
        return IGResult(np.zeros(out_shape, np.float32), np.zeros(0), np.zeros(0, np.int64), np.zeros(0, bool), (),
                        np.zeros(0))

    model = gradient_model(model, x[:1])  # batch norms folded into a copy where possible: same function, faster
    paths = [_Path() for _ in range(n)]
    pass_size = int(batch_size) if batch_size is not None else PASS_SIZE.get(device.type, PASS_SIZE_OTHER)
    grid = np.linspace(0.0, 1.0, int(start_steps) + 1)
    start_shared_by = _shared_starts(base, targets)  # {} unless one baseline serves every image
    pairs = [(i, float(a)) for i in range(n) for a in grid if a > 0 or not start_shared_by or i in start_shared_by]
    errors = np.full(n, np.inf)
    span = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while pairs:
        _evaluate(model, x, base, targets, pairs, paths, pass_size, sum_channels, start_shared_by)
        pairs, start_shared_by = [], None
        for i in np.flatnonzero(active):
            seg = paths[i].segments()
            r = seg.residual
            span[i] = paths[i].value[paths[i].order()[-1]] - paths[i].value[paths[i].order()[0]]
            errors[i] = abs(r.sum()) / max(abs(span[i]), float(min_denominator))
            budget = int(max_steps) - r.size
            complete = errors[i] <= tol
            pixels_ok = pixel_tol is None or (complete and paths[i].half_rule_change() <= pixel_tol)
            if (complete and pixels_ok) or budget <= 0:
                active[i] = False
                continue
            # The sum first (its residuals point at the segments); then the pixels.
            mag = np.abs(r) if not complete else paths[i].map_bends()
            pairs += [(int(i), m) for m in _mark(seg, mag, budget, split if not complete else "midpoint")]
            if not pairs or pairs[-1][0] != i:
                active[i] = False  # nothing left to bisect (segments at float resolution)

    attributions = np.stack([p.attributions() for p in paths])
    # The error reported is that of the maps returned (float32 sums), not of the bookkeeping.
    sums = attributions.reshape(n, -1).sum(axis=1, dtype=np.float64)
    errors = np.abs(sums - span) / np.maximum(np.abs(span), float(min_denominator))
    evaluations = np.asarray([len(p.alpha) for p in paths], dtype=np.int64)
    nodes = tuple(np.sort(np.asarray(p.alpha)) for p in paths)
    change = np.asarray([half_rule_change(a, p.attributions(every_other=True)) for a, p in zip(attributions, paths)])
    converged = errors <= tol
    if pixel_tol is not None:
        converged &= change <= pixel_tol
    return IGResult(attributions, errors, evaluations, converged, nodes, change)
