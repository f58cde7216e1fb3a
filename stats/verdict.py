"""Plain-language verdicts: do the data support blur / contrast / out-of-lung cues driving false positives?

Each hypothesis is judged on the FP vs TN rows (true NORMAL images only) of a
:func:`stats.compare.within_class_comparisons` frame. A metric SUPPORTS the
hypothesis when ``q < alpha`` *and* the bootstrap CI of the rank-biserial
excludes 0 *and* the sign is the hypothesised one (rank-biserial > 0 means FPs
have larger values than TNs); it points the OPPOSITE way when significant with
the other sign; otherwise there is NO EVIDENCE at this sample size, reported
with the minimal detectable effect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from stats._table import nan_to_none
from stats.primary import PRIMARY_METRICS

SUPPORTED, OPPOSITE, NO_EVIDENCE, NOT_TESTED, MIXED = (
    "supported", "opposite", "no evidence", "not tested", "mixed")
_SUFFIXES = ("", "_lung", "_outside")


@dataclass(frozen=True)
class Hypothesis:
    """A hypothesised driver of false positives.

    Attributes:
        key: short identifier (``'blur'``, ``'contrast'``, ``'saliency_outside_lungs'``).
        claim: the hypothesis in words.
        directions: metric base name -> +1 (FPs higher) or -1 (FPs lower).
        family: ``'quality'`` or ``'localisation'`` (which comparison table to read).
        suffix_match: also match ``{base}_lung`` / ``{base}_outside`` variants (quality);
            otherwise ``directions`` keys are suffixes matched with ``endswith`` (saliency).
    """

    key: str
    claim: str
    directions: dict[str, int]
    family: str
    suffix_match: bool = True

    def direction_of(self, metric: str) -> int | None:
        """Hypothesised sign for ``metric``, or None when the metric is not part of it."""
        for base, sign in self.directions.items():
            if self.suffix_match and any(metric == base + s for s in _SUFFIXES):
                return sign
            if not self.suffix_match and metric.endswith(base):
                return sign
        return None


HYPOTHESES = (
    Hypothesis("blur", "blur drives false positives (FPs blurrier than TNs)",
               {"q_laplacian_var": -1, "q_highfreq_share": -1, "q_blur_effect": +1}, "quality"),
    Hypothesis("contrast", "low contrast drives false positives (FPs lower-contrast than TNs)",
               {"q_rms_contrast": -1, "q_michelson": -1, "q_dynamic_range": -1}, "quality"),
    Hypothesis("saliency_outside_lungs",
               "cues outside the lungs drive false positives (less FP saliency inside the lungs)",
               {PRIMARY_METRICS["saliency_outside_lungs"]: -1}, "localisation", suffix_match=False),
)


def _f(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def _judge_metric(row: pd.Series, sign: int, alpha: float) -> dict:
    """Classify one FP vs TN row and phrase it."""
    metric, r, lo, hi = row["metric"], row["rank_biserial"], row["ci_low"], row["ci_high"]
    q, mde = row["q_value"], row["mde_rank_biserial"]
    word = "lower" if sign < 0 else "higher"
    info = {
        "metric": metric, "hypothesised_direction": f"{word} in FPs",
        "n_fp": int(row["n1"]), "n_tn": int(row["n2"]),
        "median_fp": nan_to_none(row["median1"]), "median_tn": nan_to_none(row["median2"]),
        "rank_biserial": nan_to_none(r), "ci_low": nan_to_none(lo), "ci_high": nan_to_none(hi),
        "p_value": nan_to_none(row["p_value"]), "q_value": nan_to_none(q),
        "mde_rank_biserial": nan_to_none(mde),
    }
    if isinstance(row["reason"], str) or any(pd.isna(v) for v in (r, q)):
        why = row["reason"] if isinstance(row["reason"], str) else "statistic undefined"
        info.update(status=NOT_TESTED, text=f"{metric}: not tested ({why}).")
        return info
    nums = (f"FP n={int(row['n1'])} median {_f(row['median1'])} vs TN n={int(row['n2'])} median "
            f"{_f(row['median2'])}; rank-biserial r = {_f(r, 2)} (95% CI {_f(lo, 2)} to {_f(hi, 2)}), "
            f"p = {_f(row['p_value'], 2)}, q = {_f(q, 2)}")
    significant = q < alpha and not pd.isna(lo) and not pd.isna(hi) and (lo > 0 or hi < 0)
    if significant and (r > 0) == (sign > 0):
        info.update(status=SUPPORTED, text=f"{metric}: SUPPORTED, {word} in FPs as hypothesised ({nums}).")
    elif significant:
        other = "higher" if sign < 0 else "lower"
        info.update(status=OPPOSITE,
                    text=f"{metric}: OPPOSITE direction, {other} in FPs than TNs ({nums}).")
    else:
        info.update(status=NO_EVIDENCE,
                    text=f"{metric}: no evidence at this sample size ({nums}); effects smaller than "
                         f"|r| = {_f(mde, 2)} (|d| = {_f(row['mde_cohens_d'], 2)}) could not be detected "
                         "(80% power, alpha 0.05).")
    return info


def _count_line(judged: list[dict]) -> str:
    """'Of 9 metrics: 3 supported (a, b, c), 6 no evidence.' from per-metric judgements."""
    if not judged:
        return "No matching metric in the table."
    parts = []
    for status in (SUPPORTED, OPPOSITE, NO_EVIDENCE, NOT_TESTED):
        names = [m["metric"] for m in judged if m["status"] == status]
        if names:
            listed = f" ({', '.join(names)})" if status in (SUPPORTED, OPPOSITE) else ""
            parts.append(f"{len(names)} {status}{listed}")
    return f"Of {len(judged)} metrics: {', '.join(parts)}."


def judge(hypothesis: Hypothesis, frame: pd.DataFrame, *, alpha: float = 0.05) -> dict:
    """Verdict on one hypothesis from a within-class comparison frame.

    Args:
        hypothesis: what to judge.
        frame: output of :func:`stats.compare.within_class_comparisons` (may be empty).
        alpha: threshold on the BH q-value.

    Returns:
        dict with ``hypothesis, claim, status`` (supported / mixed / opposite /
        no evidence / not tested), ``statement`` (plain language with the
        numbers), ``summary`` (one line: the verdict and how many metrics said
        what) and ``metrics`` (per-metric details).
    """
    rows = frame[frame["comparison"] == "FP vs TN"] if len(frame) else frame
    judged = []
    for _, row in rows.iterrows():
        sign = hypothesis.direction_of(str(row["metric"]))
        if sign is not None:
            judged.append(_judge_metric(row, sign, alpha))
    statuses = {m["status"] for m in judged}
    if SUPPORTED in statuses and OPPOSITE in statuses:
        status, head = MIXED, "MIXED: some metrics support it, others point the opposite way"
    elif SUPPORTED in statuses:
        status, head = SUPPORTED, "SUPPORTED by the data"
    elif OPPOSITE in statuses:
        status, head = OPPOSITE, "NOT supported: the data point the OPPOSITE way"
    elif NO_EVIDENCE in statuses:
        status, head = NO_EVIDENCE, "NOT supported: no evidence at this sample size (a null result)"
    else:
        status, head = NOT_TESTED, "NOT TESTED"
    if not judged:
        detail = "No matching metric in the table."
    else:
        tested = [m["text"] for m in judged if m["status"] != NOT_TESTED]
        untested = [m for m in judged if m["status"] == NOT_TESTED]
        if untested:  # one sentence for all untested metrics: their reasons are usually one and the same
            reasons = sorted({m["text"].split("not tested (", 1)[-1].rstrip(").") for m in untested})
            tested.append(f"{len(untested)} metric(s) not tested ({'; '.join(reasons)}).")
        detail = " ".join(tested)
    statement = f"Hypothesis that {hypothesis.claim}: {head}. {detail}"
    return {"hypothesis": hypothesis.key, "claim": hypothesis.claim, "status": status,
            "statement": statement, "summary": f"{head}. {_count_line(judged)}", "metrics": [{k: v for k, v in m.items() if k != "text"} for m in judged]}


def verdicts(quality: pd.DataFrame, localisation: pd.DataFrame, *, alpha: float = 0.05,
             hypotheses: Sequence[Hypothesis] = HYPOTHESES) -> list[dict]:
    """Verdicts for every hypothesis (quality ones read ``quality``, saliency ones ``localisation``)."""
    frames = {"quality": quality, "localisation": localisation}
    return [judge(h, frames[h.family], alpha=alpha) for h in hypotheses]
