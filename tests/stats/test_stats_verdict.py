"""Primary tests (Holm), exploratory labelling, held-out confirmation and TOST: planted truths and golden values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from stats.analysis import analyse
from stats.equivalence import tost_paired
from stats.primary import PRIMARY_METRICS
from stats.verdict import primary_verdicts
from helpers import GEOMETRY, LOCALISATION, QUALITY, make_table

COUNTS = {"TP": 150, "TN": 120, "FP": 40, "FN": 20}


def _by_key(report, key):
    return next(h for h in report.hypotheses if h.hypothesis == key)


def test_only_a_non_primary_metric_differs_gives_not_supported_and_an_exploratory_finding():
    df = make_table(COUNTS, seed=3, shifts={"q_highfreq_share": {"FP": -1.5}})
    report = primary_verdicts(df, exploratory_metrics=QUALITY + LOCALISATION, n_boot=200, seed=0)
    blur = _by_key(report, "blur")
    assert blur.status == "no evidence" and "NOT supported" in blur.statement
    hf = next(e for e in blur.exploratory if e.metric == "q_highfreq_share")
    assert hf.role == "exploratory" and hf.correction == "bh" and hf.status == "finding"
    assert hf.q_value < 0.05 and hf.ci_high < 0
    assert "Exploratory (not a test of the hypothesis): q_highfreq_share" in blur.statement
    # primaries are never in the exploratory family
    assert not {e.metric for e in report.exploratory} & set(PRIMARY_METRICS.values())
    json.dumps(report.to_dict(), allow_nan=False)


def test_report_states_the_primary_choice_and_holm_family():
    report = primary_verdicts(make_table(COUNTS, seed=1), exploratory_metrics=QUALITY, n_boot=0)
    for metric in PRIMARY_METRICS.values():
        assert metric in report.declaration
    assert "Holm" in report.declaration
    assert [h.primary.correction for h in report.hypotheses] == ["holm"] * 3


def _holm(p):
    """Holm step-down adjusted p-values, written out (no statsmodels)."""
    p = np.asarray(p, float)
    order = np.argsort(p)
    m = len(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adj[i] = min(1.0, running)
    return adj


def test_primary_tests_recomputed_from_table_csv_with_scipy_alone(tmp_path):
    shifts = {"q_laplacian_var": {"FP": -0.8}, "gradcam_lung_rank_ratio_k10": {"FP": -0.5}}
    df = make_table(COUNTS, seed=5, shifts=shifts)
    df.to_csv(tmp_path / "table.csv", index=False)
    table = pd.read_csv(tmp_path / "table.csv")
    out = analyse(table, quality_metrics=["q_laplacian_var", "q_rms_contrast"],
                  localisation_metrics=["gradcam_lung_rank_ratio_k10"], geometry=GEOMETRY, n_boot=2000, seed=0)
    mine = {v.primary_metric: v.primary for v in out.verdict}
    ps, rs, cis = [], [], []
    rng = np.random.default_rng(12345)  # an independent bootstrap, not the toolkit's draws
    for metric in PRIMARY_METRICS.values():
        fp = table.loc[table["outcome"] == "FP", metric].dropna().to_numpy()
        tn = table.loc[table["outcome"] == "TN", metric].dropna().to_numpy()
        res = sps.mannwhitneyu(fp, tn, alternative="two-sided")
        ps.append(res.pvalue)
        rs.append(2 * res.statistic / (fp.size * tn.size) - 1)
        a = fp[rng.integers(0, fp.size, (2000, fp.size))]
        b = tn[rng.integers(0, tn.size, (2000, tn.size))]
        ranks = sps.rankdata(np.concatenate([a, b], axis=1), axis=1)  # U of the FP group, per resample
        u = ranks[:, :fp.size].sum(axis=1) - fp.size * (fp.size + 1) / 2
        boots = 2 * u / (fp.size * tn.size) - 1
        cis.append(np.percentile(boots, [2.5, 97.5]))
    holm = _holm(ps)
    for k, metric in enumerate(PRIMARY_METRICS.values()):
        m = mine[metric]
        assert m.p_value == pytest.approx(ps[k], abs=1e-6)
        assert m.q_value == pytest.approx(holm[k], abs=1e-6)
        assert m.rank_biserial == pytest.approx(rs[k], abs=1e-6)
        assert m.ci_low == pytest.approx(cis[k][0], abs=0.04)
        assert m.ci_high == pytest.approx(cis[k][1], abs=0.04)


def test_is_224_copy_strata_reported_when_both_have_data():
    df = make_table(COUNTS, seed=1)
    df["is_224_copy"] = (np.arange(len(df)) % 3 != 0).astype(float)
    report = primary_verdicts(df, n_boot=50)
    strata = _by_key(report, "blur").strata
    assert [s.stratum for s in strata] == ["224x224 copies", "other sizes"]
    assert all(s.reason is None and s.n_fp >= 2 for s in strata)
    df["is_224_copy"] = 1.0
    strata = _by_key(primary_verdicts(df, n_boot=0), "blur").strata
    assert strata[1].reason is not None and np.isnan(strata[1].rank_biserial)


def test_exploratory_headline_is_confirmed_on_the_held_out_half():
    df = make_table({"TP": 50, "TN": 240, "FP": 80, "FN": 10}, seed=2, shifts={"q_entropy": {"FP": -1.2}})
    df["patient_id"] = [f"p{i // 2}" for i in range(len(df))]  # two images per patient
    report = primary_verdicts(df, exploratory_metrics=QUALITY, n_boot=200, seed=0)
    c = report.confirmation
    assert c.metric == "q_entropy" and c.confirmed and c.confirm_p < 0.05
    assert "held-out half" in c.method and "CONFIRMED" in c.statement
    assert c.n_groups_discovery + c.n_groups_confirmation == df.loc[df["label"] == "NORMAL", "patient_id"].nunique()


def test_patients_never_straddle_the_two_halves():
    from stats.verdict import patient_groups

    df = make_table({"TP": 10, "TN": 60, "FP": 30, "FN": 10}, seed=0)
    df["image_id"] = [f"test/NORMAL/IM-{i // 3:04d}-000{i % 3}.jpeg" for i in range(len(df))]
    groups = patient_groups(df)
    assert len(set(groups)) == (len(df) + 2) // 3


@pytest.mark.parametrize("seed", range(12))
def test_tost_equivalent_exactly_when_the_90_percent_ci_sits_inside_the_margin(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    a = rng.normal(rng.uniform(-0.4, 0.4), rng.uniform(0.05, 1.0), n)
    b = rng.normal(0, 0.05, n)
    margin = float(rng.uniform(0.1, 0.6))
    r = tost_paired(a, b, margin)
    d = a - b
    half = sps.t.ppf(0.95, n - 1) * d.std(ddof=1) / np.sqrt(n)
    assert (r.ci_low, r.ci_high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert r.equivalent == (-margin < r.ci_low and r.ci_high < margin)


def test_tost_wide_interval_around_zero_is_not_equivalence():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 2.0, 15)  # CI includes 0 but is far wider than the margin
    r = tost_paired(a, np.zeros(15), 0.2)
    assert r.ci_low < 0 < r.ci_high and not r.equivalent
    assert tost_paired([1.0], [0.0], 0.2).reason is not None
