"""Counterfactual sweeps (the library of ``python -m xai.counterfactual``): edit correctly classified films on purpose (whole film, inside or outside the lungs, texture vs shape) and ask the model again; statistics and verdicts of the sweeps."""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from data.cache import load_resized
from data.errors import ConfigError
from data.jsonsafe import jsonable
from data.labels import CLASSES, THRESHOLD
from data.layout import CounterfactualLayout, run_layout
from quality import metrics as qm
from stats.bootstrap import bootstrap_mean_ci
from stats.equivalence import tost_paired
from stats.intervals import wilson_interval
from training.device import resolve_device
from training.evalsets import check_split, require_labels, split_predictions
from training.predict import load_run, predict_proba
from xai.interventions import INTERVENTIONS, TEXTURE_SHAPE, _patch_grid, apply, feather, shuffle_coverage
from xai.lungs import lung_mask

#: ``outside_matched``: random square patches outside the lungs with the lung mask's area (the area control).
REGIONS = ("whole", "lungs", "outside", "outside_matched")


#: Draws of the area-matched outside patches per image (each a different random set).
N_MATCHED_DRAWS = 3


#: The ONE pre-declared headline comparison (intervention, strength, true class): blurring the lung fields vs
#: blurring outside patches of the same area, on true NORMAL images (the false-positive question).
HEADLINE = ("gaussian_blur", 2.0, "NORMAL")


#: Equivalence margin on the log-odds scale: mean |change in log-odds| within +-0.5 (odds x/÷ 1.65) is "about
#: the same"; stated in the report, tested with TOST before anything is called equivalent.
EQUIVALENCE_MARGIN = 0.5


#: P(pneumonia) is clipped to [EPS, 1 - EPS] before the log-odds (|log-odds| <= 13.8).
EPS = 1e-6


#: Quality metrics measured on every perturbed film: every metric of ``quality.metrics.METRICS``.
DEFAULT_QUALITY = tuple(qm.METRICS)


#: Mean |change in P(pneumonia)| below this counts as no material effect in the verdicts.
MIN_EFFECT = 0.05


#: Flip direction reported for each true class (all sampled images start correct).
FLIP_DIRECTION = {"NORMAL": "NORMAL->PNEUMONIA", "PNEUMONIA": "PNEUMONIA->NORMAL"}


#: Strength parameter of each intervention, for labels.
STRENGTH_NAME = {"gaussian_blur": "sigma", "motion_blur": "length", "contrast": "factor", "gamma": "g",
                 "noise": "sigma", "shuffle_patches": "patch", "low_pass": "sigma"}


TEXTURE_SHAPE_NOTE = (
    "What this can show: how much the model's output depends on two different kinds of information inside "
    "the lung fields. Shuffling square patches keeps the local grey levels and texture but destroys the "
    "layout (vessels, ribs, where an opacity sits); low-pass filtering keeps the coarse layout and brightness "
    "but removes fine texture. If one edit leaves P(pneumonia) nearly unchanged, the information it destroys "
    "is not needed for the current decision. What it cannot show: which features the model uses, or whether "
    "they are pathology. Both edits make films unlike any training image (patch seams add sharp edges, "
    "smoothing removes noise), so a change can be a reaction to the artefact rather than to the lost "
    "information; the lung mask misses consolidated parts and a rim along its border is left intact; and a "
    "model that reads texture and shape redundantly tolerates either edit."
)


REGION_NOTE = (
    "A model that reads only lung pathology should not react to changes outside the lung fields. The whole "
    "outside region is about three times larger than the lungs, and a larger edited area alone predicts a larger "
    "effect, so the lungs-vs-outside rows are exploratory; the headline compares the lungs with random outside "
    f"patches of the SAME area ({N_MATCHED_DRAWS} draws per image), on the log-odds scale, and calls the two "
    f"'about the same' only when a TOST puts the difference inside +-{EQUIVALENCE_MARGIN} log-odds. Every region "
    "edit is feathered (no seam) and region blurs are normalised convolutions (no bleeding). Perturbations near "
    "the lung border also reach lung features through the model's receptive field, so a small effect from "
    "outside is expected even for a lung reader; a large one is not."
)


@dataclass(frozen=True)
class CounterfactualConfig:
    """Resolved configuration of one counterfactual run.

    Attributes:
        run: run folder or ``runs/latest`` pointer.
        data: dataset root (None: the root recorded in the run).
        split: ``valid``, ``test`` or the name of an evaluation set (``training.evaluate``).
        per_class: most correctly classified images per true class, >= 1.
        regions: subset of ``whole``, ``lungs``, ``outside``.
        interventions: names from :data:`xai.interventions.INTERVENTIONS`.
        texture_shape: also run the patch-shuffle vs low-pass pair inside the lungs.
        seed: sampling, noise, shuffling and bootstrap seed.
        device: ``auto``, ``cpu`` or ``cuda``.
        batch_size: images per forward pass.
        n_boot: bootstrap resamples of the confidence intervals.
        min_effect: mean |change in P(pneumonia)| counted as material in the verdicts.
        quality: quality metrics measured on every perturbed film.
        require_plausible_mask: sample only images whose lung mask is plausible
            (region interventions on a wrong mask would be meaningless).
        cache_dir, workers: decoded-image cache and decode processes.
        out: output folder (None: ``<run>/explain/<split>/counterfactual``).
        plots: draw the figures (in the command; the report step draws them when missing).
        headline: the ONE pre-declared comparison (intervention, strength, true class): lungs vs
            area-matched outside patches; saved in ``config.json`` before the sweep runs.
    """

    run: str = "runs/latest"
    data: str | None = None
    split: str = "test"
    per_class: int = 100
    regions: tuple[str, ...] = REGIONS
    interventions: tuple[str, ...] = tuple(INTERVENTIONS)
    texture_shape: bool = True
    seed: int = 0
    device: str = "auto"
    batch_size: int = 64
    n_boot: int = 2000
    min_effect: float = MIN_EFFECT
    quality: tuple[str, ...] = DEFAULT_QUALITY
    require_plausible_mask: bool = True
    cache_dir: str | None = None
    workers: int | None = None
    out: str | None = None
    plots: bool = True
    headline: tuple = HEADLINE

    def __post_init__(self):
        check_split(self.split)
        if int(self.per_class) < 1:
            raise ConfigError(f"--per-class must be >= 1, got {self.per_class}")
        bad = [r for r in self.regions if r not in REGIONS]
        if bad or not self.regions or len(set(self.regions)) != len(self.regions):
            raise ConfigError(f"--regions must be distinct values of {','.join(REGIONS)}, got {','.join(self.regions)}")
        bad = [i for i in self.interventions if i not in INTERVENTIONS]
        if bad:
            raise ConfigError(f"unknown interventions {bad}; known: {', '.join(INTERVENTIONS)}")
        if not self.interventions and not self.texture_shape:
            raise ConfigError("nothing to do: no interventions and no texture-vs-shape test")
        bad = [q for q in self.quality if q not in qm.METRICS]
        if bad:
            raise ConfigError(f"unknown quality metrics {bad}; known: {', '.join(qm.METRICS)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        if int(self.batch_size) < 1 or int(self.n_boot) < 1:
            raise ConfigError(f"--batch-size and --n-boot must be >= 1, got {self.batch_size}, {self.n_boot}")
        if not 0 < float(self.min_effect) < 1:
            raise ConfigError(f"--min-effect must be in (0, 1), got {self.min_effect}")
        if (len(self.headline) != 3 or self.headline[0] not in INTERVENTIONS or self.headline[2] not in CLASSES
                or float(self.headline[1]) not in [float(v) for v in INTERVENTIONS[self.headline[0]][1]]):
            raise ConfigError(f"--headline must be INTERVENTION:STRENGTH:CLASS with a default strength of a known "
                              f"intervention and NORMAL or PNEUMONIA, got {':'.join(map(str, self.headline))}")


@dataclass(frozen=True)
class Variant:
    """One perturbation: an intervention at one strength in one region."""

    intervention: str
    strength: float
    region: str
    draw: int = 0


def plan_variants(interventions=tuple(INTERVENTIONS), regions=REGIONS, texture_shape: bool = True,
                  n_draws: int = N_MATCHED_DRAWS) -> list[Variant]:
    """Every (intervention, strength, region) to apply to each image, in a stable order.

    Args:
        interventions: names from :data:`INTERVENTIONS` (their default strengths are used).
        regions: regions for those interventions.
        texture_shape: add :data:`TEXTURE_SHAPE` at its strengths, region ``lungs``.

    Returns:
        List of :class:`Variant`.
    """
    out = [Variant(name, float(s), region, d) for name in interventions for s in INTERVENTIONS[name][1]
           for region in regions for d in range(n_draws if region == "outside_matched" else 1)]
    if texture_shape:
        out += [Variant(name, float(s), "lungs") for name, (_, strengths) in TEXTURE_SHAPE.items()
                for s in strengths]
    return out


def image_seed(seed: int, index: int) -> int:
    """Seed of the noise/shuffle of image ``index``: the same for every region of that image."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def matched_outside_mask(lungs: np.ndarray, seed: int, patch: int | None = None) -> np.ndarray:
    """Random square patches entirely outside the lungs whose edited area matches the lung mask's.

    Grid squares of side ``patch`` (default ``max(2, S // 14)``: 16 px at 224) lying wholly
    outside ``lungs`` are taken in a seeded random order until their EFFECTIVE area (the sum
    of the feathered compositing weight, :func:`xai.interventions.feather`) reaches that of
    the lungs (all of them when the outside holds fewer). Matching the feathered weight, not
    the pixel count, keeps small patches (more border, more feathering) from being edited less.

    Args:
        lungs: bool (S, S) lung mask.
        seed: seed of the random order (one per image and draw).
        patch: square side in pixels.

    Returns:
        bool (S, S) mask disjoint from ``lungs``.
    """
    lungs = np.asarray(lungs, bool)
    patch = int(patch or max(2, lungs.shape[0] // 14))
    corners = _patch_grid(~lungs, patch)
    out = np.zeros_like(lungs)
    target = float(feather(lungs).sum())
    order = np.random.default_rng(seed).permutation(len(corners))
    k = 0
    # the feathered weight (a filter pass) is only checked once the pixel count has reached the target
    while k < len(order):
        y, x = corners[order[k]]
        out[y:y + patch, x:x + patch] = True
        k += 1
        if out.sum() >= target and float(feather(out).sum()) >= target:
            break
    return out


def region_mask(region: str, lungs: np.ndarray, seed: int = 0) -> np.ndarray | None:
    """``whole`` -> None (everywhere), ``lungs`` -> the mask, ``outside`` -> its complement,
    ``outside_matched`` -> :func:`matched_outside_mask` drawn with ``seed``."""
    if region == "whole":
        return None
    if region == "lungs":
        return lungs
    if region == "outside":
        return ~lungs
    if region == "outside_matched":
        return matched_outside_mask(lungs, seed)
    raise ConfigError(f"unknown region {region!r}; known: {', '.join(REGIONS)}")


def measure_quality(image: np.ndarray, names=DEFAULT_QUALITY) -> dict[str, float]:
    """Whole-film quality metrics of one image at its own size (the model size).

    Args:
        image: float (S, S) in [0, 1].
        names: keys of ``quality.metrics.METRICS``.

    Returns:
        ``{name: value}``.
    """
    return {name: float(qm.METRICS[name](image)) for name in names}


def sweep(model: nn.Module, images: np.ndarray, labels, lungs: np.ndarray, *, mean, std,
          variants: list[Variant], image_ids=None, seed: int = 0, device: str = "cpu",
          batch_size: int = 64, quality=DEFAULT_QUALITY, progress: bool = False) -> pd.DataFrame:
    """Apply every variant to every image and record P(pneumonia) before and after.

    Args:
        model: classifier (logits (N, 2), class 1 = PNEUMONIA), eval mode.
        images: float32 (N, S, S) in [0, 1] at the model size.
        labels: (N,) true class names (``NORMAL`` / ``PNEUMONIA``).
        lungs: bool (N, S, S) lung-field masks.
        mean, std: the run's normalisation (3 values each).
        variants: from :func:`plan_variants`.
        image_ids: (N,) ids (default ``0..N-1``).
        seed: seeds of the noise and patch shuffles (see :func:`image_seed`).
        device: torch device for the forward passes.
        batch_size: images per forward pass.
        quality: quality metrics of each perturbed film.
        progress: show a progress bar.

    Returns:
        One row per image x variant: ``image_id, label, intervention, strength,
        region, draw, region_fraction`` (share of the film in the region), ``region_weight`` (mean
        feathered compositing weight: the effectively edited share), ``p_before, p_after, delta`` (after - before),
        ``logit_before, logit_after, delta_logit`` (log-odds, P clipped to [1e-6, 1 - 1e-6]),
        ``abs_delta, flipped`` (crossed the 0.5 threshold), ``pixel_change``
        (mean |perturbed - original| over the film), ``coverage`` (share of the
        region actually shuffled; 1 otherwise), the quality metrics of the
        perturbed film and ``<metric>_before`` of the original.
    """
    images = np.asarray(images, dtype=np.float32)
    lungs = np.asarray(lungs, dtype=bool)
    labels = np.asarray(labels)
    if images.ndim != 3 or lungs.shape != images.shape or len(labels) != len(images):
        raise ConfigError(f"need images (N, S, S), lungs of the same shape and N labels, got {images.shape}, "
                          f"{lungs.shape}, {len(labels)}")
    ids = np.arange(len(images)) if image_ids is None else np.asarray(image_ids)
    if len(images) == 0 or not variants:
        return pd.DataFrame()
    p_before = predict_proba(model, images, mean, std, device=device, batch_size=batch_size)
    rows: list[dict] = []
    iterator = range(len(images))
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="counterfactuals", unit="img")
    for i in iterator:
        img, lung = images[i], lungs[i]
        before_q = {f"{k}_before": v for k, v in measure_quality(img, quality).items()}
        s = image_seed(seed, i)
        perturbed = np.empty((len(variants),) + img.shape, np.float32)
        meta = []
        for j, v in enumerate(variants):
            region = region_mask(v.region, lung, seed=image_seed(s, v.draw))
            perturbed[j] = apply(v.intervention, img, v.strength, region=region, seed=s)
            coverage = shuffle_coverage(lung, int(v.strength)) if v.intervention == "shuffle_patches" else 1.0
            meta.append({"region_fraction": 1.0 if region is None else float(region.mean()),
                         "region_weight": 1.0 if region is None else float(feather(region).mean()),
                         "coverage": coverage})
        p_after = predict_proba(model, perturbed, mean, std, device=device, batch_size=batch_size)
        for j, v in enumerate(variants):
            rows.append({
                "image_id": ids[i], "label": labels[i], "intervention": v.intervention, "strength": v.strength,
                "region": v.region, "draw": v.draw, **meta[j], "p_before": p_before[i], "p_after": p_after[j],
                "pixel_change": float(np.abs(perturbed[j] - img).mean()),
                **measure_quality(perturbed[j], quality), **before_q,
            })
    table = pd.DataFrame(rows)
    table["delta"] = table["p_after"] - table["p_before"]
    table["abs_delta"] = table["delta"].abs()
    table["logit_before"] = _logit(table["p_before"].to_numpy())
    table["logit_after"] = _logit(table["p_after"].to_numpy())
    table["delta_logit"] = table["logit_after"] - table["logit_before"]
    table["flipped"] = (table["p_after"] >= THRESHOLD) != (table["p_before"] >= THRESHOLD)
    first = ["image_id", "label", "intervention", "strength", "region", "draw", "region_fraction", "region_weight",
             "coverage",
             "p_before", "p_after", "delta", "abs_delta", "logit_before", "logit_after", "delta_logit", "flipped",
             "pixel_change"]
    return table[first + [c for c in table.columns if c not in first]]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


GROUP = ["intervention", "strength", "region", "label"]


def collapse_draws(per_image: pd.DataFrame) -> pd.DataFrame:
    """One row per image x variant: the draws of the area-matched region averaged per image.

    Numeric columns are averaged over draws; ``flipped`` becomes True when the image flipped in
    more than half of its draws. Images, not draws, are the independent units of every interval.
    """
    if per_image.empty or "draw" not in per_image or not (per_image["draw"] > 0).any():
        return per_image
    keys = ["image_id", "label", "intervention", "strength", "region"]
    numeric = [c for c in per_image.columns if c not in keys and c != "flipped"
               and pd.api.types.is_numeric_dtype(per_image[c])]
    grouped = per_image.groupby(keys, sort=False)
    out = grouped[numeric].mean()
    out["flipped"] = grouped["flipped"].mean() > 0.5
    return out.reset_index()[list(per_image.columns)]


def summarise(per_image: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per intervention x strength x region x true class statistics of a sweep.

    The draws of the area-matched region are first averaged per image
    (:func:`collapse_draws`). Every group uses :func:`bootstrap_mean_ci` with the same ``seed`` (common
    random numbers), and ``stats.intervals.wilson_interval`` for flip rates.

    Args:
        per_image: :func:`sweep` output (needs ``GROUP`` columns, ``p_before``,
            ``p_after``, ``delta``, ``abs_delta``, ``flipped``; quality columns
            and ``pixel_change`` are averaged when present).
        n_boot: bootstrap resamples.
        seed: bootstrap seed.

    Returns:
        One row per group, in order of first appearance: the group keys,
        ``n, mean_p_before, mean_p_after, mean_delta, delta_low, delta_high,
        mean_abs_delta, abs_delta_low, abs_delta_high, flips, flip_rate,
        flip_low, flip_high, flip_direction`` and ``mean_<column>`` of the
        quality, pixel-change and region-fraction columns.
    """
    if per_image.empty:
        return pd.DataFrame(columns=GROUP + ["n"])
    per_image = collapse_draws(per_image)
    extra = [c for c in per_image.columns
             if c.startswith("q_") or c in ("pixel_change", "region_fraction", "coverage")]
    rows = []
    for key, part in per_image.groupby(GROUP, sort=False):
        n = len(part)
        flips = int(part["flipped"].astype(bool).sum())
        d_low, d_high = bootstrap_mean_ci(part["delta"], n_boot, seed)
        a_low, a_high = bootstrap_mean_ci(part["abs_delta"], n_boot, seed)
        f_low, f_high = wilson_interval(flips, n)
        row = dict(zip(GROUP, key))
        row.update({
            "n": n, "mean_p_before": float(part["p_before"].mean()), "mean_p_after": float(part["p_after"].mean()),
            "mean_delta": float(part["delta"].mean()), "delta_low": d_low, "delta_high": d_high,
            "mean_abs_delta": float(part["abs_delta"].mean()), "abs_delta_low": a_low, "abs_delta_high": a_high,
            "flips": flips, "flip_rate": flips / n, "flip_low": f_low, "flip_high": f_high,
            "flip_direction": FLIP_DIRECTION.get(row["label"], "flip"),
        })
        row.update({f"mean_{c}": float(part[c].mean()) for c in extra})
        rows.append(row)
    return pd.DataFrame(rows)


def _paired(per_image: pd.DataFrame, a: dict, b: dict) -> pd.DataFrame:
    """Rows of selection ``a`` and ``b`` joined per (image, label): columns ``x_a``, ``x_b``."""
    def pick(sel):
        mask = np.ones(len(per_image), bool)
        for k, v in sel.items():
            mask &= (per_image[k] == v).to_numpy()
        return per_image.loc[mask, ["image_id", "label", "abs_delta", "flipped", "region_fraction"]]

    return pick(a).merge(pick(b), on=["image_id", "label"], suffixes=("_a", "_b"), validate="one_to_one")


def region_comparison(per_image: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0,
                      min_effect: float = MIN_EFFECT) -> pd.DataFrame:
    """Paired inside-vs-outside comparison of the same images, per intervention x strength x class.

    Args:
        per_image: :func:`sweep` output with ``lungs`` and ``outside`` rows.
        n_boot, seed: bootstrap of the means and of the paired difference.
        min_effect: mean |change| below which an effect is not material.

    Returns:
        One row per intervention x strength x class: ``n, lungs_abs`` (mean
        |change| inside, with ``lungs_low/high``), ``outside_abs`` (with CI),
        ``whole_abs`` (NaN without whole rows), ``diff`` = outside - lungs
        (paired, with ``diff_low/high``), flip rates ``lungs_flip_rate``,
        ``outside_flip_rate``, ``lung_fraction`` (mean area share of the lungs)
        and ``relation``: ``outside > lungs``, ``lungs > outside``,
        ``negligible`` (both below ``min_effect``) or ``inconclusive`` (a CI
        that includes 0 is never read as "about the same"; see
        :func:`headline_comparison` for the area-matched equivalence test).
        These rows are exploratory: the outside region is larger than the lungs.
    """
    cols = ["intervention", "strength", "label", "n", "lungs_abs", "lungs_low", "lungs_high", "outside_abs",
            "outside_low", "outside_high", "whole_abs", "diff", "diff_low", "diff_high", "lungs_flip_rate",
            "outside_flip_rate", "lung_fraction", "relation"]
    if per_image.empty:
        return pd.DataFrame(columns=cols)
    regions = set(per_image["region"])
    if not {"lungs", "outside"} <= regions:
        return pd.DataFrame(columns=cols)
    rows = []
    keys = per_image.loc[per_image["region"] == "outside", ["intervention", "strength", "label"]].drop_duplicates()
    for name, strength, label in keys.itertuples(index=False):
        sel = {"intervention": name, "strength": strength, "label": label}
        pair = _paired(per_image, {**sel, "region": "lungs"}, {**sel, "region": "outside"})
        if pair.empty:
            continue
        whole = per_image.loc[(per_image["intervention"] == name) & (per_image["strength"] == strength)
                              & (per_image["label"] == label) & (per_image["region"] == "whole"), "abs_delta"]
        diff = pair["abs_delta_b"] - pair["abs_delta_a"]
        row = {**sel, "n": len(pair),
               "lungs_abs": float(pair["abs_delta_a"].mean()),
               "outside_abs": float(pair["abs_delta_b"].mean()),
               "whole_abs": float(whole.mean()) if len(whole) else float("nan"),
               "diff": float(diff.mean()),
               "lungs_flip_rate": float(pair["flipped_a"].mean()),
               "outside_flip_rate": float(pair["flipped_b"].mean()),
               "lung_fraction": float(pair["region_fraction_a"].mean())}
        row["lungs_low"], row["lungs_high"] = bootstrap_mean_ci(pair["abs_delta_a"], n_boot, seed)
        row["outside_low"], row["outside_high"] = bootstrap_mean_ci(pair["abs_delta_b"], n_boot, seed)
        row["diff_low"], row["diff_high"] = bootstrap_mean_ci(diff, n_boot, seed)
        row["relation"] = classify_relation(row, min_effect)
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def classify_relation(row: dict, min_effect: float = MIN_EFFECT) -> str:
    """How the outside effect relates to the inside one (see :func:`region_comparison`)."""
    lungs, outside = row["lungs_abs"], row["outside_abs"]
    if lungs < min_effect and outside < min_effect:
        return "negligible"
    if row["diff_high"] < 0:
        return "lungs > outside"
    if outside >= min_effect and row["diff_low"] > 0:
        return "outside > lungs"
    return "inconclusive"


def _strength_label(name: str, strength: float) -> str:
    value = int(strength) if float(strength).is_integer() else strength
    return f"{name} ({STRENGTH_NAME.get(name, 'strength')} {value})"


def _fmt_ci(value: float, low: float, high: float, signed: bool = False) -> str:
    fmt = "{:+.2f}" if signed else "{:.2f}"
    if any(isinstance(v, float) and math.isnan(v) for v in (value, low, high)):
        return fmt.format(value)
    return f"{fmt.format(value)} [{fmt.format(low)}, {fmt.format(high)}]"


def region_statement(row: dict) -> str:
    """One plain sentence, with numbers, for a :func:`region_comparison` row."""
    what = f"{_strength_label(row['intervention'], row['strength'])} on true {row['label']} (n = {row['n']})"
    outside = _fmt_ci(row["outside_abs"], row["outside_low"], row["outside_high"])
    numbers = (f"mean |change in P(pneumonia)| outside {outside}"
               f" vs inside {_fmt_ci(row['lungs_abs'], row['lungs_low'], row['lungs_high'])}; paired difference "
               f"{_fmt_ci(row['diff'], row['diff_low'], row['diff_high'], signed=True)}; "
               f"{FLIP_DIRECTION.get(row['label'], 'flip')} flips {100 * row['outside_flip_rate']:.0f} % outside vs "
               f"{100 * row['lungs_flip_rate']:.0f} % inside; lungs cover {100 * row['lung_fraction']:.0f} % "
               "of the film")
    relation = row["relation"]
    if relation == "outside > lungs":
        return (f"{what}: perturbing the whole region OUTSIDE the lungs moves P(pneumonia) more than perturbing "
                f"inside ({numbers}); exploratory - the outside region is larger, see the area-matched headline.")
    if relation == "lungs > outside":
        return (f"{what}: P(pneumonia) moves mainly when the lung fields are perturbed ({numbers})"
                " -> for this change the model reacts to the lungs, consistent with (not proof of) reading them.")
    if relation == "negligible":
        return f"{what}: neither inside nor outside moves P(pneumonia) materially ({numbers})."
    return f"{what}: inconclusive ({numbers})."


@dataclass(frozen=True)
class HeadlineComparison:
    """The one pre-declared comparison: lungs vs area-matched outside patches, on the log-odds scale.

    Attributes:
        intervention, strength, label: what was edited, how strongly, on which true class.
        n: images with both regions edited.
        lungs_abs, lungs_low, lungs_high: mean |change in log-odds| when the lung fields are edited, bootstrap CI.
        matched_abs, matched_low, matched_high: the same for area-matched outside patches (mean over draws per
            image first).
        outside_abs: the same for the whole outside region (reference only, larger area).
        lungs_delta, matched_delta: mean signed change in log-odds (positive: toward PNEUMONIA).
        diff, diff_low, diff_high: paired mean of matched - lungs |change in log-odds|, bootstrap 95 % CI.
        margin: equivalence margin (log-odds).
        tost_low, tost_high, tost_p, equivalent: TOST of the paired difference (90 % t-interval).
        lung_fraction, matched_fraction: mean share of the film in each region (pixel count).
        lung_weight, matched_weight: mean effectively edited share (feathered weight); matched by design.
        relation: ``outside > lungs``, ``lungs > outside``, ``equivalent`` or ``inconclusive``.
        statement: one sentence with the numbers.
    """

    intervention: str
    strength: float
    label: str
    n: int
    lungs_abs: float
    lungs_low: float
    lungs_high: float
    matched_abs: float
    matched_low: float
    matched_high: float
    outside_abs: float
    lungs_delta: float
    matched_delta: float
    diff: float
    diff_low: float
    diff_high: float
    margin: float
    tost_low: float
    tost_high: float
    tost_p: float
    equivalent: bool
    lung_fraction: float
    matched_fraction: float
    lung_weight: float
    matched_weight: float
    relation: str
    statement: str


def _per_image(per_image: pd.DataFrame, intervention: str, strength: float, label: str, region: str) -> pd.DataFrame:
    """Mean over draws of |delta_logit|, delta_logit and region_fraction per image for one region."""
    sel = per_image[(per_image["intervention"] == intervention) & (per_image["strength"] == strength)
                    & (per_image["label"] == label) & (per_image["region"] == region)]
    sel = sel.assign(abs_logit=sel["delta_logit"].abs())
    return sel.groupby("image_id", sort=False)[["abs_logit", "delta_logit", "region_fraction", "region_weight"]].mean()


def headline_comparison(per_image: pd.DataFrame, *, headline=HEADLINE, margin: float = EQUIVALENCE_MARGIN,
                        n_boot: int = 2000, seed: int = 0) -> HeadlineComparison | None:
    """Lungs vs area-matched outside patches for the pre-declared (intervention, strength, class).

    Returns:
        :class:`HeadlineComparison`, or None when the sweep lacks those rows
        (e.g. ``outside_matched`` not among the regions).
    """
    name, strength, label = headline[0], float(headline[1]), headline[2]
    if per_image.empty or "delta_logit" not in per_image:
        return None
    lungs = _per_image(per_image, name, strength, label, "lungs")
    matched = _per_image(per_image, name, strength, label, "outside_matched")
    pair = lungs.add_suffix("_l").join(matched.add_suffix("_m"), how="inner")
    if pair.empty:
        return None
    outside = _per_image(per_image, name, strength, label, "outside")
    diff = pair["abs_logit_m"] - pair["abs_logit_l"]
    tost = tost_paired(pair["abs_logit_m"].to_numpy(), pair["abs_logit_l"].to_numpy(), margin)
    d_low, d_high = bootstrap_mean_ci(diff, n_boot, seed)
    if d_low > 0:
        relation = "outside > lungs"
    elif d_high < 0:
        relation = "lungs > outside"
    elif tost.equivalent:
        relation = "equivalent"
    else:
        relation = "inconclusive"
    l_low, l_high = bootstrap_mean_ci(pair["abs_logit_l"], n_boot, seed)
    m_low, m_high = bootstrap_mean_ci(pair["abs_logit_m"], n_boot, seed)
    row = dict(intervention=name, strength=strength, label=label, n=int(len(pair)),
               lungs_abs=float(pair["abs_logit_l"].mean()), lungs_low=l_low, lungs_high=l_high,
               matched_abs=float(pair["abs_logit_m"].mean()), matched_low=m_low, matched_high=m_high,
               outside_abs=float(outside["abs_logit"].mean()) if len(outside) else float("nan"),
               lungs_delta=float(pair["delta_logit_l"].mean()), matched_delta=float(pair["delta_logit_m"].mean()),
               diff=float(diff.mean()), diff_low=d_low, diff_high=d_high, margin=float(margin),
               tost_low=tost.ci_low, tost_high=tost.ci_high, tost_p=tost.p_value, equivalent=tost.equivalent,
               lung_fraction=float(pair["region_fraction_l"].mean()),
               matched_fraction=float(pair["region_fraction_m"].mean()),
               lung_weight=float(pair["region_weight_l"].mean()), matched_weight=float(pair["region_weight_m"].mean()),
               relation=relation)
    return HeadlineComparison(**row, statement=headline_statement(row))


def headline_statement(row: dict) -> str:
    """The headline sentence, with numbers, for a :class:`HeadlineComparison` row."""
    what = (f"Pre-declared headline: {_strength_label(row['intervention'], row['strength'])} on true {row['label']} "
            f"(n = {row['n']}), lung fields ({100 * row['lung_fraction']:.0f} % of the film) vs random outside patches "
            f"of the same area ({100 * row['matched_fraction']:.0f} %, {N_MATCHED_DRAWS} draws)")
    numbers = (f"mean |change in log-odds| outside-matched {_fmt_ci(row['matched_abs'], row['matched_low'], row['matched_high'])}"
               f" vs lungs {_fmt_ci(row['lungs_abs'], row['lungs_low'], row['lungs_high'])}; paired difference "
               f"{_fmt_ci(row['diff'], row['diff_low'], row['diff_high'], signed=True)}; TOST margin "
               f"+-{row['margin']:g} log-odds, 90% CI [{row['tost_low']:+.2f}, {row['tost_high']:+.2f}], "
               f"p = {row['tost_p']:.2g}; whole outside region (larger area, reference) {row['outside_abs']:.2f}")
    r = row["relation"]
    if r == "outside > lungs":
        return (f"{what}: editing OUTSIDE the lungs moves the log-odds MORE than editing an equal area inside "
                f"({numbers}) -> the model reads cues outside the lungs.")
    if r == "lungs > outside":
        return (f"{what}: editing the lungs moves the log-odds more than an equal area outside ({numbers}) -> "
                "for this edit the model reacts to the lungs, consistent with (not proof of) reading them.")
    if r == "equivalent":
        return (f"{what}: the two effects are equivalent within the margin ({numbers}) -> the model reacts to how "
                "much of the film is edited, not where: no evidence of a cue specific to outside the lungs.")
    return (f"{what}: inconclusive - neither a difference nor equivalence within the margin could be shown "
            f"({numbers}).")


def verdict(comparison: pd.DataFrame, min_effect: float = MIN_EFFECT,
            headline: HeadlineComparison | None = None) -> dict:
    """The verdict comes from the ONE pre-declared headline; the other rows are exploratory statements.

    Args:
        comparison: :func:`region_comparison` output (lungs vs the whole outside region; exploratory).
        min_effect: material mean |change in P|.
        headline: :func:`headline_comparison` result (None: not run).

    Returns:
        ``{"status": "outside" | "lungs" | "equivalent" | "inconclusive" | "not tested",
        "headline": str, "headline_comparison": dict | None, "statements": [str], "rows": [dict]}``.
    """
    rows: list[dict] = []
    if comparison is not None and not comparison.empty:
        strongest = (comparison.assign(_effect=comparison[["lungs_abs", "outside_abs"]].max(axis=1))
                     .sort_values("_effect", ascending=False, kind="stable")
                     .drop_duplicates(["intervention", "label"]).drop(columns="_effect"))
        order = {name: i for i, name in enumerate(comparison["intervention"].unique())}
        strongest = (strongest.assign(_order=strongest["intervention"].map(order))
                     .sort_values(["_order", "label"], kind="stable").drop(columns="_order"))
        rows = strongest.to_dict("records")
    statements = [f"Exploratory (whole outside region, not area-matched): {region_statement(r)}" for r in rows]
    if headline is None:
        return {"status": "not tested", "headline": (
            "The pre-declared headline comparison (lungs vs area-matched outside patches) was not run: it needs "
            f"the lungs and outside_matched regions and {HEADLINE[0]} at strength {HEADLINE[1]:g} on true "
            f"{HEADLINE[2]}."), "headline_comparison": None, "statements": statements, "rows": rows}
    status = {"outside > lungs": "outside", "lungs > outside": "lungs", "equivalent": "equivalent"}.get(
        headline.relation, "inconclusive")
    return {"status": status, "headline": headline.statement, "headline_comparison": asdict(headline),
            "statements": statements, "rows": rows}


def texture_vs_shape(per_image: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0,
                     min_effect: float = MIN_EFFECT) -> dict:
    """Which edit inside the lungs preserves the model's output: patch shuffling or low-pass?

    The k-th strength of ``shuffle_patches`` is paired with the k-th of
    ``low_pass`` (mild with mild, strong with strong) on the same images.

    Args:
        per_image: :func:`sweep` output with ``shuffle_patches`` and ``low_pass`` rows.
        n_boot, seed: bootstrap.
        min_effect: material mean |change|.

    Returns:
        ``{"rows": [per class x pair: n, shuffle/low-pass strengths, mean |change|
        with CI, flip rates with Wilson CI, paired difference shuffle - low-pass with
        CI, ``shuffle_coverage`` (mean share of the lungs moved), preserved
        ("low_pass" | "shuffle_patches" (either with " (partly)" when the
        better one still moves the output materially) | "both" | "neither" |
        "unclear" | "not tested" when the patches cover under 25 % of the
        lungs), statement], "note": str}``; empty rows when not run.
    """
    names = list(TEXTURE_SHAPE)
    part = per_image[per_image["intervention"].isin(names)] if not per_image.empty else per_image
    if part.empty:
        return {"rows": [], "note": TEXTURE_SHAPE_NOTE}
    rows = []
    shuffle_s = sorted(part.loc[part["intervention"] == "shuffle_patches", "strength"].unique())
    low_s = sorted(part.loc[part["intervention"] == "low_pass", "strength"].unique())
    for label in [c for c in CLASSES if c in set(part["label"])]:
        for s_shuffle, s_low in zip(shuffle_s, low_s):
            pair = _paired(part, {"intervention": "shuffle_patches", "strength": s_shuffle, "label": label},
                           {"intervention": "low_pass", "strength": s_low, "label": label})
            if pair.empty:
                continue
            n = len(pair)
            diff = pair["abs_delta_a"] - pair["abs_delta_b"]
            row = {"label": label, "n": n, "shuffle_patch": s_shuffle, "low_pass_sigma": s_low,
                   "shuffle_abs": float(pair["abs_delta_a"].mean()), "low_pass_abs": float(pair["abs_delta_b"].mean()),
                   "diff": float(diff.mean())}
            row["shuffle_low"], row["shuffle_high"] = bootstrap_mean_ci(pair["abs_delta_a"], n_boot, seed)
            row["low_pass_low"], row["low_pass_high"] = bootstrap_mean_ci(pair["abs_delta_b"], n_boot, seed)
            row["diff_low"], row["diff_high"] = bootstrap_mean_ci(diff, n_boot, seed)
            for key, col in (("shuffle", "flipped_a"), ("low_pass", "flipped_b")):
                k = int(pair[col].astype(bool).sum())
                row[f"{key}_flips"] = k
                row[f"{key}_flip_rate"] = k / n
                row[f"{key}_flip_low"], row[f"{key}_flip_high"] = wilson_interval(k, n)
            cov = part.loc[(part["intervention"] == "shuffle_patches") & (part["strength"] == s_shuffle)
                           & (part["label"] == label), "coverage"]
            row["shuffle_coverage"] = float(cov.mean()) if len(cov) else float("nan")
            row["preserved"] = _preserved(row, min_effect)
            row["statement"] = _texture_statement(row)
            rows.append(row)
    return {"rows": rows, "note": TEXTURE_SHAPE_NOTE}


#: Mean share of the lungs a shuffle must move to count as a test (patches larger than the lungs move nothing).
MIN_SHUFFLE_COVERAGE = 0.25


def _preserved(row: dict, min_effect: float) -> str:
    if not row.get("shuffle_coverage", 1.0) >= MIN_SHUFFLE_COVERAGE:
        return "not tested"
    if row["shuffle_abs"] < min_effect and row["low_pass_abs"] < min_effect:
        return "both"
    if row["diff_low"] > 0 and row["low_pass_abs"] < row["shuffle_abs"]:
        return "low_pass" if row["low_pass_abs"] < min_effect else "low_pass (partly)"
    if row["diff_high"] < 0:
        return "shuffle_patches" if row["shuffle_abs"] < min_effect else "shuffle_patches (partly)"
    return "neither" if min(row["shuffle_abs"], row["low_pass_abs"]) >= min_effect else "unclear"


def _texture_statement(row: dict) -> str:
    what = (f"True {row['label']} (n = {row['n']}), shuffling {int(row['shuffle_patch'])}-px patches vs low-pass "
            f"sigma {row['low_pass_sigma']:g} inside the lungs")
    numbers = (f"mean |change| {_fmt_ci(row['shuffle_abs'], row['shuffle_low'], row['shuffle_high'])} vs "
               f"{_fmt_ci(row['low_pass_abs'], row['low_pass_low'], row['low_pass_high'])}, flips "
               f"{row['shuffle_flips']}/{row['n']} vs {row['low_pass_flips']}/{row['n']}")
    p = row["preserved"]
    if p == "not tested":
        return (f"{what}: not tested - the patches cover only {100 * row['shuffle_coverage']:.0f} % of the lung "
                "fields at this image size (use smaller patches).")
    if p.startswith("low_pass"):
        return (f"{what}: low-pass preserves the output better ({numbers}) -> the decision depends more on the "
                "layout of the lung fields than on their fine texture.")
    if p.startswith("shuffle_patches"):
        return (f"{what}: shuffling preserves the output better ({numbers}) -> the decision depends more on "
                "texture-like statistics than on the layout of the lung fields.")
    if p == "both":
        return f"{what}: both preserve the output ({numbers}) -> neither fine texture nor layout alone is needed."
    if p == "neither":
        return (f"{what}: both change the output ({numbers}) -> the model needs both "
                "(or reacts to the edits' artefacts).")
    return f"{what}: no clear difference ({numbers})."


def analyse_sweep(per_image: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0,
                  min_effect: float = MIN_EFFECT, headline=HEADLINE) -> dict:
    """Every statistic of a sweep: summary, inside-vs-outside comparison, texture vs shape, verdict.

    Args:
        per_image: :func:`sweep` output (or ``per_image.csv`` read back).
        n_boot, seed: bootstrap.
        min_effect: material mean |change|.

    Returns:
        ``{"summary": DataFrame, "comparison": DataFrame, "texture_shape": dict, "verdict": dict}``
        (see :func:`summarise`, :func:`region_comparison`, :func:`texture_vs_shape`, :func:`verdict`).
    """
    comparison = region_comparison(per_image, n_boot=n_boot, seed=seed, min_effect=min_effect)
    head = headline_comparison(per_image, headline=headline, n_boot=n_boot, seed=seed)
    return {"summary": summarise(per_image, n_boot=n_boot, seed=seed), "comparison": comparison,
            "texture_shape": texture_vs_shape(per_image, n_boot=n_boot, seed=seed, min_effect=min_effect),
            "verdict": verdict(comparison, min_effect, head)}


def candidate_order(rows: pd.DataFrame, seed: int) -> dict[str, pd.DataFrame]:
    """Correctly classified rows of each class in a seeded random order (the sampling order).

    Args:
        rows: predictions of one split (``label``, ``correct``).
        seed: permutation seed.

    Returns:
        ``{class: rows}`` (only correct rows, shuffled, index reset).
    """
    rng = np.random.default_rng(seed)
    out = {}
    for label in CLASSES:
        part = rows[(rows["label"] == label) & rows["correct"].astype(bool)].reset_index(drop=True)
        out[label] = part.iloc[rng.permutation(len(part))].reset_index(drop=True)
    return out


def _data_root(cfg: CounterfactualConfig, info: dict, paths) -> Path:
    root = Path(cfg.data or info.get("data_root", "")).expanduser()
    missing = [p for p in paths if not (root / p).is_file()]
    if missing:
        hint = "" if cfg.data else " (the data recorded in the run moved? pass --data ROOT)"
        raise ConfigError(f"{len(missing)} of {len(paths)} images are missing under {root}, e.g. {missing[0]}{hint}")
    return root


def select_images(cfg: CounterfactualConfig, run, rows: pd.DataFrame, root: Path, model: nn.Module,
                  device: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
    """Sample up to ``per_class`` correct images per class with a plausible lung mask.

    Candidates are taken in :func:`candidate_order`, decoded and masked in chunks;
    an image is kept when its mask is plausible (if required) and the model,
    recomputed here, still classifies it correctly.

    Returns:
        (rows kept, float32 images (N, S, S), bool lung masks (N, S, S), warnings).
    """
    kept_rows, kept_images, kept_masks, warnings = [], [], [], []
    for label, cands in candidate_order(rows, cfg.seed).items():
        n_kept = n_implausible = n_drift = 0
        start = 0
        while n_kept < cfg.per_class and start < len(cands):
            chunk = cands.iloc[start:start + max(cfg.per_class - n_kept, 8)]
            start += len(chunk)
            pixels = load_resized([root / p for p in chunk["path"]], run.size, cache_dir=cfg.cache_dir,
                                  workers=cfg.workers, desc=f"decode {label}")
            images = pixels.astype(np.float32) / 255.0
            p_now = predict_proba(model, images, run.mean, run.std, device=device, batch_size=cfg.batch_size)
            for k in range(len(chunk)):
                if n_kept >= cfg.per_class:
                    break
                if ((p_now[k] >= THRESHOLD) != (label == "PNEUMONIA")):
                    n_drift += 1
                    continue
                lm = lung_mask(images[k])
                if cfg.require_plausible_mask and not lm.plausible:
                    n_implausible += 1
                    continue
                kept_rows.append(chunk.iloc[k])
                kept_images.append(images[k])
                kept_masks.append(lm.mask)
                n_kept += 1
        if n_kept < cfg.per_class:
            warnings.append(f"true {label}: only {n_kept} usable correct images (asked {cfg.per_class}; "
                            f"{len(cands)} correct in the split, {n_implausible} skipped for implausible lung masks, "
                            f"{n_drift} no longer correct when recomputed)")
        elif n_implausible or n_drift:
            warnings.append(f"true {label}: skipped {n_implausible} images with implausible lung masks and "
                            f"{n_drift} no longer correct when recomputed")
    if not kept_rows:
        raise ConfigError(f"no correctly classified images with usable lung masks in split '{cfg.split}'")
    size = run.size
    return (pd.DataFrame(kept_rows).reset_index(drop=True), np.stack(kept_images).reshape(-1, size, size),
            np.stack(kept_masks).reshape(-1, size, size), warnings)


def _records(frame: pd.DataFrame) -> list[dict]:
    return jsonable(frame.to_dict("records"))


def output_dir(cfg: CounterfactualConfig, run_dir: Path) -> Path:
    """``cfg.out`` or ``<run>/explain/<split>/counterfactual``."""
    return Path(cfg.out) if cfg.out else run_layout(run_dir).explain(cfg.split).counterfactual.root


def run_counterfactuals(cfg: CounterfactualConfig, *, progress: bool = True) -> dict:
    """Sample images, run the sweep, compute statistics and verdicts, write the outputs.

    Args:
        cfg: resolved configuration.
        progress: progress bars on stderr.

    Returns:
        The content of ``counterfactual.json``: ``out_dir``, ``run_dir``,
        ``split``, ``n_images`` per class, ``variants``, ``seconds``, ``warnings``,
        ``verdict`` (see :func:`verdict`), ``texture_shape`` (see
        :func:`texture_vs_shape`), ``comparison`` and ``summary`` records,
        ``notes``, ``files`` and ``figures`` (names relative to ``out_dir``).

    Raises:
        ToolkitError: missing run or data, a split the run never predicted, no usable images.
    """
    t_start = time.perf_counter()
    seconds: dict[str, float] = {}
    run = load_run(cfg.run)
    device = resolve_device(cfg.device)
    # channels_last is ~1.5-2x faster for ResNets on CPU and gives the same outputs (to float rounding).
    model = copy.deepcopy(run.model).eval().to(device=device, memory_format=torch.channels_last)
    rows, set_root = split_predictions(run.run_dir, cfg.split)  # the run's valid/test or a named set
    require_labels(rows, cfg.split, "the counterfactual sweep (correctly classified images)")
    root = _data_root(cfg, {"data_root": str(set_root)} if set_root and not cfg.data else run.info,
                      list(rows.loc[rows["correct"].astype(bool), "path"]))
    out = output_dir(cfg, run.run_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = CounterfactualLayout(out)
    variants = plan_variants(cfg.interventions, cfg.regions, cfg.texture_shape)
    files.config.write_text(json.dumps(jsonable({
        **asdict(cfg), "resolved_run": str(run.run_dir), "resolved_data": str(root), "device_used": device,
        "analysis_size": run.size, "threshold": THRESHOLD,
        "strengths": {k: v[1] for k, v in INTERVENTIONS.items() if k in cfg.interventions},
        "texture_shape_strengths": {k: v[1] for k, v in TEXTURE_SHAPE.items()} if cfg.texture_shape else {},
        "n_variants_per_image": len(variants)}), indent=2))

    t0 = time.perf_counter()
    chosen, images, lungs, warnings = select_images(cfg, run, rows, root, model, device)
    seconds["select"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    per_image = sweep(model, images, chosen["label"].to_numpy(), lungs, mean=run.mean, std=run.std,
                      variants=variants, image_ids=chosen["image_id"].to_numpy(), seed=cfg.seed, device=device,
                      batch_size=cfg.batch_size, quality=cfg.quality, progress=progress)
    seconds["sweep"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    stats = analyse_sweep(per_image, n_boot=cfg.n_boot, seed=cfg.seed, min_effect=cfg.min_effect,
                          headline=cfg.headline)
    summary, comparison, texture, judged = (stats[k] for k in ("summary", "comparison", "texture_shape", "verdict"))
    seconds["statistics"] = time.perf_counter() - t0

    per_image.to_csv(files.per_image, index=False)
    summary.to_csv(files.summary, index=False)
    comparison.to_csv(files.comparison, index=False)
    pd.DataFrame(texture["rows"]).to_csv(files.texture_shape, index=False)
    result = {
        "out_dir": str(out), "run_dir": str(run.run_dir), "split": cfg.split, "arch": run.arch,
        "analysis_size": run.size, "device": device,
        "n_images": {label: int((chosen["label"] == label).sum()) for label in CLASSES},
        "n_variants_per_image": len(variants), "n_forward_passes": int(len(per_image) + len(chosen)),
        "min_effect": cfg.min_effect, "threshold": THRESHOLD, "n_boot": cfg.n_boot, "seed": cfg.seed,
        "warnings": warnings, "verdict": judged, "texture_shape": texture,
        "comparison": _records(comparison), "summary": _records(summary),
        "notes": {"regions": REGION_NOTE, "texture_shape": TEXTURE_SHAPE_NOTE},
        "files": {"per_image": files.per_image.name, "summary": files.summary.name,
                  "comparison": files.comparison.name, "texture_shape": files.texture_shape.name,
                  "config": files.config.name, "json": files.result.name},
        "figures": {},
    }
    seconds["total"] = time.perf_counter() - t_start
    result["seconds"] = seconds
    files.result.write_text(json.dumps(jsonable(result), indent=2, allow_nan=False))
    return jsonable(result)


def load_result(out_dir: str | Path) -> dict:
    """Read ``counterfactual.json`` of a finished run (for the report)."""
    path = CounterfactualLayout(Path(out_dir)).result
    if not path.is_file():
        raise ConfigError(f"no counterfactual results at {path}; run python -m xai.counterfactual first")
    return json.loads(path.read_text())
