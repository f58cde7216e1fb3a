"""Verdicts on the hypotheses about false positives: one pre-declared primary test each.

Each hypothesis (blur, contrast, cues outside the lungs) is judged by ONE test,
declared in :mod:`stats.primary` before any result is read: the two-sided
Mann-Whitney test of its primary metric between false positives and true
negatives (true NORMAL images only). The three primary p-values are corrected
together with Holm (:func:`stats.multiplicity.holm`), which
controls the chance of any false claim among the three. A hypothesis is

* SUPPORTED when its Holm-adjusted p (``q``) < alpha and the rank-biserial
  points the hypothesised way (r > 0: FPs have larger values),
* OPPOSITE when significant with the other sign,
* NO EVIDENCE otherwise (a null result, reported with the minimal detectable
  effect at the Bonferroni level alpha / 3, Holm's strictest step),
* NOT TESTED when the primary column is absent or a group has < 2 values.

Every other metric (quality whole / lung / outside, other localisation
statistics) is EXPLORATORY: effect, CI and a Benjamini-Hochberg q within the
exploratory family, clearly labelled and never turning a verdict. The
exploratory finding the report headlines is chosen on one random
patient-grouped half of the NORMAL images and tested once on the other half
(:func:`confirm_exploratory`), split before any test is run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from data.errors import ConfigError
from stats._table import NORMAL, jsonable, numeric_column
from stats.compare import compare_groups
from stats.power import minimal_detectable_effect
from stats.primary import PRIMARY_METRICS
from stats.multiplicity import benjamini_hochberg, holm

SUPPORTED, OPPOSITE, NO_EVIDENCE, NOT_TESTED = "supported", "opposite", "no evidence", "not tested"
PRIMARY, EXPLORATORY = "primary", "exploratory"
_SUFFIXES = ("", "_lung", "_outside")
#: Minimum FP and TN values in each is_224_copy stratum for a stratified test.
MIN_STRATUM = 2


@dataclass(frozen=True)
class Hypothesis:
    """A hypothesised driver of false positives.

    Attributes:
        key: identifier, a key of :data:`stats.primary.PRIMARY_METRICS`.
        claim: the hypothesis in words.
        directions: metric base name -> +1 (FPs higher) or -1 (FPs lower); the
            primary metric's sign is read from here too.
        family: ``'quality'`` or ``'localisation'``.
        suffix_match: match ``{base}``, ``{base}_lung``, ``{base}_outside`` (quality);
            otherwise ``directions`` keys are suffixes matched with ``endswith`` (saliency).
    """

    key: str
    claim: str
    directions: dict[str, int]
    family: str
    suffix_match: bool = True

    @property
    def primary_metric(self) -> str:
        """The pre-declared primary column (:data:`stats.primary.PRIMARY_METRICS`)."""
        return PRIMARY_METRICS[self.key]

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
               {"q_laplacian_var": -1, "q_highfreq_share": -1, "q_highfreq_power": -1, "q_blur_effect": +1},
               "quality"),
    Hypothesis("contrast", "low contrast drives false positives (FPs lower-contrast than TNs)",
               {"q_rms_contrast": -1, "q_michelson": -1, "q_dynamic_range": -1}, "quality"),
    Hypothesis("saliency_outside_lungs",
               "cues outside the lungs drive false positives (FP saliency less concentrated in the lungs)",
               {"_lung_rank_ratio_k5": -1, "_lung_rank_ratio_k10": -1, "_lung_rank_ratio_k20": -1,
                "_lung_share": -1, "_peak_in_lung": -1}, "localisation", suffix_match=False),
)


@dataclass(frozen=True)
class MetricTest:
    """FP vs TN comparison of one metric (true NORMAL images).

    Attributes:
        metric: column of the per-image table.
        role: ``'primary'`` or ``'exploratory'``.
        hypothesis: the hypothesis the metric belongs to (None: none).
        direction: hypothesised sign (+1 FPs higher, -1 lower, 0 none).
        n_fp, n_tn: non-NaN values used; medians of each group.
        rank_biserial: ``2 U_FP / (n_fp n_tn) - 1`` (positive: FPs larger); ci_low/ci_high its
            seeded 95 % bootstrap percentile interval (:func:`stats.compare.compare_groups`).
        p_value: two-sided Mann-Whitney p (scipy defaults).
        q_value: Holm-adjusted p (primary) or BH q within the exploratory family.
        correction: ``'holm'`` or ``'bh'``.
        mde_rank_biserial, mde_cohens_d: smallest |effect| detectable with 80 % power at
            ``mde_alpha`` (alpha / number of primaries for a primary, alpha otherwise).
        status: supported / opposite / no evidence / not tested (primary), or
            finding / no finding / not tested (exploratory).
        reason: why not tested, else None.
    """

    metric: str
    role: str
    hypothesis: str | None
    direction: int
    n_fp: int
    n_tn: int
    median_fp: float
    median_tn: float
    rank_biserial: float
    ci_low: float
    ci_high: float
    p_value: float
    q_value: float
    correction: str
    mde_rank_biserial: float
    mde_cohens_d: float
    mde_alpha: float
    status: str
    reason: str | None = None


@dataclass(frozen=True)
class StratumTest:
    """The primary comparison inside one ``is_224_copy`` stratum (descriptive, not in the Holm family)."""

    stratum: str
    n_fp: int
    n_tn: int
    rank_biserial: float
    ci_low: float
    ci_high: float
    p_value: float
    reason: str | None = None


@dataclass(frozen=True)
class HypothesisVerdict:
    """The verdict on one hypothesis: its primary test, strata and exploratory companions."""

    hypothesis: str
    claim: str
    primary_metric: str
    status: str
    statement: str
    summary: str
    primary: MetricTest
    strata: tuple[StratumTest, ...] = ()
    exploratory: tuple[MetricTest, ...] = ()

    @property
    def metrics(self) -> tuple[MetricTest, ...]:
        return (self.primary, *self.exploratory)


@dataclass(frozen=True)
class Confirmation:
    """An exploratory headline chosen on one half of the data and tested once on the other.

    Attributes:
        method: how the confirmation data were kept apart (e.g. ``'held-out half'``).
        seed: seed of the patient-grouped split.
        n_groups_discovery, n_groups_confirmation: patients in each half.
        metric: the exploratory metric with the smallest p on the discovery half (None: none testable).
        discovery_r, discovery_p: its rank-biserial and p there.
        confirm: its test on the held-out half (same metric, one test, two-sided).
        confirmed: p < alpha on the held-out half with the discovery sign.
        statement: one sentence for the report.
    """

    method: str
    seed: int
    n_groups_discovery: int
    n_groups_confirmation: int
    metric: str | None
    discovery_r: float
    discovery_p: float
    confirm_r: float
    confirm_ci_low: float
    confirm_ci_high: float
    confirm_p: float
    confirm_n_fp: int
    confirm_n_tn: int
    confirmed: bool
    statement: str


@dataclass(frozen=True)
class VerdictReport:
    """Everything the report says about the hypotheses, in the order it says it."""

    declaration: str
    alpha: float
    hypotheses: tuple[HypothesisVerdict, ...]
    exploratory: tuple[MetricTest, ...]
    confirmation: Confirmation | None = None
    geometry: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """JSON-safe nested dict (NaN -> None)."""
        out = asdict(self)
        for h, v in zip(out["hypotheses"], self.hypotheses):
            h["metrics"] = [asdict(m) for m in v.metrics]  # the report's per-hypothesis table
        return jsonable(out)


def declaration(hypotheses: Sequence[Hypothesis] = HYPOTHESES) -> str:
    """The primary choice in words, stated before any result."""
    parts = [f"{h.key}: {h.primary_metric} ({'lower' if h.direction_of(h.primary_metric) < 0 else 'higher'} "
             "in FPs)" for h in hypotheses]
    return ("Pre-declared primary tests (one per hypothesis, chosen before any result was read; "
            "stats/primary.py): " + "; ".join(parts) + f". The {len(parts)} primary p-values (two-sided "
            "Mann-Whitney, FP vs TN within true NORMAL) are corrected together with Holm. Every other metric is "
            "exploratory: effect, 95% CI and a Benjamini-Hochberg q within the exploratory family, never a verdict.")


def _fp_tn(table: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    values = numeric_column(table, metric)
    outcome = table["outcome"].to_numpy()
    return values[outcome == "FP"], values[outcome == "TN"]


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def _test(table: pd.DataFrame, metric: str, *, role: str, hypothesis: str | None, direction: int,
          mde_alpha: float, n_boot: int, seed: int | None) -> dict:
    if metric not in table.columns:
        return dict(metric=metric, role=role, hypothesis=hypothesis, direction=direction, n_fp=0, n_tn=0,
                    median_fp=math.nan, median_tn=math.nan, rank_biserial=math.nan, ci_low=math.nan,
                    ci_high=math.nan, p_value=math.nan, mde_rank_biserial=math.nan, mde_cohens_d=math.nan,
                    mde_alpha=mde_alpha, reason=f"column {metric} absent from the table")
    fp, tn = _fp_tn(table, metric)
    cmp = compare_groups(fp, tn, n_boot=n_boot, seed=seed)
    mde = minimal_detectable_effect(cmp.n1, cmp.n2, alpha=mde_alpha)
    return dict(metric=metric, role=role, hypothesis=hypothesis, direction=direction, n_fp=cmp.n1, n_tn=cmp.n2,
                median_fp=cmp.median1, median_tn=cmp.median2, rank_biserial=cmp.rank_biserial,
                ci_low=cmp.ci_low, ci_high=cmp.ci_high, p_value=cmp.p_value,
                mde_rank_biserial=mde.rank_biserial, mde_cohens_d=mde.cohens_d, mde_alpha=mde_alpha,
                reason=cmp.reason)


def _primary_status(t: dict, alpha: float) -> str:
    if t["reason"] or math.isnan(t["q_value"]):
        return NOT_TESTED
    if t["q_value"] < alpha:
        return SUPPORTED if (t["rank_biserial"] > 0) == (t["direction"] > 0) else OPPOSITE
    return NO_EVIDENCE


def _numbers(m: MetricTest, q_name: str) -> str:
    return (f"FP n={m.n_fp} median {_fmt(m.median_fp)} vs TN n={m.n_tn} median {_fmt(m.median_tn)}; "
            f"rank-biserial r = {_fmt(m.rank_biserial, 2)} (95% CI {_fmt(m.ci_low, 2)} to {_fmt(m.ci_high, 2)}), "
            f"p = {_fmt(m.p_value, 2)}, {q_name} = {_fmt(m.q_value, 2)}")


def _statement(h: Hypothesis, m: MetricTest, exploratory: Sequence[MetricTest], alpha: float) -> tuple[str, str]:
    word = "lower" if m.direction < 0 else "higher"
    heads = {SUPPORTED: "SUPPORTED by its primary test",
             OPPOSITE: "NOT supported: the primary test points the OPPOSITE way",
             NO_EVIDENCE: "NOT supported: no evidence at this sample size (a null result)",
             NOT_TESTED: "NOT TESTED"}
    head = heads[m.status]
    if m.status == NOT_TESTED:
        detail = f"Primary metric {m.metric} not tested ({m.reason or 'statistic undefined'})."
    else:
        detail = f"Primary metric {m.metric} (hypothesis: {word} in FPs): {_numbers(m, 'Holm q')}."
        if m.status == NO_EVIDENCE:
            detail += (f" Effects smaller than |r| = {_fmt(m.mde_rank_biserial, 2)} could not be detected (80% power"
                       f" at alpha {_fmt(m.mde_alpha, 2)}, the Holm/Bonferroni level for the first step).")
    found = [e for e in exploratory if e.status == "finding"]
    if found:
        detail += (" Exploratory (not a test of the hypothesis): " + "; ".join(
            f"{e.metric} r = {_fmt(e.rank_biserial, 2)} [{_fmt(e.ci_low, 2)}, {_fmt(e.ci_high, 2)}], BH q = "
            f"{_fmt(e.q_value, 2)}" for e in found) + ".")
    summary = (f"{head}. Primary {m.metric}: r = {_fmt(m.rank_biserial, 2)}, Holm q = {_fmt(m.q_value, 2)}; "
               f"{len(found)} of {len(exploratory)} exploratory metrics with BH q < {alpha:g}.")
    return f"Hypothesis that {h.claim}: {head}. {detail}", summary


def _strata(table: pd.DataFrame, metric: str, *, n_boot: int, seed: int | None) -> tuple[StratumTest, ...]:
    """FP vs TN within each ``is_224_copy`` stratum when both strata have data."""
    if "is_224_copy" not in table.columns or metric not in table.columns:
        return ()
    copy = pd.to_numeric(table["is_224_copy"], errors="coerce").to_numpy()
    out = []
    for value, name in ((1.0, "224x224 copies"), (0.0, "other sizes")):
        part = table[copy == value]
        fp, tn = _fp_tn(part, metric) if len(part) else (np.array([]), np.array([]))
        fp, tn = fp[~np.isnan(fp)], tn[~np.isnan(tn)]
        if min(fp.size, tn.size) < MIN_STRATUM:
            out.append(StratumTest(name, int(fp.size), int(tn.size), math.nan, math.nan, math.nan, math.nan,
                                   reason=f"{fp.size} FP and {tn.size} TN: need {MIN_STRATUM} of each"))
            continue
        c = compare_groups(fp, tn, n_boot=n_boot, seed=seed)
        out.append(StratumTest(name, c.n1, c.n2, c.rank_biserial, c.ci_low, c.ci_high, c.p_value))
    return tuple(out)


def _hypothesis_of(metric: str, hypotheses: Sequence[Hypothesis]) -> tuple[str | None, int]:
    for h in hypotheses:
        sign = h.direction_of(metric)
        if sign is not None:
            return h.key, sign
    return None, 0


def patient_groups(table: pd.DataFrame) -> np.ndarray:
    """Patient of each row: ``patient_id`` when present, else parsed from the ``image_id`` file name."""
    if "patient_id" in table.columns:
        return table["patient_id"].astype(str).to_numpy()
    from data.scan import parse_patient_id

    return np.array([parse_patient_id(PurePosixPath(str(i)).name) for i in table["image_id"]])


def confirm_exploratory(table: pd.DataFrame, metrics: Sequence[str], *, seed: int = 0, alpha: float = 0.05,
                        n_boot: int = 2000) -> Confirmation:
    """Pick the exploratory headline on one patient-grouped half and test it once on the other.

    The true NORMAL patients are split into two random halves with
    ``numpy.random.default_rng(seed)`` BEFORE any test. On the discovery half
    every metric of ``metrics`` is compared FP vs TN; the smallest p wins. Only
    that metric is tested on the confirmation half.

    Returns:
        :class:`Confirmation` (``metric`` None when nothing was testable).
    """
    normal = table[table["label"] == NORMAL]
    groups = patient_groups(normal)
    unique = np.unique(groups)
    rng = np.random.default_rng(seed)
    half = set(rng.permutation(unique)[: len(unique) // 2].tolist())
    in_disc = np.array([g in half for g in groups], bool)
    disc, conf = normal[in_disc], normal[~in_disc]
    n_d, n_c = len(half), len(unique) - len(half)
    best, best_p, best_r = None, math.inf, math.nan
    for m in metrics:
        if m not in table.columns:
            continue
        fp, tn = _fp_tn(disc, m)
        c = compare_groups(fp, tn, n_boot=0)
        if not math.isnan(c.p_value) and c.p_value < best_p:
            best, best_p, best_r = m, c.p_value, c.rank_biserial
    method = "held-out half (random patient-grouped split of the true NORMAL images, made before any test)"
    if best is None:
        return Confirmation(method, int(seed), n_d, n_c, None, math.nan, math.nan, math.nan, math.nan, math.nan,
                            math.nan, 0, 0, False, "No exploratory metric was testable on the discovery half.")
    fp, tn = _fp_tn(conf, best)
    c = compare_groups(fp, tn, n_boot=n_boot, seed=seed)
    ok = (not math.isnan(c.p_value)) and c.p_value < alpha and (c.rank_biserial > 0) == (best_r > 0)
    word = "CONFIRMED" if ok else "NOT confirmed"
    statement = (f"Exploratory headline {best} was chosen on a random half of the NORMAL patients ({n_d} patients; "
                 f"r = {_fmt(best_r, 2)}, p = {_fmt(best_p, 2)}) and tested once on the held-out half ({n_c} patients,"
                 f" FP n={c.n1}, TN n={c.n2}): r = {_fmt(c.rank_biserial, 2)} (95% CI {_fmt(c.ci_low, 2)} to "
                 f"{_fmt(c.ci_high, 2)}), p = {_fmt(c.p_value, 2)} -> {word} on data it was not found on.")
    return Confirmation(method, int(seed), n_d, n_c, best, best_r, best_p, c.rank_biserial, c.ci_low, c.ci_high,
                        c.p_value, c.n1, c.n2, bool(ok), statement)


def primary_verdicts(table: pd.DataFrame, *, exploratory_metrics: Sequence[str] = (), alpha: float = 0.05,
                     n_boot: int = 2000, seed: int | None = 0, geometry: str = "",
                     hypotheses: Sequence[Hypothesis] = HYPOTHESES, confirm: bool = True) -> VerdictReport:
    """Judge every hypothesis by its primary test (Holm across the primaries); the rest is exploratory.

    Args:
        table: aligned per-image table (``image_id``, ``label``, ``outcome`` and metric columns);
            implausible-mask rows already blanked in lung columns.
        exploratory_metrics: other columns to report as exploratory (primaries are skipped).
        alpha: family-wise level of the primary family and the BH level of the exploratory one.
        n_boot, seed: bootstrap of every rank-biserial interval.
        geometry: sentence on the geometry covariates (for the report).
        hypotheses: what to judge.
        confirm: run :func:`confirm_exploratory` on the exploratory metrics.

    Returns:
        :class:`VerdictReport`.
    """
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}")
    m_primary = len(hypotheses)
    prim = [_test(table, h.primary_metric, role=PRIMARY, hypothesis=h.key,
                  direction=h.direction_of(h.primary_metric) or 0, mde_alpha=alpha / m_primary,
                  n_boot=n_boot, seed=seed) for h in hypotheses]
    q = holm([t["p_value"] for t in prim])
    for t, qv in zip(prim, q):
        t.update(q_value=float(qv), correction="holm")
        t["status"] = _primary_status(t, alpha)
    primaries = {h.primary_metric for h in hypotheses}
    others = [m for m in dict.fromkeys(exploratory_metrics) if m not in primaries and m in table.columns]
    expl = []
    for m in others:
        key, sign = _hypothesis_of(m, hypotheses)
        expl.append(_test(table, m, role=EXPLORATORY, hypothesis=key, direction=sign, mde_alpha=alpha,
                          n_boot=n_boot, seed=seed))
    qe = benjamini_hochberg(np.array([t["p_value"] for t in expl], float)) if expl else np.array([])
    for t, qv in zip(expl, qe):
        t.update(q_value=float(qv), correction="bh")
        sig = (not math.isnan(qv)) and qv < alpha and not (math.isnan(t["ci_low"]) or math.isnan(t["ci_high"])) \
            and (t["ci_low"] > 0 or t["ci_high"] < 0)
        t["status"] = NOT_TESTED if t["reason"] else ("finding" if sig else "no finding")
    expl_tests = tuple(MetricTest(**t) for t in expl)
    verdicts = []
    for h, t in zip(hypotheses, prim):
        m = MetricTest(**t)
        mine = tuple(e for e in expl_tests if e.hypothesis == h.key)
        statement, summary = _statement(h, m, mine, alpha)
        verdicts.append(HypothesisVerdict(h.key, h.claim, h.primary_metric, m.status, statement, summary, m,
                                          _strata(table, h.primary_metric, n_boot=n_boot, seed=seed), mine))
    confirmation = confirm_exploratory(table, others, seed=seed or 0, alpha=alpha, n_boot=n_boot) \
        if confirm and others else None
    notes = ("The is_224_copy strata are descriptive (not in the Holm family): they show whether a primary "
             "effect holds within films of one storage geometry.",)
    return VerdictReport(declaration(hypotheses), float(alpha), tuple(verdicts), expl_tests, confirmation,
                         geometry, notes)
