"""Natural-unit doses: a planted slope and a planted dose are recovered."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from stats.natural_dose import natural_dose, natural_doses, observed_gap


def _sweep(slope: float, *, n: int = 40, seed: int = 0, noise: float = 0.02) -> pd.DataFrame:
    """Blur sweep where each strength s lowers the metric by 0.1 * s (+ noise) and log-odds = slope * change."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        before = rng.normal(1.0, 0.1)
        for s in (1.0, 2.0, 4.0):
            dm = -0.1 * s * rng.uniform(0.8, 1.2)
            dl = slope * dm + rng.normal(0, noise)
            p0 = 0.2
            l1 = math.log(p0 / (1 - p0)) + dl
            rows.append({"image_id": f"i{i}", "label": "NORMAL", "intervention": "gaussian_blur", "strength": s,
                         "region": "whole", "q_highfreq_share": before + dm, "q_highfreq_share_before": before,
                         "delta_logit": dl, "delta": 1 / (1 + math.exp(-l1)) - p0})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("slope", [-3.0, -0.5, 2.0])
def test_planted_slope_and_natural_dose_are_recovered(slope):
    per_image = _sweep(slope)
    observed = -0.15  # FPs 0.15 lower than TNs: a natural blur lies between strengths 1 and 2
    r = natural_dose(per_image, intervention="gaussian_blur", metric="q_highfreq_share", observed_diff=observed,
                     fp_excess_logit=1.5, n_boot=500)
    assert r.reason is None and r.n_images == 40 and r.n_extrapolated == 0
    assert r.slope_low <= slope <= r.slope_high and r.slope == pytest.approx(slope, abs=0.05)
    assert r.delta_logit == pytest.approx(slope * observed, abs=0.03)
    assert r.delta_logit_low <= slope * observed <= r.delta_logit_high
    assert r.dose_strength == pytest.approx(1.5, abs=0.1)  # mean change 0.1 per unit strength
    assert r.share_of_excess == pytest.approx(slope * observed / 1.5, abs=0.03)
    assert "of the FP excess" in r.statement


def test_an_edit_that_moves_the_metric_the_other_way_is_not_a_dose():
    r = natural_dose(_sweep(2.0), intervention="gaussian_blur", metric="q_highfreq_share", observed_diff=+0.1,
                     fp_excess_logit=1.0, n_boot=100)
    assert r.reason is not None and math.isnan(r.delta_logit) and "other way" in r.reason


def test_beyond_the_swept_range_is_extrapolated_and_says_so():
    r = natural_dose(_sweep(2.0), intervention="gaussian_blur", metric="q_highfreq_share", observed_diff=-0.8,
                     fp_excess_logit=1.0, n_boot=100)
    assert r.n_extrapolated == 40 and math.isnan(r.dose_strength) and "extrapolated" in r.statement
    assert r.delta_logit == pytest.approx(2.0 * -0.8, abs=0.1)


def test_observed_gap_and_the_table_wrapper():
    table = pd.DataFrame({"outcome": ["FP", "FP", "TN", "TN", "TN"], "q_highfreq_share": [0.1, 0.3, 0.5, 0.4, 0.6],
                          "p_pneumonia": [0.8, 0.6, 0.1, 0.2, 0.3]})
    diff, excess = observed_gap(table, "q_highfreq_share")
    assert diff == pytest.approx(0.2 - 0.5)
    assert excess == pytest.approx(np.median(np.log([0.8 / 0.2, 0.6 / 0.4])) - np.log(0.2 / 0.8))
    out = natural_doses(_sweep(2.0), table, n_boot=50)
    assert [(d.intervention, d.metric) for d in out] == [("gaussian_blur", "q_highfreq_share")]
