"""Classification metrics, each with a 95% interval (pure functions over arrays)."""

from __future__ import annotations

import math

import numpy as np

from data.errors import ConfigError
from data.labels import THRESHOLD
from stats.bootstrap import bootstrap_ci
from stats.intervals import BOOTSTRAP_LABEL, SMALL_SPLIT, proportion


def _check_binary(y_true: np.ndarray, p_positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    p = np.asarray(p_positive, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ConfigError(f"y_true and p_positive must be 1-D of equal length, got {y.shape} and {p.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ConfigError(f"y_true must hold only 0/1, got values {sorted(set(np.unique(y).tolist()))[:5]}")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ConfigError("p_positive must lie in [0, 1] without NaN")
    return y.astype(int), p


def expected_calibration_error(y_true: np.ndarray, p_positive: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error of the predicted class (equal-width confidence bins).

    ECE = sum_b (n_b / n) * |accuracy_b - confidence_b| over bins of the confidence
    max(p, 1 - p) in [0.5, 1]. Range [0, 1]; 0 is perfectly calibrated.
    """
    y, p = _check_binary(y_true, p_positive)
    if len(y) == 0:
        return math.nan
    pred = (p >= THRESHOLD).astype(int)
    conf = np.where(pred == 1, p, 1.0 - p)
    correct = (pred == y).astype(float)
    edges = np.linspace(0.5, 1.0, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return float(ece)


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else math.nan


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    pos, neg = y == 1, y == 0
    if not pos.any() or not neg.any():
        return math.nan
    return float(0.5 * ((pred[pos] == 1).mean() + (pred[neg] == 0).mean()))


def _stratified_ci(fn, y: np.ndarray, p: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """Percentile 95% interval of ``fn(y, p)`` over resamples drawn within each true class.

    A class absent from ``y`` is left out; NaN when a present class has a single image.
    """
    classes = [c for c in (1, 0) if (y == c).any()]

    def statistic(*groups: np.ndarray) -> float:
        return fn(np.concatenate([np.full(g.size, c) for c, g in zip(classes, groups)]), np.concatenate(groups))

    ci = bootstrap_ci([p[y == c] for c in classes], statistic, n_boot=n_boot, seed=seed, vectorized=False)
    return (ci.low, ci.high)


def binary_metrics(y_true: np.ndarray, p_positive: np.ndarray, *, threshold: float = THRESHOLD,
                   n_boot: int = 2000, seed: int = 0) -> dict:
    """Accuracy, sensitivity, specificity, balanced accuracy, ROC AUC and ECE with 95% intervals.

    Proportions get Wilson intervals; balanced accuracy, AUC and ECE get
    percentile-bootstrap intervals resampled within each true class
    (:func:`stats.bootstrap.bootstrap_ci`, ``n_boot`` resamples, seeded).

    Args:
        y_true: (N,) 0/1 truth (1 = PNEUMONIA).
        p_positive: (N,) predicted P(positive) in [0, 1].
        threshold: decision threshold on ``p_positive``.
        n_boot: bootstrap resamples.
        seed: bootstrap seed.

    Returns:
        Dict with ``n``, ``counts`` (TP/TN/FP/FN), and for each metric a dict
        ``{value, ci_low, ci_high, n, interval}``; ``small_split_warning`` when
        N < :data:`stats.intervals.SMALL_SPLIT`.
    """
    y, p = _check_binary(y_true, p_positive)
    pred = (p >= threshold).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())

    def boot(fn_, value: float) -> dict:
        low, high = _stratified_ci(fn_, y, p, n_boot, seed) if len(y) > 1 else (math.nan, math.nan)
        return {"value": value, "ci_low": low, "ci_high": high, "n": int(len(y)), "interval": BOOTSTRAP_LABEL}

    out = {
        "n": int(len(y)),
        "threshold": threshold,
        "counts": {"TP": tp, "TN": tn, "FP": fp, "FN": fn},
        "accuracy": proportion(tp + tn, len(y)),
        "sensitivity": proportion(tp, tp + fn),
        "specificity": proportion(tn, tn + fp),
        "balanced_accuracy": boot(lambda a, b: _balanced_accuracy(a, (b >= threshold).astype(int)),
                                  _balanced_accuracy(y, pred)),
        "roc_auc": boot(_roc_auc, _roc_auc(y, p)),
        "ece": boot(expected_calibration_error, expected_calibration_error(y, p)),
    }
    if len(y) < SMALL_SPLIT:
        low, high = out["accuracy"]["ci_low"], out["accuracy"]["ci_high"]
        out["small_split_warning"] = (
            f"only {len(y)} images: one image is {100 / max(len(y), 1):.2f} accuracy points and the 95% interval "
            f"spans {100 * low:.0f}-{100 * high:.0f}%; too small to support accuracy claims")
    return out
