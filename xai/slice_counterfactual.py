"""Does moving a slice's defining image property move the model? A cheap check per confirmed slice.

A confirmed slice such as "NORMAL films in the lowest quartile of high-frequency
share" says errors go together with low detail. When an existing intervention of
:mod:`xai.interventions` moves that property (blur lowers detail, contrast scaling
moves contrast, a gamma curve moves exposure), we take the slice's **correctly
classified** films and move the property by the slice's *natural difference*:
the median of the property in the slice minus its median in the rest of the class.
For each film the strength is chosen from a small grid so that the measured
property (same metric, same model size as ``quality.csv``) lands closest to its
value plus that difference. The model is then asked again; the change in the
probability of the class an error would predict has a seeded bootstrap 95% CI, the
share of films that flip a Wilson 95% CI. A slice defined by a property no
intervention can move that way (e.g. *more* fine detail) is reported as not tested.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.errors import ConfigError
from data.labels import THRESHOLD
from quality import metrics as qm
from stats._table import JsonFields
from stats.bootstrap import bootstrap_mean_ci
from stats.intervals import wilson_interval
from training.predict import predict_proba
from xai.interventions import gamma, gaussian_blur, scale_contrast

#: property -> (intervention name, function(image, strength), strength grid, direction the grid moves it).
#: Directions: -1 the property only goes down along the grid, 0 both ways (grid spans the identity).
_SIGMAS = tuple(float(s) for s in np.round(np.geomspace(0.1, 4.0, 16), 3))
_FACTORS = tuple(float(f) for f in np.round(np.linspace(0.4, 1.8, 29), 3) if abs(f - 1) > 1e-9)
_GAMMAS = tuple(float(g) for g in np.round(np.geomspace(0.4, 2.5, 25), 3) if abs(g - 1) > 1e-3)
MOVABLE = {
    "q_laplacian_var": ("gaussian_blur", gaussian_blur, _SIGMAS, -1),
    "q_highfreq_share": ("gaussian_blur", gaussian_blur, _SIGMAS, -1),
    "q_blur_effect": ("gaussian_blur", gaussian_blur, _SIGMAS, +1),
    "q_rms_contrast": ("contrast", scale_contrast, _FACTORS, 0),
    "q_michelson": ("contrast", scale_contrast, _FACTORS, 0),
    "q_dynamic_range": ("contrast", scale_contrast, _FACTORS, 0),
    "q_mean": ("gamma", gamma, _GAMMAS, 0),
}


@dataclass(frozen=True)
class SliceCounterfactual(JsonFields):
    """The intervention check of one slice (``tested`` False: ``reason`` says why).

    ``natural_difference``: slice median - rest-of-class median of ``property``;
    ``achieved_change``: median measured change of the edited films;
    ``mean_delta``: mean change of P(error class) (for NORMAL films P(PNEUMONIA)),
    with bootstrap 95% CI; ``flip_rate``: share of films whose prediction flipped
    to the error class, Wilson 95% CI.
    """

    true_class: str
    rank: int
    property: str
    intervention: str
    tested: bool
    reason: str
    natural_difference: float = float("nan")
    n_images: int = 0
    median_strength: float = float("nan")
    achieved_change: float = float("nan")
    mean_delta: float = float("nan")
    delta_low: float = float("nan")
    delta_high: float = float("nan")
    flip_rate: float = float("nan")
    flip_low: float = float("nan")
    flip_high: float = float("nan")


def natural_difference(values: np.ndarray, members: np.ndarray) -> float:
    """Median of ``values`` in the slice minus the median in the rest of the class (NaN ignored)."""
    inside, outside = values[members], values[~members]
    inside, outside = inside[np.isfinite(inside)], outside[np.isfinite(outside)]
    if inside.size == 0 or outside.size == 0:
        return float("nan")
    return float(np.median(inside) - np.median(outside))


def move_property(images: np.ndarray, prop: str, difference: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edit each film so that ``prop`` changes by about ``difference``.

    Args:
        images: float32 (N, S, S) in [0, 1] at the model size.
        prop: a key of :data:`MOVABLE`.
        difference: wanted change of the property (same units as ``quality.csv``).

    Returns:
        (edited float32 (N, S, S), chosen strength (N,), measured change (N,)).
    """
    if prop not in MOVABLE:
        raise ConfigError(f"no intervention moves {prop!r}; movable: {sorted(MOVABLE)}")
    _name, fn, grid, _direction = MOVABLE[prop]
    metric = qm.METRICS[prop]
    edited = np.empty_like(images)
    strengths = np.empty(len(images))
    changes = np.empty(len(images))
    for i, img in enumerate(images):
        before = float(metric(img))
        options = [fn(img, s) for s in grid]
        values = np.array([float(metric(o)) for o in options])
        best = int(np.argmin(np.abs(values - (before + difference))))
        edited[i], strengths[i], changes[i] = options[best], grid[best], values[best] - before
    return edited, strengths, changes


def slice_counterfactual(model, images: np.ndarray, *, true_class: str, rank: int, prop: str,
                         difference: float, mean, std, device: str = "cpu", n_boot: int = 2000,
                         seed: int = 0) -> SliceCounterfactual:
    """Move ``prop`` of the slice's correct films by ``difference`` and measure the model's response.

    Args:
        model: the classifier (logits (N, 2), class 1 = PNEUMONIA), eval mode.
        images: float32 (N, S, S) in [0, 1]: the slice's correctly classified films.
        true_class: ``NORMAL`` or ``PNEUMONIA`` (sets which probability is the error's).
        rank: the slice's rank within its class (to join with ``slices.csv``).
        prop: the slice's defining property (a quality column).
        difference: :func:`natural_difference` of the slice.
        mean, std: the run's normalisation.
        device, n_boot, seed: forward-pass device; bootstrap resamples and seed.
    """
    name = MOVABLE.get(prop, ("none",))[0]
    base = dict(true_class=true_class, rank=rank, property=prop, intervention=name)
    if prop not in MOVABLE:
        return SliceCounterfactual(**base, tested=False, reason=f"no existing intervention moves {prop}")
    direction = MOVABLE[prop][3]
    if not np.isfinite(difference) or difference == 0:
        return SliceCounterfactual(**base, tested=False, reason="the slice does not differ from its class here")
    if direction and np.sign(difference) != direction:
        return SliceCounterfactual(**base, tested=False, natural_difference=difference,
                                   reason=f"{name} can only move {prop} the other way (the slice has "
                                          f"{'more' if difference > 0 else 'less'} of it)")
    if len(images) == 0:
        return SliceCounterfactual(**base, tested=False, natural_difference=difference,
                                   reason="the slice has no correctly classified film")
    edited, strengths, changes = move_property(images, prop, difference)
    p_before = predict_proba(model, images, mean, std, device=device)
    p_after = predict_proba(model, edited, mean, std, device=device)
    sign = 1.0 if true_class == "NORMAL" else -1.0  # P of the class an error would predict
    delta = sign * (p_after - p_before)
    flipped = (p_after >= THRESHOLD) != (p_before >= THRESHOLD)
    low, high = bootstrap_mean_ci(delta, n_boot=n_boot, seed=seed)
    f_low, f_high = wilson_interval(int(flipped.sum()), len(flipped))
    return SliceCounterfactual(**base, tested=True, reason="", natural_difference=float(difference),
                               n_images=len(images), median_strength=float(np.median(strengths)),
                               achieved_change=float(np.median(changes)), mean_delta=float(delta.mean()),
                               delta_low=low, delta_high=high, flip_rate=float(flipped.mean()),
                               flip_low=f_low, flip_high=f_high)


def slice_property(conditions) -> str | None:
    """The first condition of a slice on a movable quality property, or None."""
    for name, _level in conditions:
        if name in MOVABLE:
            return name
    return None


def correct_members(table: pd.DataFrame, members: np.ndarray, limit: int, seed: int) -> pd.DataFrame:
    """The slice's correctly classified rows, at most ``limit`` (seeded sample)."""
    rows = table[members & ~table["outcome"].isin(["FP", "FN"]).to_numpy()]
    if len(rows) > limit:
        rows = rows.sample(n=limit, random_state=seed)
    return rows
