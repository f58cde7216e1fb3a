"""Categorical slice features of one true class, each level with a plain-word phrase.

A slice finder searches conjunctions of categorical conditions. This module turns
the per-image table (``table.csv`` of the explain step) into such conditions:

* quality metrics (``q_*``): quartiles **within the true class** (cut points from
  every image of the class; they use no outcome, so computing them on both the
  discovery and the confirmation half leaks nothing);
* geometry: ``is_224_copy`` (squeezed 224x224 copy or not) and the aspect ratio
  (square / wide / tall stored image);
* the file name: bacterial or viral pneumonia (``data.scan.parse_subtype``);
* saliency summaries of the map explaining the *wrong* class (the class an error
  predicts): where the peak lies (inside / outside the lungs), upper / lower half
  of the film, the distance of the evidence's centre of mass from the film's centre
  (quartiles), and the localisation statistics (quartiles of ``*_lung_share`` and,
  when present, the area-normalised ``*_lung_rank_ratio_k10``);
* whether the lung fields were found (a plausible mask). Lung-dependent saliency
  values of films without a plausible mask are the level ``unknown`` (never
  silently "outside").

Every level has a phrase ("in the lowest quartile of high-frequency share
[0.012, 0.031]"), so a slice reads as a sentence: see :func:`describe`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from data.errors import ConfigError
from data.scan import parse_subtype
from stats._table import numeric_column, require_columns

#: Level of a condition whose value could not be measured (e.g. no plausible lung mask).
UNKNOWN = "unknown"

#: Quality metrics searched by default (whole film; the lung-field variants add little but search size).
DEFAULT_QUALITY = ("q_laplacian_var", "q_highfreq_share", "q_blur_effect", "q_rms_contrast", "q_michelson",
                   "q_dynamic_range", "q_mean", "q_entropy", "q_noise_sigma")

#: Readable names of the numeric properties (the phrase after "quartile of").
NAMES = {
    "q_laplacian_var": "Laplacian variance (sharpness)",
    "q_highfreq_share": "high-frequency share (fine detail)",
    "q_blur_effect": "blur effect (perceived blur)",
    "q_rms_contrast": "RMS contrast",
    "q_michelson": "Michelson contrast",
    "q_dynamic_range": "dynamic range",
    "q_mean": "mean brightness (exposure)",
    "q_entropy": "grey-level entropy",
    "q_noise_sigma": "noise level",
    "q_clip_low": "share of clipped dark pixels",
    "q_clip_high": "share of clipped bright pixels",
    "aspect_ratio": "aspect ratio (width / height)",
}
QUARTILE_WORDS = ("lowest", "second", "third", "highest")
_METHOD_WORDS = {"gradcam": "Grad-CAM", "ig": "Integrated Gradients"}


@dataclass(frozen=True)
class Feature:
    """One categorical feature of the slice search.

    Attributes:
        name: column name in the feature table (e.g. ``q_highfreq_share``, ``gradcam_peak``).
        source: column(s) of the per-image table it is derived from.
        phrases: level -> plain-word phrase completing "<CLASS> films ...".
        property: the numeric column a level's typical member is measured on (None for
            non-numeric features).
        kind: ``film`` (a property of the stored film or its file) or ``saliency`` (a property
            of the model's own map: partly a restatement of its output, see :mod:`stats.slices`).
    """

    name: str
    source: tuple[str, ...]
    phrases: dict
    property: str | None = None
    kind: str = "film"


@dataclass(frozen=True)
class FeatureTable:
    """Categorical features of the images of one true class.

    Attributes:
        true_class: ``NORMAL`` or ``PNEUMONIA``.
        frame: one row per image (``image_id`` then one string column per feature).
        features: the features, in column order.
        dropped: feature name -> why it was left out (constant, absent, ...).
    """

    true_class: str
    frame: pd.DataFrame
    features: tuple[Feature, ...]
    dropped: dict

    def feature(self, name: str) -> Feature:
        """The :class:`Feature` called ``name``."""
        for f in self.features:
            if f.name == name:
                return f
        raise ConfigError(f"no slice feature {name!r}; have {[f.name for f in self.features]}")


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def quartile_levels(values: np.ndarray) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Quartile bin (``Q1``..``Q4``) of each value; NaN -> :data:`UNKNOWN`.

    Bins come from ``pandas.qcut`` on the finite values; tied cut points are merged
    (fewer than four bins), and the bins keep their quartile word by position.

    Returns:
        (levels as object array, [(low, high)] of each bin in order).
    """
    x = np.asarray(values, dtype=float)
    out = np.full(x.shape, UNKNOWN, dtype=object)
    ok = np.isfinite(x)
    if ok.sum() < 4:
        return out, []
    codes, edges = pd.qcut(x[ok], 4, labels=False, retbins=True, duplicates="drop")
    n_bins = len(edges) - 1
    # with merged bins keep the words of the extreme quartiles at the extremes
    names = [f"Q{1 + round(i * 3 / max(n_bins - 1, 1))}" for i in range(n_bins)]
    out[ok] = np.array(names, dtype=object)[np.asarray(codes, dtype=int)]
    return out, [(float(edges[i]), float(edges[i + 1])) for i in range(n_bins)]


def _quartile_feature(name: str, values: np.ndarray, label: str, extra: str = "") -> tuple[Feature, np.ndarray]:
    levels, ranges = quartile_levels(values)
    present = sorted({lv for lv in levels if lv != UNKNOWN})
    phrases = {}
    for lv, (low, high) in zip(present, ranges):
        word = QUARTILE_WORDS[int(lv[1]) - 1]
        phrases[lv] = f"in the {word} quartile of {label}{extra} [{_fmt(low)}, {_fmt(high)}]"
    phrases[UNKNOWN] = f"whose {label} could not be measured (no plausible lung mask or an empty map)"
    return Feature(name, (name,), phrases, property=name), levels


def _method_features(table: pd.DataFrame, method: str, wrong_class: str) -> list[tuple[Feature, np.ndarray]]:
    """Saliency features of one method (Grad-CAM / IG), for the map of the wrong class.

    An empty map (no positive evidence, ``{method}_empty`` = 1) has no peak and no
    centre: its levels are :data:`UNKNOWN`, not the documented placeholder values.
    """
    return [(replace(f, kind="saliency"), levels) for f, levels in _method_features_raw(table, method, wrong_class)]


def _method_features_raw(table: pd.DataFrame, method: str, wrong_class: str) -> list[tuple[Feature, np.ndarray]]:
    word = _METHOD_WORDS.get(method, method)
    evidence = f"{word} evidence for {wrong_class}"
    plausible = (table["lung_mask_plausible"].astype(bool).to_numpy() if "lung_mask_plausible" in table
                 else np.ones(len(table), bool))
    empty = (numeric_column(table, f"{method}_empty") >= 0.5) if f"{method}_empty" in table \
        else np.zeros(len(table), bool)
    out = []
    peak_col = f"{method}_peak_in_lung"
    if peak_col in table:
        peak = numeric_column(table, peak_col)
        levels = np.where(~np.isfinite(peak) | ~plausible | empty, UNKNOWN, np.where(peak >= 0.5, "inside", "outside"))
        out.append((Feature(f"{method}_peak", (peak_col,), {
            "inside": f"whose {evidence} peaks inside the lungs",
            "outside": f"whose {evidence} peaks outside the lungs",
            UNKNOWN: f"whose {evidence} has no peak relative to the lungs (no plausible lung mask or empty map)"}),
            levels.astype(object)))
    cy_col, cx_col = f"{method}_centroid_y", f"{method}_centroid_x"
    if cy_col in table:
        cy = np.where(empty, np.nan, numeric_column(table, cy_col))
        levels = np.where(~np.isfinite(cy), UNKNOWN, np.where(cy < 0.5, "upper", "lower")).astype(object)
        out.append((Feature(f"{method}_vertical", (cy_col,), {
            "upper": f"whose {evidence} is centred in the upper half of the film",
            "lower": f"whose {evidence} is centred in the lower half of the film",
            UNKNOWN: f"whose {evidence} has no centre (empty map)"}, property=cy_col), levels))
    if cy_col in table and cx_col in table:
        dist = np.hypot(numeric_column(table, cy_col) - 0.5, numeric_column(table, cx_col) - 0.5)
        dist = np.where(empty, np.nan, dist)
        name = f"{method}_centre_distance"
        feature, levels = _quartile_feature(name, dist, f"the distance of the {evidence} from the film's centre")
        out.append((Feature(name, (cy_col, cx_col), feature.phrases, property=None), levels))
    for stat, label in (("lung_share", f"the share of {evidence} inside the lungs"),
                        ("lung_rank_ratio_k10", f"the lung-area-normalised localisation of {evidence} "
                                                "(top 10% of pixels; 1 = chance)")):
        col = f"{method}_{stat}"
        if col in table:
            values = numeric_column(table, col)
            values = np.where(plausible & ~empty, values, np.nan)
            out.append(_quartile_feature(col, values, label))
    return out


def slice_features(table: pd.DataFrame, true_class: str, *, quality: Sequence[str] = DEFAULT_QUALITY,
                   methods: Sequence[str] = ("gradcam",)) -> FeatureTable:
    """The categorical features of the images of one true class.

    Args:
        table: per-image table with ``image_id``, ``label`` and any of the quality,
            geometry, saliency and lung-mask columns (``table.csv`` of the explain step).
        true_class: ``NORMAL`` or ``PNEUMONIA``.
        quality: quality columns to bin (absent ones are listed in ``dropped``).
        methods: saliency methods whose summaries become features.

    Returns:
        :class:`FeatureTable`; features with a single level in this class are dropped
        (listed with the reason).

    Raises:
        ConfigError: missing ``image_id``/``label`` or no image of the class.
    """
    require_columns(table, ["image_id", "label"])
    part = table[table["label"] == true_class].reset_index(drop=True)
    if part.empty:
        raise ConfigError(f"no image with label {true_class!r}; labels are {sorted(table['label'].unique())}")
    wrong = "PNEUMONIA" if true_class == "NORMAL" else "NORMAL"
    candidates: list[tuple[Feature, np.ndarray]] = []
    dropped: dict[str, str] = {}
    for col in quality:
        if col not in part:
            dropped[col] = "column absent"
            continue
        candidates.append(_quartile_feature(col, numeric_column(part, col), NAMES.get(col, col)))
    if "is_224_copy" in part:
        copy = numeric_column(part, "is_224_copy")
        levels = np.where(~np.isfinite(copy), UNKNOWN, np.where(copy >= 0.5, "yes", "no")).astype(object)
        candidates.append((Feature("is_224_copy", ("is_224_copy",), {
            "yes": "stored as squeezed 224x224 copies", "no": "stored at their original size and aspect",
            UNKNOWN: "of unknown stored size"}), levels))
    if "aspect_ratio" in part:
        # fixed bands, not quartiles: most films are square copies, so quartiles would merge
        ratio = numeric_column(part, "aspect_ratio")
        levels = np.select([~np.isfinite(ratio), ratio < 0.95, ratio > 1.05], [UNKNOWN, "tall", "wide"], "square")
        candidates.append((Feature("aspect_ratio", ("aspect_ratio",), {
            "square": "with a square stored image (aspect 0.95-1.05)",
            "wide": "with a stored image wider than tall (aspect > 1.05)",
            "tall": "with a stored image taller than wide (aspect < 0.95)",
            UNKNOWN: "of unknown aspect ratio"}, property="aspect_ratio"), levels.astype(object)))
    if true_class == "PNEUMONIA":
        sub = np.array([parse_subtype(i) for i in part["image_id"]], dtype=object)
        candidates.append((Feature("subtype", ("image_id",), {
            "bacteria": "with bacterial pneumonia (file name)", "virus": "with viral pneumonia (file name)",
            "none": "with no pneumonia subtype in the file name"}), sub))
    if "lung_mask_plausible" in part:
        ok = part["lung_mask_plausible"].astype(bool).to_numpy()
        candidates.append((Feature("lung_mask", ("lung_mask_plausible",), {
            "found": "whose lung fields were found (plausible mask)",
            "not found": "whose lung fields were not found (implausible mask)"}),
            np.where(ok, "found", "not found").astype(object)))
    for method in methods:
        candidates += _method_features(part, method, wrong)
    columns = {"image_id": part["image_id"].to_numpy()}
    kept = []
    for feature, levels in candidates:
        if len(set(levels)) < 2:
            dropped[feature.name] = f"a single level in {true_class} ({next(iter(set(levels)), 'none')})"
            continue
        columns[feature.name] = levels
        kept.append(feature)
    return FeatureTable(true_class, pd.DataFrame(columns), tuple(kept), dropped)


def describe(true_class: str, conditions: Sequence[tuple[str, str]], features: FeatureTable) -> str:
    """A slice in plain words: ``"NORMAL films in the lowest quartile of ... and whose ..."``.

    Args:
        true_class: the class.
        conditions: (feature name, level) pairs.
        features: the :class:`FeatureTable` the conditions refer to.
    """
    phrases = [features.feature(name).phrases.get(level, f"with {name} = {level}") for name, level in conditions]
    if not phrases:
        return f"all {true_class} films"
    body = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return f"{true_class} films {body}"
