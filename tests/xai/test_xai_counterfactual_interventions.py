"""Image interventions: pure, bounded, region-restricted, and doing what their names say."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from data.errors import ConfigError
from quality.metrics import laplacian_var, rms_contrast
from xai.interventions import (FEATHER_SIGMA, INTERVENTIONS, TEXTURE_SHAPE, apply, feather, gamma, gaussian_blur, gaussian_noise, low_pass,
                               motion_blur, motion_kernel, scale_contrast, shuffle_coverage, shuffle_patches)


@pytest.fixture
def film(chest_phantom):
    image, lungs = chest_phantom(64, seed=3)
    return image, lungs


@pytest.fixture
def film128(chest_phantom):
    """Large enough for the default 16-px shuffle patches (strengths are pixels at 224 px)."""
    return chest_phantom(128, seed=3)


def _beyond_feather(region):
    """Pixels outside ``region``: the feathered weight is 0 there (it fades in inside the region)."""
    return ~region


def _deep_inside(region):
    return ndi.binary_erosion(region, iterations=int(np.ceil(4 * FEATHER_SIGMA)))


ALL_CALLS = [(name, s) for name, (_, strengths) in {**INTERVENTIONS, **TEXTURE_SHAPE}.items() for s in strengths]


@pytest.mark.parametrize("name,strength", ALL_CALLS)
@pytest.mark.parametrize("region_kind", ["none", "lungs"])
def test_interventions_do_not_mutate_and_stay_in_unit_range(film128, name, strength, region_kind):
    image, lungs = film128
    if name in TEXTURE_SHAPE and region_kind == "none":
        pytest.skip("texture-vs-shape interventions always take a region")
    region = None if region_kind == "none" else lungs
    before = image.copy()
    out = apply(name, image, strength, region=region, seed=1)
    np.testing.assert_array_equal(image, before)  # input untouched
    assert out is not image and not np.shares_memory(out, image)
    assert out.shape == image.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    assert not np.array_equal(out, image)  # every default strength changes something
    if region is not None:
        far = _beyond_feather(region)
        np.testing.assert_allclose(out[far], image[far], atol=1e-3)  # beyond the feathered band: the original


def test_identity_strengths_return_the_image(film):
    image, lungs = film
    np.testing.assert_allclose(scale_contrast(image, 1.0), image, atol=1e-7)
    np.testing.assert_allclose(gamma(image, 1.0), image, atol=1e-7)
    np.testing.assert_allclose(motion_blur(image, 1), image, atol=1e-7)


def test_region_result_equals_whole_result_inside_the_region(film):
    image, lungs = film
    whole = gaussian_noise(image, 0.05, seed=7)
    inside = gaussian_noise(image, 0.05, seed=7, region=lungs)
    deep, far = _deep_inside(lungs), _beyond_feather(lungs)
    np.testing.assert_allclose(inside[deep], whole[deep], atol=1e-3)
    np.testing.assert_allclose(inside[far], image[far], atol=1e-3)
    np.testing.assert_array_equal(gaussian_noise(image, 0.05, seed=7), whole)  # seeded
    assert not np.array_equal(gaussian_noise(image, 0.05, seed=8), whole)


@pytest.mark.parametrize("blur", ["gaussian_blur", "motion_blur"])
def test_blur_lowers_laplacian_variance_monotonically(film, blur):
    image, _ = film
    strengths = INTERVENTIONS[blur][1]
    values = [laplacian_var(image)] + [laplacian_var(apply(blur, image, s)) for s in strengths]
    assert all(a > b for a, b in zip(values, values[1:])), values


def test_contrast_scales_rms_contrast_and_keeps_the_mean(film):
    image, _ = film
    for factor in INTERVENTIONS["contrast"][1]:
        out = scale_contrast(image, factor)
        assert rms_contrast(out) == pytest.approx(factor * rms_contrast(image), rel=1e-4)
        assert out.mean() == pytest.approx(image.mean(), abs=1e-5)


def test_gamma_direction(film):
    image, _ = film
    assert gamma(image, 0.6).mean() > image.mean() > gamma(image, 1.5).mean()


def test_motion_kernel_is_a_normalised_line():
    k = motion_kernel(5)
    assert k.shape == (5, 5) and k.sum() == pytest.approx(1.0)
    assert (k[2] > 0).all() and k.sum(axis=1)[[0, 1, 3, 4]].sum() == 0  # horizontal line through the centre
    v = motion_kernel(5, angle=90)
    assert (v[:, 2] > 0).all() and v.sum() == pytest.approx(1.0)
    d = motion_kernel(9, angle=45)
    flipped = np.fliplr(d)  # 45 degrees: the anti-diagonal (up and to the right)
    assert np.count_nonzero(d) >= 5 and np.array_equal(flipped, np.diag(np.diag(flipped)))
    assert d.sum() == pytest.approx(1.0)


def test_shuffle_patches_keeps_values_and_moves_layout(film):
    image, lungs = film
    out = shuffle_patches(image, lungs, 4, seed=0)
    np.testing.assert_array_equal(np.sort(out[lungs]), np.sort(image[lungs]))  # same grey levels inside
    np.testing.assert_array_equal(out[~lungs], image[~lungs])
    assert not np.array_equal(out[lungs], image[lungs])
    assert 0.3 < shuffle_coverage(lungs, 4) <= 1.0
    np.testing.assert_array_equal(out, shuffle_patches(image, lungs, 4, seed=0))
    # a region too small for two patches: unchanged copy
    tiny = np.zeros_like(lungs)
    tiny[10:13, 10:13] = True
    np.testing.assert_array_equal(shuffle_patches(image, tiny, 4), image)


def test_low_pass_removes_texture_but_keeps_the_lungs_mean(film):
    image, lungs = film
    out = low_pass(image, lungs, 2.0)
    far = _beyond_feather(lungs)
    np.testing.assert_allclose(out[far], image[far], atol=1e-3)
    interior = ndi.binary_erosion(lungs, iterations=2)  # the Laplacian at the border sees outside pixels
    assert laplacian_var(out, interior) < 0.2 * laplacian_var(image, interior)
    # normalised convolution: the bright chest wall does not bleed into the lungs
    assert abs(out[lungs].mean() - image[lungs].mean()) < 0.01
    # region blur is a normalised convolution too: no chest-wall brightness bleeds into the lungs
    blurred = gaussian_blur(image, 4.0, region=lungs)
    assert abs(blurred[lungs].mean() - image[lungs].mean()) < 0.01
    hard = np.where(lungs, gaussian_blur(image, 4.0), image)  # the old hard switch on a whole-film blur
    assert hard[lungs].mean() > blurred[lungs].mean() + 0.01


def test_feather_weight_is_soft_and_stays_inside_the_region(film):
    _, lungs = film
    alpha = feather(lungs)
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert np.all(alpha[~lungs] == 0) and np.all(alpha[_deep_inside(lungs)] > 0.99)
    assert 0.5 * lungs.sum() < alpha.sum() < lungs.sum()


def test_region_edit_draws_no_seam_along_the_mask(film):
    _, lungs = film
    flat = np.full(lungs.shape, 0.5, np.float32)
    change = gamma(flat, 1.5, region=lungs) - flat  # a hard switch would jump by the full change at the border
    full = abs(0.5 ** 1.5 - 0.5)
    step = max(np.abs(np.diff(change, axis=0)).max(), np.abs(np.diff(change, axis=1)).max())
    assert step < 0.5 * full
    assert np.abs(change[_deep_inside(lungs)]).min() > 0.99 * full


@pytest.mark.parametrize("call", [
    lambda im, m: gaussian_blur(im, 0),
    lambda im, m: gaussian_blur(im, 1, region=m.astype(int)),
    lambda im, m: gaussian_blur(im, 1, region=m[:10]),
    lambda im, m: gaussian_blur((im * 255).astype(np.uint8), 1),
    lambda im, m: gaussian_blur(im * 2, 1),
    lambda im, m: motion_blur(im, 2.5),
    lambda im, m: scale_contrast(im, -1),
    lambda im, m: gamma(im, 0),
    lambda im, m: shuffle_patches(im, None, 4),
    lambda im, m: low_pass(im, m, -1),
    lambda im, m: apply("sharpen", im, 1),
    lambda im, m: apply("low_pass", im, 1),
])
def test_bad_arguments_raise_config_error(film, call):
    image, lungs = film
    with pytest.raises(ConfigError):
        call(image, lungs)
