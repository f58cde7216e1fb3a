"""Lung mask on a synthetic chest phantom (and a smoke test on real films when present)."""

from __future__ import annotations

import numpy as np
import pytest

from data.errors import ConfigError
from xai.lungs import LungMask, lung_mask, mask_outline


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.mark.parametrize("size", [224, 128])
@pytest.mark.parametrize("seed", [0, 1])
def test_phantom_lungs_found(chest_phantom, size, seed):
    image, planted = chest_phantom(size, seed=seed)
    result = lung_mask(image)
    assert isinstance(result, LungMask)
    assert result.mask.shape == (size, size) and result.mask.dtype == bool
    assert _dice(result.mask, planted) > 0.8
    assert result.plausible, result.reasons
    assert result.n_components == 2
    assert 0.08 <= result.area_fraction <= 0.6
    # One lung each side of the midline.
    assert result.mask[:, : size // 2].sum() > 0 and result.mask[:, size // 2 :].sum() > 0


def test_phantom_without_lungs_is_flagged(chest_phantom):
    image, _ = chest_phantom(224, lungs=False)
    result = lung_mask(image)
    assert not result.plausible
    assert result.reasons


def test_one_lung_phantom_is_flagged_asymmetric(chest_phantom):
    image, planted = chest_phantom(224)
    right_half = np.zeros_like(planted)
    right_half[:, 112:] = planted[:, 112:]
    image = image.copy()
    image[right_half] = 0.6  # "consolidated": as bright as the body
    result = lung_mask(image)
    assert not result.plausible
    assert any("components" in r or "asymmetric" in r for r in result.reasons)


def test_blank_image_gives_empty_flagged_mask():
    result = lung_mask(np.zeros((64, 64), np.float32))
    assert not result.mask.any() and not result.plausible and result.area_fraction == 0.0


def test_bad_input_raises():
    with pytest.raises(ConfigError, match="2-D"):
        lung_mask(np.zeros((3, 64, 64), np.float32))
    with pytest.raises(ConfigError, match="32"):
        lung_mask(np.zeros((16, 16), np.float32))
    bad = np.zeros((64, 64), np.float32)
    bad[0, 0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        lung_mask(bad)


def test_mask_outline_is_the_inner_boundary():
    mask = np.zeros((20, 20), bool)
    mask[5:15, 4:12] = True
    outline = mask_outline(mask)
    assert outline.dtype == bool
    assert not (outline & ~mask).any()
    assert outline.sum() == 2 * (10 + 8) - 4
    assert not outline[6:14, 5:11].any()


@pytest.mark.shared_data
def test_real_films_smoke(shared_xrays):
    from data.io import load_xray, resize_square

    files = sorted((shared_xrays / "test" / "NORMAL").glob("*.jpeg"))[:4]
    files += sorted((shared_xrays / "test" / "PNEUMONIA").glob("*.jpeg"))[:4]
    if not files:
        pytest.skip(f"no images under {shared_xrays / 'test'}")
    plausible = 0
    for path in files:
        result = lung_mask(resize_square(load_xray(path), 224))
        assert result.mask.shape == (224, 224)
        plausible += result.plausible
    assert plausible >= len(files) // 2


def test_masks_and_quality_over_processes_equal_one_process(chest_phantom):
    """The explain step measures lungs and quality in worker processes: same masks and rows as in-process."""
    from xai.pipeline import lungs_and_quality

    images = np.stack([chest_phantom(128, seed=s)[0] for s in range(20)]).astype(np.float32)
    masks1, rows1 = lungs_and_quality(images, workers=1)
    masks2, rows2 = lungs_and_quality(images, workers=2)
    assert len(masks2) == len(rows2) == 20
    for m1, m2 in zip(masks1, masks2):
        np.testing.assert_array_equal(m1.mask, m2.mask)
        assert m1.plausible == m2.plausible and m1.reasons == m2.reasons
    for r1, r2 in zip(rows1, rows2):
        assert r1.keys() == r2.keys()
        np.testing.assert_array_equal(np.array([r1[k] for k in r1 if k != "lung_mask_reasons"], dtype=float),
                                      np.array([r2[k] for k in r2 if k != "lung_mask_reasons"], dtype=float))
