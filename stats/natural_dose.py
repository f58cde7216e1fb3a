"""Counterfactual doses in natural units: how much of the FP excess would a natural-sized change produce?

A synthetic blur of sigma 1 px may lie far outside the range of films that occur.
Here the dose is re-expressed on the observational scale: the natural dose is the
change of a quality metric equal to the observed difference between false
positives and true negatives (median FP - median TN). For each edited image the
change in log-odds at that metric change is read off its own dose-response
(linear interpolation between the swept strengths, through the unedited point
(0, 0)); the mean over images, with a bootstrap CI over images, is the effect of
a natural-sized change. It is compared with the FP excess, the observed median
log-odds of FPs minus that of TNs.

Pure functions over tables; intervals come from the toolkit's one bootstrap,
:func:`stats.bootstrap.bootstrap_ci` (percentile, resampling images).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from data.errors import ConfigError
from stats._table import JsonFields
from stats.bootstrap import bootstrap_ci, bootstrap_mean_ci

#: Strength at which each intervention is the identity (the unedited point of a dose-response).
IDENTITY_STRENGTH = {"gaussian_blur": 0.0, "motion_blur": 1.0, "contrast": 1.0, "gamma": 1.0, "noise": 0.0,
                     "low_pass": 0.0}
EPS = 1e-6


@dataclass(frozen=True)
class NaturalDose(JsonFields):
    """The effect of a natural-sized change of ``metric`` produced by ``intervention``.

    Attributes:
        intervention, region, label, metric: what was edited, where, on which true class, read on which metric.
        observed_diff: median FP - median TN of the metric (observational table).
        n_images: edited images used.
        slope, slope_low, slope_high: change in log-odds per unit change of the metric, least squares
            through the origin pooled over strengths, 95 % CI resampling images.
        dose_strength: the intervention strength whose mean metric change equals ``observed_diff``
            (interpolated; NaN when the sweep does not reach it).
        delta_logit, delta_logit_low, delta_logit_high: mean change in log-odds at the natural dose, CI.
        delta_p: mean change in P(pneumonia) at the natural dose.
        n_extrapolated: images whose sweep did not reach the natural dose (their own through-origin
            slope was used).
        fp_excess_logit: median log-odds of FPs minus that of TNs (observational, fixed).
        share_of_excess, share_low, share_high: ``delta_logit / fp_excess_logit`` and its CI.
        statement: the report's sentence.
        reason: why nothing was computed, else None.
    """

    intervention: str
    region: str
    label: str
    metric: str
    observed_diff: float
    n_images: int
    slope: float
    slope_low: float
    slope_high: float
    dose_strength: float
    delta_logit: float
    delta_logit_low: float
    delta_logit_high: float
    delta_p: float
    n_extrapolated: int
    fp_excess_logit: float
    share_of_excess: float
    share_low: float
    share_high: float
    statement: str
    reason: str | None = None


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def observed_gap(table: pd.DataFrame, metric: str) -> tuple[float, float]:
    """(median FP - median TN of ``metric``, median FP - median TN of the log-odds of ``p_pneumonia``)."""
    fp, tn = table[table["outcome"] == "FP"], table[table["outcome"] == "TN"]
    diff = float(np.nanmedian(fp[metric])) - float(np.nanmedian(tn[metric])) if len(fp) and len(tn) else math.nan
    excess = (float(np.median(_logit(fp["p_pneumonia"]))) - float(np.median(_logit(tn["p_pneumonia"])))
              if len(fp) and len(tn) else math.nan)
    return diff, excess


def _interp_at(dm: np.ndarray, dy: np.ndarray, target: float) -> tuple[float, bool]:
    """Value of dy at metric change ``target`` along one image's curve through (0, 0); (value, extrapolated)."""
    x = np.concatenate([[0.0], dm])
    y = np.concatenate([[0.0], dy])
    order = np.argsort(x)
    x, y = x[order], y[order]
    if x[0] <= target <= x[-1] and np.ptp(x) > 0:
        return float(np.interp(target, x, y)), False
    sxx = float((dm * dm).sum())
    return (float((dm * dy).sum() / sxx * target) if sxx > 0 else math.nan), True


def _ratio_of_sums(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sum(a, axis=axis) / np.sum(b, axis=axis)


def natural_dose(per_image: pd.DataFrame, *, intervention: str, metric: str, observed_diff: float,
                 fp_excess_logit: float, region: str = "whole", label: str = "NORMAL", n_boot: int = 2000,
                 seed: int = 0) -> NaturalDose:
    """Effect on the log-odds of a change of ``metric`` as large as the observed FP - TN difference.

    Args:
        per_image: counterfactual sweep rows (``image_id, label, intervention, strength, region,
            delta, delta_logit, <metric>, <metric>_before``).
        intervention: which edit supplies the dose (e.g. ``gaussian_blur``).
        metric: quality column measured on the edited film (e.g. ``q_highfreq_share``).
        observed_diff: median FP - median TN of ``metric`` (:func:`observed_gap`).
        fp_excess_logit: median FP - median TN log-odds (:func:`observed_gap`).
        region, label: which rows of the sweep.
        n_boot, seed: bootstrap over images.

    Returns:
        :class:`NaturalDose` (NaN fields and a ``reason`` when it cannot be computed).

    Raises:
        ConfigError: the sweep lacks the metric columns.
    """
    need = ["image_id", "label", "intervention", "strength", "region", "delta", "delta_logit", metric,
            f"{metric}_before"]
    missing = [c for c in need if c not in per_image.columns]
    if missing:
        raise ConfigError(f"counterfactual table lacks column(s) {missing} (re-run python -m xai.counterfactual)")
    rows = per_image[(per_image["intervention"] == intervention) & (per_image["region"] == region)
                     & (per_image["label"] == label)]
    base = dict(intervention=intervention, region=region, label=label, metric=metric,
                observed_diff=float(observed_diff), fp_excess_logit=float(fp_excess_logit))
    nan = math.nan

    def empty(reason: str) -> NaturalDose:
        return NaturalDose(**base, n_images=int(rows["image_id"].nunique()), slope=nan, slope_low=nan,
                           slope_high=nan, dose_strength=nan, delta_logit=nan, delta_logit_low=nan,
                           delta_logit_high=nan, delta_p=nan, n_extrapolated=0, share_of_excess=nan, share_low=nan,
                           share_high=nan, statement=f"{metric} under {intervention}: not computed ({reason}).",
                           reason=reason)

    if rows.empty:
        return empty(f"no {intervention} rows in region {region} for true {label}")
    if not math.isfinite(observed_diff) or observed_diff == 0:
        return empty("no observed FP - TN difference (need FPs and TNs with the metric)")
    rows = rows.assign(dm=rows[metric] - rows[f"{metric}_before"])
    mean_dm = rows.groupby("strength")["dm"].mean()
    if not (np.sign(mean_dm) == np.sign(observed_diff)).any():
        return empty(f"the edit moves {metric} the other way from the observed FP - TN difference "
                     f"({observed_diff:+.3g})")
    ids, sxy, sxx, dl, dp, extra = [], [], [], [], [], 0
    for image_id, part in rows.groupby("image_id", sort=False):
        dm, y, p = part["dm"].to_numpy(float), part["delta_logit"].to_numpy(float), part["delta"].to_numpy(float)
        v, ext = _interp_at(dm, y, observed_diff)
        vp, _ = _interp_at(dm, p, observed_diff)
        ids.append(image_id)
        sxy.append(float((dm * y).sum()))
        sxx.append(float((dm * dm).sum()))
        dl.append(v)
        dp.append(vp)
        extra += int(ext)
    sxy, sxx, dl = np.array(sxy), np.array(sxx), np.array(dl)
    ok = np.isfinite(dl)
    slope = float(sxy.sum() / sxx.sum()) if sxx.sum() > 0 else nan
    slope_ci = bootstrap_ci((sxy, sxx), _ratio_of_sums, n_boot=n_boot, seed=seed, paired=True)
    s_low, s_high = slope_ci.low, slope_ci.high
    delta = float(dl[ok].mean()) if ok.any() else nan
    d_low, d_high = bootstrap_mean_ci(dl[ok], n_boot=n_boot, seed=seed)
    identity = IDENTITY_STRENGTH.get(intervention, 0.0)
    xs = np.concatenate([[0.0], mean_dm.to_numpy()])
    ss = np.concatenate([[identity], mean_dm.index.to_numpy(float)])
    order = np.argsort(xs)
    xs, ss = xs[order], ss[order]
    dose = float(np.interp(observed_diff, xs, ss)) if xs[0] <= observed_diff <= xs[-1] else nan
    share = delta / fp_excess_logit if fp_excess_logit else nan
    lo, hi = (d_low / fp_excess_logit, d_high / fp_excess_logit) if fp_excess_logit else (nan, nan)
    share_low, share_high = (min(lo, hi), max(lo, hi))
    dose_txt = (f"reached at {intervention} strength {dose:.3g}" if math.isfinite(dose)
                else "beyond the swept strengths (extrapolated)")
    statement = (f"A natural-sized change of {metric} (the observed FP - TN median difference, {observed_diff:+.3g}; "
                 f"{dose_txt}) moves the log-odds of true {label} films by {delta:+.2f} (95% CI {d_low:+.2f} to "
                 f"{d_high:+.2f}; mean change in P(pneumonia) {np.nanmean(dp):+.3f}), which is "
                 f"{100 * share:.0f}% (95% CI {100 * share_low:.0f}% to {100 * share_high:.0f}%) of the FP excess of "
                 f"{fp_excess_logit:.2f} log-odds (median FP minus median TN). Slope {slope:+.3g} log-odds per unit "
                 f"{metric} (95% CI {s_low:+.3g} to {s_high:+.3g}); n = {len(ids)} images, {extra} extrapolated.")
    return NaturalDose(**base, n_images=len(ids), slope=slope, slope_low=s_low, slope_high=s_high,
                       dose_strength=dose, delta_logit=delta, delta_logit_low=d_low, delta_logit_high=d_high,
                       delta_p=float(np.nanmean(dp)), n_extrapolated=extra, share_of_excess=share,
                       share_low=share_low, share_high=share_high, statement=statement)


#: Which metrics each whole-film edit is read on for the natural dose.
NATURAL_DOSE_PAIRS = {
    "gaussian_blur": ("q_laplacian_var", "q_highfreq_share", "q_highfreq_power"),
    "motion_blur": ("q_laplacian_var", "q_highfreq_share", "q_highfreq_power"),
    "contrast": ("q_rms_contrast",),
    "noise": ("q_noise_sigma",),
}


def natural_doses(per_image: pd.DataFrame, table: pd.DataFrame, *, n_boot: int = 2000,
                  seed: int = 0) -> list[NaturalDose]:
    """:func:`natural_dose` for every (intervention, metric) of :data:`NATURAL_DOSE_PAIRS` present in both tables."""
    out = []
    have = set(per_image["intervention"]) if "intervention" in per_image else set()
    for intervention, metrics in NATURAL_DOSE_PAIRS.items():
        for metric in metrics:
            if intervention not in have or metric not in table.columns or metric not in per_image.columns:
                continue
            diff, excess = observed_gap(table, metric)
            out.append(natural_dose(per_image, intervention=intervention, metric=metric, observed_diff=diff,
                                    fp_excess_logit=excess, n_boot=n_boot, seed=seed))
    return out
