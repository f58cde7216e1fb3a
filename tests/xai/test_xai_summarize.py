"""saliency_summary on hand-made maps."""

from __future__ import annotations

import numpy as np
import pytest

from data.errors import ConfigError
import torch

from xai.summarize import EMPTY_SUMMARY, rank_ratio_reason, saliency_summary, top_share_inside

KEYS = {"lung_share", "peak_in_lung", "entropy", "spread", "centroid_y", "centroid_x", "empty",
        "lung_rank_ratio_k5", "lung_rank_ratio_k10", "lung_rank_ratio_k20", "map_constant"}


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
    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    out = saliency_summary(-np.ones((8, 8)), mask)
    assert {k: out[k] for k in EMPTY_SUMMARY} == EMPTY_SUMMARY
    assert not any(np.isnan(v) for v in out.values())
    assert out["lung_rank_ratio_k10"] == pytest.approx(1.0) and out["map_constant"] == 1.0


def test_bad_inputs():
    with pytest.raises(ConfigError, match="shape"):
        saliency_summary(np.zeros((4, 4)), np.zeros((4, 5), bool))
    bad = np.zeros((4, 4))
    bad[0, 0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        saliency_summary(bad, np.zeros((4, 4), bool))


# ----------------------------------------------------------------------------- area-normalised rank ratio

def test_rank_ratio_is_shift_and_scale_invariant_and_ignores_the_relu():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(20, 20)) + 2.0 * _mask()
    base = saliency_summary(raw, _mask())
    for k in (5, 10, 20):
        key = f"lung_rank_ratio_k{k}"
        assert base[key] > 1.0
        assert saliency_summary(3.0 * raw - 7.0, _mask())[key] == pytest.approx(base[key])
        # a display map that is all zero after the ReLU still has the raw map's ratio
        assert saliency_summary(np.zeros_like(raw), _mask(), raw=raw - 100.0)[key] == pytest.approx(base[key])


def test_rank_ratio_bounds_and_chance():
    mask = _mask()
    area = mask.mean()
    inside_only = np.where(mask, 1.0, 0.0) + 1e-3 * np.random.default_rng(1).random(mask.shape)
    out = saliency_summary(inside_only, mask)
    assert out["lung_rank_ratio_k10"] == pytest.approx(1.0 / area)  # every top pixel in the lungs
    outside_only = -inside_only
    assert saliency_summary(outside_only, mask)["lung_rank_ratio_k10"] == pytest.approx(0.0)
    # a constant map: defined by ties (exactly chance), flagged, never NaN and never dropped
    flat = saliency_summary(np.full(mask.shape, 0.3), mask)
    assert flat["map_constant"] == 1.0
    assert all(flat[f"lung_rank_ratio_k{k}"] == pytest.approx(1.0) for k in (5, 10, 20))
    assert rank_ratio_reason(np.full(mask.shape, 0.3), mask) == "constant map"


def test_rank_ratio_nan_only_without_area_with_reason():
    sal = np.random.default_rng(2).random((10, 10))
    for mask, reason in ((np.zeros((10, 10), bool), "lung mask empty"),
                         (np.ones((10, 10), bool), "lung mask covers the whole image")):
        out = saliency_summary(sal, mask)
        assert np.isnan(out["lung_rank_ratio_k10"]) and rank_ratio_reason(sal, mask) == reason


def test_top_share_splits_ties_evenly():
    raw = np.array([[3.0, 1.0, 1.0, 1.0]])
    mask = np.array([[False, True, False, False]])
    # top 50 % = 2 pixels: the 3 plus one of three tied 1s; 1/3 of that one is expected inside
    assert top_share_inside(raw, mask, 50) == pytest.approx((0 + 1 / 3) / 2)


class _RegionReader(torch.nn.Module):
    """Sees only ``region`` of the input (or all of it): bias-free ReLU conv, global mean, logit 1 = sum."""

    def __init__(self, region: np.ndarray | None, side: int = 32):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.act = torch.nn.ReLU()
        mask = torch.ones(1, 1, side, side) if region is None else torch.tensor(region, dtype=torch.float32)[None, None]
        self.register_buffer("mask", mask)

    def forward(self, x):
        score = self.act(self.conv(x * self.mask)).mean(dim=(2, 3)).sum(1)
        return torch.stack([torch.zeros_like(score), score], dim=1)


def test_planted_region_reader_scores_above_one_uniform_reader_near_one():
    from xai.gradcam import gradcam_maps
    from xai.integrated_gradients import integrated_gradients

    side = 32
    region = np.zeros((side, side), bool)
    region[4:14, 6:26] = True  # 20 % of the image
    x = torch.randn(6, 3, side, side, generator=torch.Generator().manual_seed(3))
    for name, model, expect in (("region", _RegionReader(region), "high"), ("uniform", _RegionReader(None), "chance")):
        _, raw = gradcam_maps(model, x, 1, target_layer=model.act, return_raw=True)
        ig = integrated_gradients(model, x, 1, baseline=torch.zeros_like(x), tol=1e9, start_steps=16,
                                  max_steps=16).attributions
        for maps in (raw, ig):
            ratios = np.array([saliency_summary(m, region)["lung_rank_ratio_k10"] for m in maps])
            if expect == "high":
                assert ratios.min() > 2.0, (name, ratios)   # all top pixels in a 20 % region: up to 5
            else:
                assert abs(np.median(ratios) - 1.0) < 0.35, (name, ratios)
