"""Has the model learned anything? A check every report opens with.

A failure investigation of a model that is no better than chance explains noise:
its "errors" are not failures of a learned rule. The model is called out when, on
the largest split with metrics, the 95% interval of its ROC AUC reaches 0.5 or
below (it cannot be told apart from chance, or it is worse), or when it predicts
one class for (almost) every image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

#: Share of images given the same predicted class above which a model "predicts one class for everything".
ONE_CLASS_SHARE = 0.95
CHANCE_AUC = 0.5


@dataclass(frozen=True)
class ChanceCheck:
    """Outcome of :func:`chance_check`.

    Attributes:
        no_better_than_chance: True when any reason holds.
        reasons: one sentence per reason (empty when the model passes).
        split: the split judged; n: its images.
        roc_auc, ci_low, ci_high: its ROC AUC with 95% interval (None when undefined).
        majority_share: share of images given the most frequent predicted class.
    """

    no_better_than_chance: bool
    reasons: tuple[str, ...]
    split: str
    n: int
    roc_auc: float | None
    ci_low: float | None
    ci_high: float | None
    majority_share: float

    def to_dict(self) -> dict:
        out = asdict(self)
        out["reasons"] = list(self.reasons)
        return out


def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if v == v else None


def chance_check(metrics_by_split: Mapping[str, Mapping]) -> ChanceCheck | None:
    """Judge the model on the largest split of ``metrics_by_split`` (``stats.classification.binary_metrics`` dicts).

    Returns:
        :class:`ChanceCheck`, or None when no split has metrics.
    """
    splits = {k: v for k, v in metrics_by_split.items() if isinstance(v, Mapping) and v.get("counts")}
    if not splits:
        return None
    # the largest split with a defined AUC (a one-class split has none), else the largest split
    split, m = max(splits.items(), key=lambda kv: (_num((kv[1].get("roc_auc") or {}).get("value")) is not None,
                                                   int(kv[1].get("n", 0))))
    c = m["counts"]
    n = int(m.get("n", sum(int(v) for v in c.values())))
    pred_pos = int(c.get("TP", 0)) + int(c.get("FP", 0))
    majority = max(pred_pos, n - pred_pos) / n if n else float("nan")
    auc = m.get("roc_auc") or {}
    value, low, high = _num(auc.get("value")), _num(auc.get("ci_low")), _num(auc.get("ci_high"))
    reasons = []
    if value is not None and low is not None and low <= CHANCE_AUC:
        worse = " (worse than chance)" if value < CHANCE_AUC else ""
        reasons.append(f"on the {split} split (n={n}) its ROC AUC is {value:.2f}{worse} and the 95% interval "
                       f"{low:.2f}-{high:.2f} reaches {CHANCE_AUC}")
    if n and majority >= ONE_CLASS_SHARE:
        cls = "PNEUMONIA" if pred_pos >= n - pred_pos else "NORMAL"
        reasons.append(f"it predicts {cls} for {100 * majority:.0f}% of the {n} images of the {split} split")
    return ChanceCheck(bool(reasons), tuple(reasons), str(split), n, value, low, high, float(majority))
