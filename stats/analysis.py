"""Assemble every statistic of the failure investigation into one typed result (:class:`Analysis`).

``Analysis.to_dict()`` is the JSON form written into ``report.json`` (``analysis``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import pandas as pd

from data.errors import ConfigError
from stats._table import (
    NORMAL,
    check_bootstrap,
    OUTCOMES,
    PNEUMONIA,
    first_few,
    jsonable,
    require_columns,
    require_frame,
    validate_outcomes,
)
from stats.compare import ComparisonRow, within_class_comparisons
from stats.correlation import DoseRow, dose_response
from stats.power import MinimalDetectableEffect, minimal_detectable_effect
from stats.primary import PRIMARY_METRICS
from stats.regression import RegressionResult, error_logistic_regression
from stats.verdict import HypothesisVerdict, VerdictReport, primary_verdicts
from stats.intervals import SMALL_SPLIT, proportion

ALPHA = 0.05
SIGN_CONVENTION = ("rank_biserial = 2*U1/(n1*n2) - 1 with group 1 = errors (FP or FN) and group 2 = "
                   "correct images of the same true class (TN or TP): positive when errors have larger values")


@dataclass(frozen=True)
class AccuracyBlock:
    """Counts and the accuracy of the analysed split; proportions as :func:`stats.intervals.proportion` dicts."""

    n: int
    counts: Mapping[str, int]
    accuracy: Mapping[str, object]
    sensitivity: Mapping[str, object]
    specificity: Mapping[str, object]
    balanced_accuracy: Mapping[str, object]

    def to_dict(self) -> dict:
        return {"n": self.n, "counts": dict(self.counts), "accuracy": self.accuracy, "sensitivity": self.sensitivity,
                "specificity": self.specificity, "balanced_accuracy": self.balanced_accuracy}


@dataclass(frozen=True)
class PowerSummary:
    """Minimal detectable effects of the split's within-class comparisons (80% power)."""

    alpha: float
    power: float
    fp_tn: MinimalDetectableEffect
    fn_tp: MinimalDetectableEffect
    fp_tn_primary: MinimalDetectableEffect   # at the Holm level of the primary tests
    note: str

    #: JSON key of each comparison field.
    KEYS = {"fp_tn": "FP vs TN", "fn_tp": "FN vs TP", "fp_tn_primary": "FP vs TN, primary (Holm)"}

    def comparison(self, key: str) -> MinimalDetectableEffect:
        """The effect of one comparison by its report name (``'FP vs TN'``, ``'FN vs TP'``)."""
        return getattr(self, next(f for f, k in self.KEYS.items() if k == key))

    def to_dict(self) -> dict:
        return {"alpha": self.alpha, "power": self.power, **{k: getattr(self, f) for f, k in self.KEYS.items()},
                "note": self.note}


@dataclass(frozen=True)
class AnalysisSettings:
    """What the analysis read and how it tested."""

    n_boot: int
    seed: int | None
    alpha: float
    quality_metrics: tuple[str, ...]
    localisation_metrics: tuple[str, ...]
    geometry: tuple[str, ...]
    regression_metrics: tuple[str, ...]
    missing_columns: tuple[str, ...]
    sign_convention: str
    multiple_testing: str

    def to_dict(self) -> dict:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}


@dataclass(frozen=True)
class Analysis:
    """Every statistic of one failure investigation (:func:`analyse`).

    Parts other than ``n_images`` may be absent (a report of a partial analysis).

    Attributes:
        n_images: rows of the analysed table.
        accuracy: counts and accuracy of the split.
        small_split_warning: the loud warning of a split under ``SMALL_SPLIT`` images, else None.
        comparisons: quality metrics, errors vs correct images of the same class (BH within the family).
        localisation: the same for the saliency summaries.
        dose_response: P(pneumonia) against each metric among true NORMAL images.
        regression: true class -> logistic regression of being an error.
        power: minimal detectable effects.
        primary: the pre-declared primary verdicts, exploratory findings and their confirmation.
        settings: what was read and how it was tested.
    """

    n_images: int
    accuracy: AccuracyBlock | None = None
    small_split_warning: str | None = None
    comparisons: tuple[ComparisonRow, ...] = ()
    localisation: tuple[ComparisonRow, ...] = ()
    dose_response: tuple[DoseRow, ...] = ()
    regression: Mapping[str, RegressionResult] = field(default_factory=dict)
    power: PowerSummary | None = None
    primary: VerdictReport | None = None
    settings: AnalysisSettings | None = None

    @property
    def verdict(self) -> tuple[HypothesisVerdict, ...]:
        """The verdict on each hypothesis, in the order the report states them."""
        return self.primary.hypotheses if self.primary else ()

    def to_dict(self) -> dict:
        """The JSON form (``report.json``'s ``analysis``): nested dicts and lists, NaN as None."""
        primary = self.primary.to_dict() if self.primary else {"hypotheses": []}
        return jsonable({
            "n_images": self.n_images, "accuracy": self.accuracy, "small_split_warning": self.small_split_warning,
            "comparisons": list(self.comparisons), "localisation": list(self.localisation),
            "dose_response": list(self.dose_response), "regression": dict(self.regression), "power": self.power,
            "verdict": primary["hypotheses"], "primary": primary, "settings": self.settings,
        })


def _rows(frame: pd.DataFrame, row_type: type) -> tuple:
    """The rows of ``frame`` as ``row_type`` (its fields are the frame's columns, in order); a missing
    ``reason`` (NaN in the table) is None."""
    return tuple(row_type(**{**rec, "reason": None if pd.isna(rec["reason"]) else rec["reason"]})
                 for rec in frame.to_dict(orient="records"))


def rows_frame(rows: Sequence[ComparisonRow | DoseRow]) -> pd.DataFrame:
    """Typed rows back as a table (one column per field, NaN as None), e.g. for a figure."""
    return pd.DataFrame([r.to_dict() for r in rows])


def _names(value: object, arg: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple, pd.Index)):
        raise ConfigError(f"{arg} must be a list or tuple of column names, got {value!r}")
    bad = [v for v in value if not isinstance(v, str)]
    if bad:
        raise ConfigError(f"{arg} must contain column names (strings), got {bad}")
    return list(dict.fromkeys(value))


def accuracy_block(table: pd.DataFrame) -> AccuracyBlock:
    """Counts, accuracy, sensitivity, specificity (Wilson 95%) and balanced accuracy."""
    counts = {k: int((table["outcome"] == k).sum()) for k in OUTCOMES}
    n = int(len(table))
    sens = proportion(counts["TP"], counts["TP"] + counts["FN"])
    spec = proportion(counts["TN"], counts["TN"] + counts["FP"])
    return AccuracyBlock(
        n=n, counts=counts, accuracy=proportion(counts["TP"] + counts["TN"], n), sensitivity=sens, specificity=spec,
        balanced_accuracy={"value": (sens["value"] + spec["value"]) / 2,
                           "note": "mean of sensitivity and specificity; see their intervals"})


def small_split_warning(acc: AccuracyBlock) -> str | None:
    """A loud warning string when the split has fewer than ``SMALL_SPLIT`` images, else None."""
    n = acc.n
    if n >= SMALL_SPLIT:
        return None
    a = acc.accuracy
    c = acc.counts
    return (f"SMALL SPLIT: only {n} images (< {SMALL_SPLIT}); one image is {100 / n:.2f} points of accuracy. "
            f"Accuracy {100 * a['value']:.1f}% has a 95% Wilson interval {100 * a['ci_low']:.1f}%-"
            f"{100 * a['ci_high']:.1f}%, {100 * (a['ci_high'] - a['ci_low']):.1f} points wide. Sensitivity rests "
            f"on {c['TP'] + c['FN']} PNEUMONIA and specificity on {c['TN'] + c['FP']} NORMAL images; "
            "treat every percentage and test here as approximate.")


#: Geometry covariates that come from a side table of source sizes (``data.manifest``), not the stored file.
SOURCE_GEOMETRY = ("source_aspect", "source_squeeze")


def geometry_note(geometry: Sequence[str]) -> str:
    """What the regressions adjust for, and the geometry limitation when no source sizes are known."""
    used = ", ".join(geometry) if geometry else "nothing"
    if any(g in SOURCE_GEOMETRY for g in geometry):
        return (f"Geometry covariates: {used}. source_aspect / source_squeeze come from the data root's "
                "MANIFEST.csv (orig_width / orig_height of each file's source); for files the source already "
                "stored as 224x224 copies the original aspect is unknown and these covariates are 1 there.")
    return (f"Geometry covariates: {used}. LIMITATION: no side table of source sizes (MANIFEST.csv) was found, "
            "so the original aspect ratio and squeeze factor of the 224x224 copies are unknown; they change the "
            "spectral content at the analysis size and are not adjusted for.")


def _default_regression_metrics(table: pd.DataFrame, quality: list[str], localisation: list[str]) -> list[str]:
    """One primary predictor per hypothesis: laplacian var, RMS contrast, the primary localisation metric."""
    chosen = [m for m in ("q_laplacian_var", "q_rms_contrast") if m in quality]
    primary = PRIMARY_METRICS["saliency_outside_lungs"]
    shares = [m for m in localisation if m == primary and table[m].notna().all()]
    return chosen + shares[:1]


def analyse(
    table: pd.DataFrame,
    *,
    quality_metrics: Sequence[str],
    localisation_metrics: Sequence[str],
    geometry: Sequence[str],
    n_boot: int = 2000,
    seed: int | None = 0,
    regression_metrics: Sequence[str] | None = None,
) -> Analysis:
    """Run the whole within-class analysis.

    Columns named in the metric lists but absent from ``table`` are skipped and
    listed under ``settings.missing_columns``; NaNs are dropped per comparison.
    q-values are Benjamini-Hochberg within each family (``comparisons``,
    ``localisation``, ``dose_response``). ``to_dict()`` turns every NaN into None
    so the JSON form passes ``json.dumps(allow_nan=False)``.

    Args:
        table: aligned per-image table (``image_id``, ``label``, ``outcome``,
            ``p_pneumonia``, metric columns). Not modified.
        quality_metrics: image-quality columns (e.g. ``q_laplacian_var``).
        localisation_metrics: saliency summaries (e.g. ``gradcam_lung_share``).
        geometry: adjustment covariates for the regressions.
        n_boot: bootstrap resamples for every interval.
        seed: bootstrap seed.
        regression_metrics: predictors of interest in the logistic regressions;
            default one per hypothesis: ``q_laplacian_var``, ``q_rms_contrast``
            and the primary localisation metric when complete (fewer predictors keep the
            events-per-predictor rule satisfiable).

    Returns:
        :class:`Analysis`.

    Raises:
        ConfigError: malformed table or arguments (missing label/outcome/image_id,
            duplicated ids, inconsistent outcomes, non-numeric metrics).
    """
    require_frame(table)
    require_columns(table, ["image_id", "label", "outcome"])
    dup = table["image_id"][table["image_id"].duplicated(keep=False)]
    if len(dup):
        raise ConfigError(f"table has duplicated image_id value(s) {first_few(pd.unique(dup))}; "
                          "expected one row per image")
    validate_outcomes(table)
    n_boot, seed = check_bootstrap(n_boot, seed)
    quality = _names(quality_metrics, "quality_metrics")
    localisation = _names(localisation_metrics, "localisation_metrics")
    geo = _names(geometry, "geometry")
    requested = list(dict.fromkeys([*quality, *localisation, *geo]))
    missing = [c for c in requested if c not in table.columns]
    quality = [c for c in quality if c in table.columns]
    localisation = [c for c in localisation if c in table.columns]
    geo = [c for c in geo if c in table.columns]
    if regression_metrics is None:
        reg_metrics = _default_regression_metrics(table, quality, localisation)
    else:
        reg_metrics = _names(regression_metrics, "regression_metrics")
        missing += [c for c in reg_metrics if c not in table.columns and c not in missing]
        reg_metrics = [c for c in reg_metrics if c in table.columns]

    acc = accuracy_block(table)
    comparisons = within_class_comparisons(table, quality, n_boot=n_boot, seed=seed)
    loc = within_class_comparisons(table, localisation, n_boot=n_boot, seed=seed)
    if "p_pneumonia" in table.columns:
        dose = dose_response(table, quality + localisation, n_boot=n_boot, seed=seed)
    else:
        dose = pd.DataFrame()
        missing.append("p_pneumonia")
    regression = {}
    for cls in (NORMAL, PNEUMONIA):
        if reg_metrics or geo:
            regression[cls] = error_logistic_regression(table, reg_metrics, true_class=cls, adjust=geo)
        else:
            in_class = table["label"] == cls
            n_err = int((in_class & table["outcome"].isin(["FP", "FN"])).sum())
            regression[cls] = RegressionResult(cls, int(in_class.sum()), n_err, int(in_class.sum()) - n_err,
                                               (), False, "no predictors available")
    c = acc.counts
    verdict_report = primary_verdicts(table, exploratory_metrics=quality + localisation, alpha=ALPHA,
                                      n_boot=n_boot, seed=seed, geometry=geometry_note(geo))
    n_primary = len(verdict_report.hypotheses)
    power = PowerSummary(
        alpha=ALPHA, power=0.8, fp_tn=minimal_detectable_effect(c["FP"], c["TN"]),
        fn_tp=minimal_detectable_effect(c["FN"], c["TP"]),
        fp_tn_primary=minimal_detectable_effect(c["FP"], c["TN"], alpha=ALPHA / n_primary),
        note=("Smallest |effect| a two-sided two-sample t-test detects with 80% power at alpha 0.05 "
              "(statsmodels TTestIndPower), as Cohen's d and as rank-biserial 2*Phi(d/sqrt(2))-1 for a "
              "normal shift; a lower bound for Mann-Whitney. Per-metric values (after NaN drop) are the "
              "mde_* columns of comparisons and localisation. Null results with |r| below these "
              "are uninformative, not evidence of no effect. The primary tests are Holm-corrected across "
              f"{n_primary} hypotheses, so their MDE is computed at alpha {ALPHA}/{n_primary} (Holm's first, "
              "strictest step); exploratory q-values are BH, whose MDE is at least the one at alpha 0.05."))
    return Analysis(
        n_images=int(len(table)), accuracy=acc, small_split_warning=small_split_warning(acc),
        comparisons=_rows(comparisons, ComparisonRow), localisation=_rows(loc, ComparisonRow),
        dose_response=_rows(dose, DoseRow), regression=regression, power=power, primary=verdict_report,
        settings=AnalysisSettings(
            n_boot=n_boot, seed=seed, alpha=ALPHA, quality_metrics=tuple(quality),
            localisation_metrics=tuple(localisation), geometry=tuple(geo), regression_metrics=tuple(reg_metrics),
            missing_columns=tuple(missing), sign_convention=SIGN_CONVENTION,
            multiple_testing=("Holm across the pre-declared primary tests (one per hypothesis, stats/primary.py); "
                              "Benjamini-Hochberg within the exploratory verdict family, within comparisons, "
                              "within localisation, within dose_response")))
