"""Assemble every statistic of the failure investigation into one JSON-serialisable dict."""

from __future__ import annotations

from collections.abc import Sequence

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
from stats.compare import within_class_comparisons
from stats.correlation import dose_response
from stats.power import minimal_detectable_effect
from stats.primary import PRIMARY_METRICS
from stats.regression import RegressionResult, error_logistic_regression
from stats.verdict import primary_verdicts
from stats.intervals import SMALL_SPLIT, proportion

ALPHA = 0.05
SIGN_CONVENTION = ("rank_biserial = 2*U1/(n1*n2) - 1 with group 1 = errors (FP or FN) and group 2 = "
                   "correct images of the same true class (TN or TP): positive when errors have larger values")


def _names(value: object, arg: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple, pd.Index)):
        raise ConfigError(f"{arg} must be a list or tuple of column names, got {value!r}")
    bad = [v for v in value if not isinstance(v, str)]
    if bad:
        raise ConfigError(f"{arg} must contain column names (strings), got {bad}")
    return list(dict.fromkeys(value))


def accuracy_block(table: pd.DataFrame) -> dict:
    """Counts, accuracy, sensitivity, specificity (Wilson 95%) and balanced accuracy."""
    counts = {k: int((table["outcome"] == k).sum()) for k in OUTCOMES}
    n = int(len(table))
    sens = proportion(counts["TP"], counts["TP"] + counts["FN"])
    spec = proportion(counts["TN"], counts["TN"] + counts["FP"])
    return {
        "n": n,
        "counts": counts,
        "accuracy": proportion(counts["TP"] + counts["TN"], n),
        "sensitivity": sens,
        "specificity": spec,
        "balanced_accuracy": {"value": (sens["value"] + spec["value"]) / 2,
                              "note": "mean of sensitivity and specificity; see their intervals"},
    }


def small_split_warning(acc: dict) -> str | None:
    """A loud warning string when the split has fewer than ``SMALL_SPLIT`` images, else None."""
    n = acc["n"]
    if n >= SMALL_SPLIT:
        return None
    a = acc["accuracy"]
    c = acc["counts"]
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
) -> dict:
    """Run the whole within-class analysis and return a JSON-serialisable dict.

    Columns named in the metric lists but absent from ``table`` are skipped and
    listed under ``settings.missing_columns``; NaNs are dropped per comparison.
    q-values are Benjamini-Hochberg within each family (``comparisons``,
    ``localisation``, ``dose_response``). Every NaN becomes None so the result
    passes ``json.dumps(allow_nan=False)``.

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
        dict with keys ``n_images, accuracy, small_split_warning, comparisons,
        localisation, dose_response, regression, power, verdict, settings``.

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
    c = acc["counts"]
    verdict_report = primary_verdicts(table, exploratory_metrics=quality + localisation, alpha=ALPHA,
                                      n_boot=n_boot, seed=seed, geometry=geometry_note(geo))
    n_primary = len(verdict_report.hypotheses)
    power = {
        "alpha": ALPHA,
        "power": 0.8,
        "FP vs TN": minimal_detectable_effect(c["FP"], c["TN"]),
        "FN vs TP": minimal_detectable_effect(c["FN"], c["TP"]),
        "FP vs TN, primary (Holm)": minimal_detectable_effect(c["FP"], c["TN"], alpha=ALPHA / n_primary),
        "note": ("Smallest |effect| a two-sided two-sample t-test detects with 80% power at alpha 0.05 "
                 "(statsmodels TTestIndPower), as Cohen's d and as rank-biserial 2*Phi(d/sqrt(2))-1 for a "
                 "normal shift; a lower bound for Mann-Whitney. Per-metric values (after NaN drop) are the "
                 "mde_* columns of comparisons and localisation. Null results with |r| below these "
                 "are uninformative, not evidence of no effect. The primary tests are Holm-corrected across "
                 f"{n_primary} hypotheses, so their MDE is computed at alpha {ALPHA}/{n_primary} (Holm's first, "
                 "strictest step); exploratory q-values are BH, whose MDE is at least the one at alpha 0.05."),
    }
    result = {
        "n_images": int(len(table)),
        "accuracy": acc,
        "small_split_warning": small_split_warning(acc),
        "comparisons": comparisons,
        "localisation": loc,
        "dose_response": dose,
        "regression": regression,
        "power": power,
        "verdict": [h for h in verdict_report.to_dict()["hypotheses"]],
        "primary": verdict_report.to_dict(),
        "settings": {
            "n_boot": n_boot, "seed": seed, "alpha": ALPHA,
            "quality_metrics": quality, "localisation_metrics": localisation, "geometry": geo,
            "regression_metrics": reg_metrics, "missing_columns": missing,
            "sign_convention": SIGN_CONVENTION,
            "multiple_testing": ("Holm across the pre-declared primary tests (one per hypothesis, stats/primary.py); "
                                 "Benjamini-Hochberg within the exploratory verdict family, within comparisons, "
                                 "within localisation, within dose_response"),
        },
    }
    return jsonable(result)
