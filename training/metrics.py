"""Classification metrics, each with a 95% interval (pure functions over arrays)."""

from __future__ import annotations

import numpy as np
from statsmodels.stats.proportion import proportion_confint

from data.errors import ConfigError

#: A split smaller than this gets a loud warning wherever accuracy is reported.
SMALL_SPLIT = 100


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (statsmodels ``proportion_confint``).

    Args:
        successes: number of successes, 0 <= successes <= n.
        n: number of trials, >= 0. With n == 0 the interval is (nan, nan).
        alpha: 1 - confidence level.

    Returns:
        (low, high) in [0, 1].
    """
    successes, n = int(successes), int(n)
    if n < 0 or successes < 0 or successes > n:
        raise ConfigError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return (float("nan"), float("nan"))
    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return (float(low), float(high))


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
        return float("nan")
    pred = (p >= 0.5).astype(int)
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

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    pos, neg = y == 1, y == 0
    if not pos.any() or not neg.any():
        return float("nan")
    return float(0.5 * ((pred[pos] == 1).mean() + (pred[neg] == 0).mean()))


def _bootstrap(fn, y: np.ndarray, p: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """Percentile 95% interval of ``fn(y, p)`` over resamples stratified by class."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    values = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        values.append(fn(y[idx], p[idx]))
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return (float("nan"), float("nan"))
    return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))


def binary_metrics(y_true: np.ndarray, p_positive: np.ndarray, *, threshold: float = 0.5,
                   n_boot: int = 2000, seed: int = 0) -> dict:
    """Accuracy, sensitivity, specificity, balanced accuracy, ROC AUC and ECE with 95% intervals.

    Proportions get Wilson intervals; balanced accuracy, AUC and ECE get stratified
    percentile-bootstrap intervals (``n_boot`` resamples, seeded).

    Args:
        y_true: (N,) 0/1 truth (1 = PNEUMONIA).
        p_positive: (N,) predicted P(positive) in [0, 1].
        threshold: decision threshold on ``p_positive``.
        n_boot: bootstrap resamples.
        seed: bootstrap seed.

    Returns:
        Dict with ``n``, ``counts`` (TP/TN/FP/FN), and for each metric a dict
        ``{value, ci_low, ci_high, n, interval}``; ``small_split_warning`` when
        N < :data:`SMALL_SPLIT`.
    """
    y, p = _check_binary(y_true, p_positive)
    pred = (p >= threshold).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())

    def proportion(k: int, n: int) -> dict:
        low, high = wilson_interval(k, n)
        return {"value": k / n if n else float("nan"), "ci_low": low, "ci_high": high, "n": n,
                "interval": "wilson95"}

    def boot(fn_, value: float) -> dict:
        low, high = _bootstrap(fn_, y, p, n_boot, seed) if len(y) > 1 else (float("nan"), float("nan"))
        return {"value": value, "ci_low": low, "ci_high": high, "n": int(len(y)), "interval": "bootstrap95"}

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


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def format_metric(m: dict, percent: bool = True) -> str:
    """``87.5% (95% CI 64.0-96.5%, n=16)`` style text for one metric dict.

    Accepts the dicts of :func:`binary_metrics`, also after a JSON round trip
    (NaN stored as None); a missing value prints ``n/a``, a missing interval is left out.
    """
    value = m.get("value")
    if _missing(value):
        return "n/a"
    scale, unit, spec = (100.0, "%", ".1f") if percent else (1.0, "", ".3f")
    text = f"{scale * float(value):{spec}}{unit}"
    low, high = m.get("ci_low"), m.get("ci_high")
    if not _missing(low) and not _missing(high):
        text += f" (95% CI {scale * float(low):{spec}}-{scale * float(high):{spec}}{unit}"
        text += f", n={m['n']})" if "n" in m else ")"
    elif "n" in m:
        text += f" (n={m['n']})"
    return text
