"""stats.pointing: pointing-game rates per outcome, against statsmodels' Wilson interval."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from stats.pointing import pointing_game


def test_rates_and_wilson_intervals_match_statsmodels_and_skip_unmeasured_rows():
    table = pd.DataFrame({"outcome": ["FP"] * 5 + ["TN"] * 4 + ["TP"],
                          "gradcam_peak_in_lung": [1, 0, 0, np.nan, True, 1, 1, 1, 1, 0]})
    before = table.copy()
    rates = pointing_game(table, "gradcam_peak_in_lung")
    fp = rates["FP"]
    assert (fp["successes"], fp["n"], fp["value"]) == (2, 4, 0.5)  # the NaN row is not counted
    low, high = proportion_confint(2, 4, method="wilson")
    assert (fp["ci_low"], fp["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert rates["TN"]["value"] == 1.0 and rates["TN"]["ci_high"] == pytest.approx(1.0)
    assert rates["TP"]["n"] == 1 and rates["TP"]["value"] == 0.0
    assert rates["FN"]["n"] == 0 and math.isnan(rates["FN"]["value"]) and math.isnan(rates["FN"]["ci_low"])
    pd.testing.assert_frame_equal(table, before)


def test_absent_column_gives_empty_groups_not_an_error():
    rates = pointing_game(pd.DataFrame({"outcome": ["FP", "TN"]}), "ig_peak_in_lung")
    assert set(rates) == {"TP", "TN", "FP", "FN"} and all(r["n"] == 0 for r in rates.values())
