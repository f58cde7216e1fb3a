"""Within-class logistic regression of being an error on standardised predictors."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    PerfectSeparationError,
    PerfectSeparationWarning,
)

from data.errors import ConfigError
from stats._table import (
    NORMAL,
    PNEUMONIA,
    jsonable,
    numeric_column,
    require_frame,
    validate_outcomes,
)

#: True class -> outcome counted as the event (an error within that class).
ERROR_OUTCOME = {NORMAL: "FP", PNEUMONIA: "FN"}
OR_COLUMNS = ["predictor", "odds_ratio", "ci_low", "ci_high", "p_value", "coef", "std_err", "sd"]
_MAX_ABS_COEF = 15.0  # |log-odds per SD| above this (OR > 3e6) means a diverging, separated fit


@dataclass(frozen=True)
class RegressionResult:
    """Logistic regression of error (1) vs correct (0) within one true class.

    Attributes:
        true_class: ``'NORMAL'`` (event = FP) or ``'PNEUMONIA'`` (event = FN).
        n: rows used (complete cases over all predictors).
        n_events: errors among them; n_nonevents: correct ones.
        predictors: predictors entered in the model (after dropping constants).
        fit_ok: False when the model was not fitted or cannot be trusted.
        reason: why ``fit_ok`` is False, else None.
        notes: dropped predictors, dropped incomplete rows, etc.
        odds_ratios: one row per predictor: odds ratio per 1 SD increase
            (``exp(coef)`` of the standardised predictor), Wald 95% CI, p,
            raw coefficient, its standard error, and the SD used. Empty when not fitted.
    """

    true_class: str
    n: int
    n_events: int
    n_nonevents: int
    predictors: tuple[str, ...]
    fit_ok: bool
    reason: str | None
    notes: tuple[str, ...] = ()
    odds_ratios: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=OR_COLUMNS))

    def to_dict(self) -> dict:
        """JSON-safe dict; ``odds_ratios`` becomes a list of row dicts."""
        return jsonable({
            "true_class": self.true_class, "n": self.n, "n_events": self.n_events,
            "n_nonevents": self.n_nonevents, "predictors": list(self.predictors),
            "fit_ok": self.fit_ok, "reason": self.reason, "notes": list(self.notes),
            "odds_ratios": self.odds_ratios,
        })


def _images_off_the_common_value(x: np.ndarray, y: np.ndarray) -> tuple[int, int]:
    """(events, non-events) whose value differs from the column's most common value.

    Args:
        x: one covariate, shape (n,).
        y: 1.0 = event (error), 0.0 = correct, shape (n,).
    """
    values, counts = np.unique(x, return_counts=True)
    off = x != values[np.argmax(counts)]
    return int((off & (y == 1)).sum()), int((off & (y == 0)).sum())


def _linearly_independent(Z: np.ndarray) -> np.ndarray:
    """Greedy column selection in the given order: True where a column adds rank.

    Args:
        Z: standardised predictors, shape (n, p).

    Returns:
        bool array of shape (p,). Metrics come before adjustment covariates in the
        caller's order, so a covariate that duplicates them is the one dropped.
    """
    keep = np.zeros(Z.shape[1], dtype=bool)
    ones = np.ones((Z.shape[0], 1))
    for j in range(Z.shape[1]):
        trial = np.column_stack([ones, Z[:, keep], Z[:, j]])
        keep[j] = np.linalg.matrix_rank(trial) == trial.shape[1]
    return keep


def error_logistic_regression(
    table: pd.DataFrame,
    metrics: Sequence[str],
    *,
    true_class: str,
    adjust: Sequence[str] = ("orig_width", "orig_height", "aspect_ratio"),
    min_events: int = 5,
    min_events_per_predictor: float = 10.0,
) -> RegressionResult:
    """Fit ``P(error) ~ metrics + adjust`` within one true class (statsmodels ``Logit``).

    The outcome is being an error within ``true_class``: FP among true NORMAL,
    FN among true PNEUMONIA. Predictors are standardised (mean 0, SD 1 with
    ddof=1) so odds ratios are per 1 SD. Rows with NaN in any predictor are
    dropped (counted in ``notes``); constant predictors are dropped with a note.

    The fit is not attempted (``fit_ok=False`` with a reason, never an
    exception) when fewer than ``min_events`` events or non-events remain, or
    when the rarer outcome count divided by the number of predictors is below
    ``min_events_per_predictor``. A fitted model is rejected on perfect or
    quasi-perfect separation (statsmodels warning/error, a fitted linear
    predictor that splits events from non-events, or a coefficient above 15
    log-odds per SD), non-convergence, or non-finite standard errors.

    Args:
        table: aligned table with ``label``, ``outcome`` and the predictor columns.
        metrics: predictors of interest.
        true_class: ``'NORMAL'`` or ``'PNEUMONIA'``.
        adjust: adjustment covariates (geometry by default); duplicates of
            ``metrics`` are ignored.
        min_events: minimum number of events and of non-events.
        min_events_per_predictor: minimum events per predictor (rarer outcome).

    Returns:
        RegressionResult.

    Raises:
        ConfigError: bad ``true_class``, missing/non-numeric columns, inconsistent outcomes.
    """
    if true_class not in ERROR_OUTCOME:
        raise ConfigError(f"true_class must be one of {list(ERROR_OUTCOME)}, got {true_class!r}")
    require_frame(table)
    validate_outcomes(table)
    names = list(dict.fromkeys([*metrics, *adjust]))
    if not names:
        raise ConfigError("need at least one predictor in metrics or adjust")
    in_class = (table["label"] == true_class).to_numpy()
    y_all = (table["outcome"].to_numpy()[in_class] == ERROR_OUTCOME[true_class]).astype(float)
    X_all = np.column_stack([numeric_column(table, c)[in_class] for c in names])
    notes: list[str] = []

    complete = ~np.isnan(X_all).any(axis=1)
    if (~complete).any():
        notes.append(f"dropped {int((~complete).sum())} of {complete.size} {true_class} rows with NaN predictors")
    X, y = X_all[complete], y_all[complete]
    n, n_events = int(y.size), int(y.sum())
    n_non = n - n_events

    sd = X.std(axis=0, ddof=1) if n > 1 else np.zeros(len(names))
    keep = np.isfinite(sd) & (sd > 0)
    for name, k in zip(names, keep):
        if not k:
            notes.append(f"dropped constant predictor {name!r}")
    metric_set = set(metrics)
    for j, name in enumerate(names):
        if keep[j] and name not in metric_set:
            rare = _images_off_the_common_value(X[:, j], y)
            if min(rare) < min_events:
                keep[j] = False
                notes.append(f"dropped adjustment covariate {name!r}: only {rare[0]} errors and {rare[1]} correct "
                             f"images differ from its most common value (need at least {min_events} of each to "
                             "estimate it; with fewer it separates those images and the fit diverges)")
    predictors = tuple(n_ for n_, k in zip(names, keep) if k)

    def unfit(reason: str) -> RegressionResult:
        return RegressionResult(true_class, n, n_events, n_non, predictors, False, reason, tuple(notes))

    if not predictors:
        return unfit("no non-constant predictor left")
    if n_events < min_events or n_non < min_events:
        return unfit(f"too few events: {n_events} errors and {n_non} correct {true_class} images "
                     f"(need at least {min_events} of each)")
    epv = min(n_events, n_non) / len(predictors)
    if epv < min_events_per_predictor:
        return unfit(f"too few events per predictor: {min(n_events, n_non)} (rarer outcome) / "
                     f"{len(predictors)} predictors = {epv:.1f} < {min_events_per_predictor:g}")

    X, sd = X[:, keep], sd[keep]
    Z = (X - X.mean(axis=0)) / sd
    independent = _linearly_independent(Z)
    for name, k in zip(predictors, independent):
        if not k:
            notes.append(f"dropped predictor {name!r}: a linear combination of the predictors before it "
                         "(collinear, e.g. a geometry covariate equal to another on these images)")
    predictors = tuple(p_ for p_, k in zip(predictors, independent) if k)
    X, sd, Z = X[:, independent], sd[independent], Z[:, independent]
    design = sm.add_constant(Z, has_constant="add")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = sm.Logit(y, design).fit(disp=0, maxiter=200)
        except PerfectSeparationError:
            return unfit("perfect separation: a predictor combination classifies every image")
        except np.linalg.LinAlgError as exc:
            return unfit(f"singular design matrix (collinear predictors?): {exc}")
    kinds = {w.category for w in caught}
    eta = design @ np.asarray(fit.params)
    separated = eta[y == 1].min() >= eta[y == 0].max() or eta[y == 1].max() <= eta[y == 0].min()
    if PerfectSeparationWarning in kinds or separated or np.abs(fit.params[1:]).max() > _MAX_ABS_COEF:
        return unfit("perfect or quasi-perfect separation: the predictors split errors from "
                     "correct images (odds ratios diverge)")
    if not fit.mle_retvals.get("converged", False) or ConvergenceWarning in kinds:
        return unfit("maximum likelihood did not converge")
    params, bse = np.asarray(fit.params), np.asarray(fit.bse)
    if not np.all(np.isfinite(bse)):
        return unfit("non-finite standard errors (singular information matrix)")
    ci = np.asarray(fit.conf_int(alpha=0.05))
    pvals = np.asarray(fit.pvalues)
    ors = pd.DataFrame({
        "predictor": list(predictors),
        "odds_ratio": np.exp(params[1:]),
        "ci_low": np.exp(ci[1:, 0]),
        "ci_high": np.exp(ci[1:, 1]),
        "p_value": pvals[1:],
        "coef": params[1:],
        "std_err": bse[1:],
        "sd": sd,
    }, columns=OR_COLUMNS)
    return RegressionResult(true_class, n, n_events, n_non, predictors, True, None, tuple(notes), ors)
