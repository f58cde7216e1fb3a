"""Report pieces of issue 14: the header warnings (one per fact) and the per-error context table.

Draws results computed elsewhere (``stats.context``, ``stats.chance``); computes nothing statistical.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from stats.chance import ChanceCheck
from stats.context import PerErrorContext
from stats.primary import PRIMARY_METRICS
from stats.verdict import HypothesisVerdict

#: Primary metric column -> short label in the context table.
METRIC_LABELS = {
    PRIMARY_METRICS["blur"]: "blur: Laplacian variance",
    PRIMARY_METRICS["contrast"]: "contrast: RMS contrast",
    PRIMARY_METRICS["saliency_outside_lungs"]: "localisation: Grad-CAM lung rank ratio (top 10%)",
}


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def ordinal(p: float) -> str:
    """``12.3`` -> ``12th``; rounds to an integer percentile."""
    k = int(round(p))
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def chance_warning(model_check: ChanceCheck | None) -> str | None:
    """The warning the report opens with when the model is no better than chance."""
    if not model_check or not model_check.no_better_than_chance:
        return None
    return ("MODEL NO BETTER THAN CHANCE: " + "; ".join(model_check.reasons) + ". Every verdict "
            "below rests on a model no better than chance: its errors are not the failures of a learned rule, "
            "so no finding here says why a working model fails.")


def untestable_warning(context: PerErrorContext | None) -> str | None:
    """One warning naming the within-class comparisons that cannot be tested and what is shown instead."""
    if not context:
        return None
    missing = {k: v for k, v in context.testable.items() if v}
    if not missing:
        return None
    what = "; ".join(f"{k} ({v})" for k, v in missing.items())
    if context.rows:
        instead = (f" Instead, the per-error context places each error among the correctly classified images of "
                   f"its own true class in the {context.pool or 'reference pool'} "
                   f"({_pool_sizes(context)}): a percentile per primary metric, description rather than a test.")
    else:
        instead = " No reference pool was available to place the errors in context."
    return f"WITHIN-CLASS TESTS NOT POSSIBLE on this split: {what}.{instead}"


def _pool_sizes(context: PerErrorContext) -> str:
    return ", ".join(f"{n} correct {cls}" for cls, n in context.pool_by_class.items()) or "size unknown"


def caption_context(context: PerErrorContext | None, image_id: str) -> list[str]:
    """Panel caption lines: the error's percentile on each primary metric among its pool."""
    rows = [r for r in context.rows if r.image_id == image_id] if context else []
    if not rows:
        return []
    parts = []
    for r in rows:
        label = METRIC_LABELS.get(r.metric, r.metric).split(": ")[-1]
        parts.append(f"{label} n/a (pool n={r.pool_n})" if _missing(r.percentile) else
                     f"{label} {ordinal(r.percentile)} pct (n={r.pool_n})")
    return [f"Context among correct {rows[0].true_class} images of the {context.pool}: " + "; ".join(parts)]


def context_table(context: PerErrorContext | None) -> tuple[list[str], list[list[str]], str]:
    """(headers, rows, intro) of the per-error context table (rows empty when there is nothing to show)."""
    if not context or not context.rows:
        return [], [], "No per-error context: no errors, or no reference pool (--context-pool none)."
    metrics = list(dict.fromkeys(r.metric for r in context.rows))
    by_image: dict[str, dict] = {}
    for r in context.rows:
        by_image.setdefault(r.image_id, {"outcome": r.outcome, "true_class": r.true_class})[r.metric] = r
    headers = ["image", "outcome", "true class"] + [METRIC_LABELS.get(m, m) for m in metrics]
    rows = []
    for image_id, info in by_image.items():
        cells = [image_id, info["outcome"], info["true_class"]]
        for m in metrics:
            r = info.get(m)
            if r is None or (_missing(r.value) and not r.pool_n):
                cells.append("not available")
            elif _missing(r.value):
                cells.append("not measured (e.g. implausible lung mask)")
            elif _missing(r.percentile):
                cells.append(f"{r.value:.3g} (pool n={r.pool_n}: no comparison)")
            else:
                cells.append(f"{r.value:.3g}: {ordinal(r.percentile)} percentile of n={r.pool_n} "
                             f"(median {r.pool_median:.3g})")
        rows.append(cells)
    intro = (f"Each error placed among the correctly classified images of its own true class in the "
             f"{context.pool} ({_pool_sizes(context)}). A percentile is the share of those images with a "
             "lower value (ties count half): a false positive at the 5th percentile of Laplacian variance is "
             "blurrier than 95% of correctly classified NORMAL films. Description of single images, not a test: "
             "no p-values, and no claim about errors in general.")
    return headers, rows, intro


def mark_verdicts(verdict: Sequence[HypothesisVerdict], model_check: ChanceCheck | None) -> list[HypothesisVerdict]:
    """Verdicts with their claim marked when the model is no better than chance (others unchanged)."""
    if not chance_warning(model_check):
        return list(verdict)
    return [replace(v, claim="[rests on a model no better than chance] " + v.claim) for v in verdict]
