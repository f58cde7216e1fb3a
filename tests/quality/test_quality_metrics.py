"""Property tests of quality.metrics, in the style of scikit-image's metric tests."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from skimage.filters import gaussian

from data.io import load_xray, resize_square
from quality import metrics as qm
from quality.batch import measure_image

SIZE = qm.ANALYSIS_SIZE
POINT_METRICS = ("q_rms_contrast", "q_michelson", "q_dynamic_range", "q_mean", "q_clip_low", "q_clip_high", "q_entropy")
REGION_METRICS = ("q_highfreq_share", "q_highfreq_power", "q_lowfreq_power", "q_blur_effect", "q_noise_sigma")
RANGES = {
    "q_laplacian_var": (0.0, 16.0), "q_highfreq_share": (0.0, 1.0), "q_highfreq_power": (0.0, 1.0),
    "q_lowfreq_power": (0.0, 1.0), "q_blur_effect": (0.0, 1.0),
    "q_rms_contrast": (0.0, 0.5), "q_michelson": (0.0, 1.0), "q_dynamic_range": (0.0, 1.0), "q_mean": (0.0, 1.0),
    "q_clip_low": (0.0, 1.0), "q_clip_high": (0.0, 1.0), "q_entropy": (0.0, 8.0), "q_noise_sigma": (0.0, math.inf),
}


def analysis_image(pixels: np.ndarray) -> np.ndarray:
    return resize_square(qm.to_unit_float(pixels), SIZE)


def assert_same_metrics(a: dict, b: dict, rtol: float = 1e-6, atol: float = 1e-12) -> None:
    assert list(a) == list(b)
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=rtol, abs=atol), key


def test_columns_are_stable():
    assert qm.QUALITY_COLUMNS == ["q_laplacian_var", "q_highfreq_share", "q_highfreq_power", "q_lowfreq_power",
                                  "q_blur_effect", "q_rms_contrast",
                                  "q_michelson", "q_dynamic_range", "q_mean", "q_clip_low", "q_clip_high",
                                  "q_entropy", "q_noise_sigma"]
    assert set(RANGES) == set(qm.QUALITY_COLUMNS)


# --- blur ------------------------------------------------------------------------------------

def test_blur_metrics_move_monotonically_with_gaussian_blur(real_uint8):
    base = analysis_image(real_uint8)
    values = [qm.quality_metrics(base if s == 0 else gaussian(base, sigma=s, preserve_range=True))
              for s in (0, 1, 2, 4)]
    for column in ("q_laplacian_var", "q_highfreq_share", "q_highfreq_power"):
        series = [v[column] for v in values]
        assert all(a > b for a, b in zip(series, series[1:])), (column, series)
    blur = [v["q_blur_effect"] for v in values]
    assert all(a < b for a, b in zip(blur, blur[1:])), blur
    assert values[0]["q_laplacian_var"] > 10 * values[-1]["q_laplacian_var"]


def test_blur_before_resize_is_seen_at_analysis_size(camera_uint8):
    sharp = measure_image(camera_uint8, SIZE)
    blurred = measure_image(gaussian(qm.to_unit_float(camera_uint8), sigma=4, preserve_range=True), SIZE)
    assert blurred["q_laplacian_var"] < sharp["q_laplacian_var"]
    assert blurred["q_highfreq_share"] < sharp["q_highfreq_share"]
    assert blurred["q_blur_effect"] > sharp["q_blur_effect"]


# --- contrast / exposure / noise -------------------------------------------------------------

def test_contrast_metrics_fall_as_contrast_shrinks_toward_the_mean(real_uint8):
    base = analysis_image(real_uint8).astype(np.float64)
    mean = base.mean()
    values = [qm.quality_metrics(mean + a * (base - mean)) for a in (1.0, 0.75, 0.5, 0.25, 0.1)]
    for column in ("q_rms_contrast", "q_michelson", "q_dynamic_range"):
        series = [v[column] for v in values]
        assert all(a > b for a, b in zip(series, series[1:])), (column, series)
    # RMS contrast and dynamic range are exactly proportional to the scale
    assert values[2]["q_rms_contrast"] == pytest.approx(0.5 * values[0]["q_rms_contrast"], rel=1e-5)
    assert values[2]["q_dynamic_range"] == pytest.approx(0.5 * values[0]["q_dynamic_range"], rel=1e-4)


def test_exposure_metrics_on_known_images():
    half = np.zeros((32, 32), np.float32)
    half[:, 16:] = 1.0
    assert qm.mean_brightness(half) == pytest.approx(0.5)
    assert qm.clip_low_fraction(half) == pytest.approx(0.5)
    assert qm.clip_high_fraction(half) == pytest.approx(0.5)
    assert qm.histogram_entropy(half) == pytest.approx(1.0)  # two equally likely levels: 1 bit
    ramp = np.tile(np.arange(256, dtype=np.uint8), (8, 1))
    assert qm.histogram_entropy(ramp) == pytest.approx(8.0)  # every 8-bit level once per row
    p1, p5, p95, p99 = np.percentile(ramp / 255.0, [1, 5, 95, 99])
    assert qm.michelson_contrast(ramp) == pytest.approx((p95 - p5) / (p95 + p5))
    assert qm.dynamic_range(ramp) == pytest.approx(p99 - p1)


def test_noise_sigma_recovers_added_gaussian_noise():
    rng = np.random.default_rng(1)
    for sigma in (0.01, 0.03, 0.05):
        noisy = np.clip(0.5 + sigma * rng.standard_normal((SIZE, SIZE)), 0, 1)
        assert qm.noise_sigma(noisy) == pytest.approx(sigma, rel=0.1)


# --- input forms -----------------------------------------------------------------------------

def test_same_picture_as_uint8_uint16_and_float_gives_same_results(real_uint8):
    u8 = real_uint8
    forms = [u8, u8.astype(np.uint16) * np.uint16(257), (u8 / 255.0).astype(np.float32), u8 / 255.0]
    small = [qm.quality_metrics(analysis_image(f)) for f in forms]
    full = [measure_image(f, SIZE) for f in forms]
    for other_small, other_full in zip(small[1:], full[1:]):
        assert_same_metrics(small[0], other_small)
        assert_same_metrics(full[0], other_full)


@pytest.mark.parametrize("fmt, kwargs", [("PNG", {}), ("TIFF", {"compression": "tiff_lzw"}), ("BMP", {})])
def test_metrics_invariant_to_lossless_file_format(real_uint8, tmp_path: Path, fmt: str, kwargs: dict):
    reference = measure_image(real_uint8, SIZE)
    path = tmp_path / f"picture.{fmt.lower()}"
    Image.fromarray(real_uint8).save(path, format=fmt, **kwargs)
    assert measure_image(load_xray(path), SIZE) == reference


def test_metrics_invariant_to_16_bit_png(real_uint8, tmp_path: Path):
    path = tmp_path / "picture16.png"
    Image.fromarray(real_uint8.astype(np.uint16) * np.uint16(257)).save(path)
    assert_same_metrics(measure_image(load_xray(path), SIZE), measure_image(real_uint8, SIZE))


# --- edge values -----------------------------------------------------------------------------

@pytest.mark.parametrize("pixels", [np.zeros((40, 40), np.uint8), np.full((40, 40), 255, np.uint8),
                                    np.full((40, 40), 0.3, np.float32), np.full((40, 40), 1000, np.uint16)],
                         ids=["black-u8", "white-u8", "grey-f32", "grey-u16"])
def test_constant_image_gives_documented_edge_values(pixels):
    level = float(qm.to_unit_float(pixels)[0, 0])
    for result in (qm.quality_metrics(pixels), measure_image(pixels, SIZE)):
        assert all(np.isfinite(v) for v in result.values()), result
        assert result["q_laplacian_var"] == 0.0
        assert result["q_highfreq_share"] == 0.0
        assert result["q_blur_effect"] == 1.0
        assert result["q_rms_contrast"] == 0.0
        assert result["q_michelson"] == 0.0
        assert result["q_dynamic_range"] == 0.0
        assert result["q_entropy"] == 0.0
        assert result["q_noise_sigma"] == 0.0
        assert result["q_mean"] == pytest.approx(level)
        assert result["q_clip_low"] == (1.0 if level <= qm.CLIP_TOL else 0.0)
        assert result["q_clip_high"] == (1.0 if level >= 1 - qm.CLIP_TOL else 0.0)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(8, 48), st.integers(8, 48))))
def test_metrics_are_finite_and_inside_their_documented_ranges(pixels):
    result = qm.quality_metrics(pixels)
    for column, value in result.items():
        low, high = RANGES[column]
        assert np.isfinite(value) and low - 1e-9 <= value <= high + 1e-9, (column, value)


def test_bad_images_raise_value_error():
    with pytest.raises(ValueError, match="2-D"):
        qm.quality_metrics(np.zeros((16, 16, 3)))
    with pytest.raises(ValueError, match="at least"):
        qm.quality_metrics(np.zeros((4, 16)))
    bad = np.full((16, 16), 0.5)
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        qm.quality_metrics(bad)
    with pytest.raises(ValueError, match="cutoff"):
        qm.highfreq_share(np.zeros((16, 16)), cutoff=0.9)


# --- masks -----------------------------------------------------------------------------------

def test_full_mask_equals_unmasked(real_uint8):
    image = analysis_image(real_uint8)
    full = np.ones(image.shape, bool)
    assert qm.quality_metrics(image, full) == qm.quality_metrics(image)
    for column, fn in qm.METRICS.items():
        assert fn(image, full) == fn(image), column
    assert measure_image(real_uint8, SIZE, mask=np.ones(real_uint8.shape, bool)) == measure_image(real_uint8, SIZE)


def test_masked_metrics_follow_their_documented_aggregation(camera_uint8):
    image = analysis_image(camera_uint8)
    mask = np.zeros(image.shape, bool)
    mask[40:160, 20:120] = True
    inside = image[40:160, 20:120]
    masked = qm.quality_metrics(image, mask)
    cropped = qm.quality_metrics(inside)
    for column in POINT_METRICS + REGION_METRICS:  # statistics of image[mask]; region = bounding box = the rectangle
        assert masked[column] == pytest.approx(cropped[column], rel=1e-9, abs=1e-12), column
    laplacian = cv2.Laplacian(image.astype(np.float64), cv2.CV_64F)  # filtered on the whole image
    assert masked["q_laplacian_var"] == pytest.approx(np.var(laplacian[mask]), rel=1e-12)
    assert masked != qm.quality_metrics(image)


def test_masked_region_metrics_use_the_bounding_box(camera_uint8):
    image = analysis_image(camera_uint8)
    mask = np.zeros(image.shape, bool)
    mask[30:100, 50:60] = True
    mask[90:110, 50:150] = True  # an L shape: bounding box rows 30..109, cols 50..149
    box = image[30:110, 50:150]
    for column in REGION_METRICS:
        assert qm.METRICS[column](image, mask) == pytest.approx(qm.METRICS[column](box), rel=1e-12), column


def test_masks_tell_regions_apart():
    image = np.full((64, 64), 0.2, np.float32)
    image[:, 32:] = np.random.default_rng(2).uniform(0.2, 0.8, size=(64, 32)).astype(np.float32)
    left = np.zeros(image.shape, bool)
    left[:, :32] = True
    assert qm.rms_contrast(image, left) == 0.0
    assert qm.rms_contrast(image, ~left) > 0.1
    assert qm.laplacian_var(image, ~left) > qm.laplacian_var(image, left)


def test_bad_masks_raise_mask_error(camera_uint8):
    image = analysis_image(camera_uint8)
    with pytest.raises(qm.MaskError, match="empty"):
        qm.quality_metrics(image, np.zeros(image.shape, bool))
    with pytest.raises(qm.MaskError, match="shape"):
        qm.rms_contrast(image, np.ones((10, 10), bool))
    tiny = np.zeros(image.shape, bool)
    tiny[5:8, 5:8] = True
    assert np.isfinite(qm.rms_contrast(image, tiny))  # pixel statistics work on any non-empty mask
    with pytest.raises(qm.MaskError, match="bounding box"):
        qm.highfreq_share(image, tiny)
    with pytest.raises(qm.MaskError, match="mask shape"):
        measure_image(camera_uint8, SIZE, mask=np.ones((3, 3), bool))


# --- purity and analysis size ----------------------------------------------------------------

def test_inputs_are_not_mutated(camera_uint8):
    mask = np.zeros(camera_uint8.shape, bool)
    mask[100:400, 100:400] = True
    for image in (camera_uint8, (camera_uint8 / 255.0).astype(np.float32), camera_uint8.astype(np.uint16) * 257):
        before, mask_before = image.copy(), mask.copy()
        qm.quality_metrics(image)
        measure_image(image, SIZE, mask=mask)
        small = analysis_image(image)
        small_mask = np.zeros(small.shape, bool)
        small_mask[50:150, 40:160] = True
        small_before = small.copy()
        for fn in qm.METRICS.values():
            fn(small, small_mask)
            fn(small)
        np.testing.assert_array_equal(image, before)
        np.testing.assert_array_equal(mask, mask_before)
        np.testing.assert_array_equal(small, small_before)


def test_measure_image_uses_one_analysis_size(camera_uint8):
    big = measure_image(camera_uint8, SIZE)
    assert big["analysis_size"] == SIZE
    assert list(big) == ["analysis_size", *qm.QUALITY_COLUMNS]
    copy = resize_square(qm.to_unit_float(camera_uint8), SIZE)
    assert measure_image(copy, SIZE) == big  # a 224 px copy is measured exactly like its 512 px source
    # the same picture enlarged to 512 px: at native size its Laplacian variance collapses (~24x);
    # at the analysis size the gap shrinks to what the enlargement blurred (< 3x)
    enlarged = cv2.resize(copy, (512, 512), interpolation=cv2.INTER_LINEAR)
    native_ratio = qm.laplacian_var(copy) / qm.laplacian_var(enlarged)
    analysis_ratio = big["q_laplacian_var"] / measure_image(enlarged, SIZE)["q_laplacian_var"]
    assert native_ratio > 10 and analysis_ratio < 3
    assert measure_image(camera_uint8, 128)["analysis_size"] == 128


# --- the spectral share split into its parts ------------------------------------------------

def test_share_is_high_over_high_plus_low_and_the_parts_move_separately(real_uint8):
    base = analysis_image(real_uint8)
    hi, lo = qm.highfreq_power(base), qm.lowfreq_power(base)
    assert qm.highfreq_share(base) == pytest.approx(hi / (hi + lo))
    # adding a smooth low-frequency gradient (more "anatomy") raises only the denominator
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    scaled = (0.8 * base).astype(np.float32)
    graded = np.clip(scaled + 0.2 * xx, 0, 1).astype(np.float32)
    assert qm.lowfreq_power(graded) > 1.05 * qm.lowfreq_power(scaled)
    assert qm.highfreq_power(graded) == pytest.approx(qm.highfreq_power(scaled), rel=0.05)
    assert qm.highfreq_share(graded) < qm.highfreq_share(scaled)  # the share falls with no loss of detail
    # noise raises the numerator, leaves the denominator nearly unchanged
    noisy = np.clip(base + np.random.default_rng(0).normal(0, 0.05, base.shape), 0, 1).astype(np.float32)
    assert qm.highfreq_power(noisy) > 1.2 * hi and qm.lowfreq_power(noisy) == pytest.approx(lo, rel=0.1)


def test_cutoff_is_off_the_8px_jpeg_block_grid():
    assert all(abs(qm.HIGHFREQ_CUTOFF - k / 8) > 0.01 for k in range(1, 4))
