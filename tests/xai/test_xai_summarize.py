"""saliency_summary on hand-made maps."""

from __future__ import annotations

import numpy as np
import pytest

from data.errors import ConfigError
from xai.summarize import EMPTY_SUMMARY, saliency_summary

KEYS = {"lung_share", "peak_in_lung", "entropy", "spread", "centroid_y", "centroid_x", "empty"}


def _mask() -> np.ndarray:
    mask = np.zeros((20, 20), bool)
    mask[4:16, 2:8] = True
    mask[4:16, 12:18] = True
    return mask


def test_all_mass_inside_mask():
    sal = np.where(_mask(), 1.0, 0.0)
    sal[10, 5] = 3.0
    out = saliency_summary(sal, _mask())
    assert set(out) == KEYS
    assert out["lung_share"] == pytest.approx(1.0)
    assert out["peak_in_lung"] == 1.0
    assert out["empty"] == 0.0


def test_peak_outside_mask_and_negative_ignored():
    sal = np.zeros((20, 20))
    sal[1, 10] = 5.0  # outside the lungs
    sal[_mask()] = -10.0  # negative evidence inside: not counted
    out = saliency_summary(sal, _mask())
    assert out["peak_in_lung"] == 0.0
    assert out["lung_share"] == 0.0


def test_point_mass_entropy_spread_centroid():
    sal = np.zeros((10, 20))
    sal[2, 15] = 1.0
    out = saliency_summary(sal, np.zeros((10, 20), bool))
    assert out["entropy"] == pytest.approx(0.0)
    assert out["spread"] == pytest.approx(1 / 200)
    assert out["centroid_y"] == pytest.approx(2.5 / 10)
    assert out["centroid_x"] == pytest.approx(15.5 / 20)


def test_uniform_map():
    out = saliency_summary(np.ones((16, 16)), _mask_16())
    assert out["entropy"] == pytest.approx(1.0)
    assert out["spread"] == pytest.approx(0.5)
    assert out["centroid_y"] == pytest.approx(0.5) and out["centroid_x"] == pytest.approx(0.5)
    assert out["lung_share"] == pytest.approx(_mask_16().mean())


def _mask_16() -> np.ndarray:
    mask = np.zeros((16, 16), bool)
    mask[:, :4] = True
    return mask


def test_half_inside():
    sal = np.zeros((20, 20))
    sal[10, 5] = 1.0  # inside
    sal[0, 0] = 1.0  # outside, tied maximum
    out = saliency_summary(sal, _mask())
    assert out["lung_share"] == pytest.approx(0.5)
    assert out["peak_in_lung"] == 1.0  # half of the tied maxima are inside
    assert 0.0 < out["entropy"] < 1.0


def test_no_positive_mass_gives_documented_values():
    out = saliency_summary(-np.ones((8, 8)), np.ones((8, 8), bool))
    assert out == EMPTY_SUMMARY
    assert not any(np.isnan(v) for v in out.values())


def test_bad_inputs():
    with pytest.raises(ConfigError, match="shape"):
        saliency_summary(np.zeros((4, 4)), np.zeros((4, 5), bool))
    bad = np.zeros((4, 4))
    bad[0, 0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        saliency_summary(bad, np.zeros((4, 4), bool))
