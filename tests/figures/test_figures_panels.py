"""Tests for figures.panels.draw_panel."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from figures.panels import caption_lines, draw_panel, ig_limit
from figures.style import OUTCOME_COLOURS
from helpers import chest

CAPTION = {
    "image_id": "IM-0001-0001", "label": "NORMAL", "pred": "PNEUMONIA", "p_pneumonia": 0.87345, "outcome": "FP",
    "q_laplacian_var": 123.456, "q_rms_contrast": 0.2134, "q_highfreq_share": 0.0123, "q_mean": 0.4567,
    "gradcam_lung_share": 0.62, "ig_lung_share": 0.41, "ig_completeness_error": 0.0031, "ig_steps": 32,
}


def maps(size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size] / size
    cam = np.exp(-(((xx - 0.35) / 0.15) ** 2 + ((yy - 0.55) / 0.2) ** 2))
    ig = np.random.default_rng(0).normal(0, 1e-3, (size, size)) * (1 + 3 * cam)
    return cam.astype(np.float32), ig.astype(np.float32)


def rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def count_colour(pixels: np.ndarray, hex_colour: str, tol: int = 12) -> int:
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels - target).max(axis=-1) <= tol).sum())


def test_three_columns_size_not_blank_and_outcome_badge(tmp_path):
    image, lungs = chest()
    cam, ig = maps()
    out = draw_panel(image, gradcam=cam, ig=ig, lung_mask=lungs, caption=CAPTION, path=tmp_path / "p.png")
    assert out == tmp_path / "p.png" and out.is_file()
    pixels = rgb(out)
    h, w = pixels.shape[:2]
    assert 1100 <= w <= 1800 and 450 <= h <= 1000, (w, h)
    assert pixels.std() > 10
    assert count_colour(pixels, OUTCOME_COLOURS["FP"]) > 100      # the FP badge is drawn in its colour
    assert count_colour(pixels, "#00e5ff", tol=40) > 200          # lung outline in cyan


def test_columns_omitted_when_maps_are_none(tmp_path):
    image, lungs = chest()
    cam, _ = maps()
    one = draw_panel(image, caption={"image_id": "x"}, path=tmp_path / "one.png")
    two = draw_panel(image, gradcam=cam, lung_mask=lungs, caption=CAPTION, path=tmp_path / "two.png")
    three = draw_panel(image, gradcam=cam, ig=cam - 0.5, caption=CAPTION, path=tmp_path / "three.png")
    widths = [Image.open(p).size[0] for p in (one, two, three)]
    assert 350 <= widths[0] < widths[1] < widths[2]
    assert rgb(one).std() > 10


def test_inputs_not_mutated(tmp_path):
    image, lungs = chest()
    cam, ig = maps()
    caption = dict(CAPTION, warnings=["sanity check failed"])
    copies = [a.copy() for a in (image, cam, ig, lungs)]
    caption_copy = {k: (list(v) if isinstance(v, list) else v) for k, v in caption.items()}
    draw_panel(image, gradcam=cam, ig=ig, lung_mask=lungs, caption=caption, path=tmp_path / "p.png")
    for before, after in zip(copies, (image, cam, ig, lungs)):
        np.testing.assert_array_equal(before, after)
    assert caption == caption_copy


def test_maps_of_another_resolution_and_empty_caption(tmp_path):
    image, _ = chest(120)
    cam, ig = maps(30)
    _, lungs = chest(60)
    out = draw_panel(image, gradcam=cam, ig=ig, lung_mask=lungs, caption={}, path=tmp_path / "sub" / "p.png")
    assert rgb(out).std() > 10


def test_all_zero_ig_and_rectangular_image(tmp_path):
    image = np.tile(np.linspace(0, 1, 160, dtype=np.float32), (100, 1))
    out = draw_panel(image, ig=np.zeros((100, 160)), caption={"outcome": "TN"}, path=tmp_path / "p.png")
    assert rgb(out).std() > 10


def test_caption_lines_show_what_is_there_and_warn():
    lines, warnings = caption_lines(dict(CAPTION, lung_mask_plausible=False, lung_mask_reasons=["area too small"],
                                         warnings=["Grad-CAM failed the randomisation test"]))
    text = " ".join(lines).replace("\u00a0", " ")
    for part in ("IM-0001-0001", "true NORMAL", "predicted PNEUMONIA", "P(pneumonia) = 0.873",
                 "Laplacian var 123", "RMS contrast 0.213", "Grad-CAM lung share 0.62", "IG lung share 0.41",
                 "IG completeness error 0.31% (32 steps)"):
        assert part in text, part
    assert len(warnings) == 2
    assert "implausible" in warnings[0] and "area too small" in warnings[0]
    assert "randomisation" in warnings[1]
    lines, warnings = caption_lines({"image_id": "a", "p_pneumonia": float("nan"), "lung_mask_plausible": True})
    assert lines == ["a"] and warnings == []
    for flag in (np.False_, 0.0, "False"):                        # as read back from a table or CSV
        assert caption_lines({"lung_mask_plausible": flag})[1], flag
    assert caption_lines({"lung_mask_plausible": float("nan")})[1] == []


def test_caption_flags_non_converged_ig_in_words():
    lines, warnings = caption_lines(dict(CAPTION, ig_evaluations=513, ig_converged=False,
                                         ig_completeness_error=0.034))
    text = " ".join(lines).replace("\u00a0", " ")
    assert "IG completeness error 3.40% (513 evaluations)" in text
    assert len(warnings) == 1
    assert "did not converge" in warnings[0] and "3.4%" in warnings[0] and "left out of IG statistics" in warnings[0]
    for flag in (True, np.True_, "True", float("nan")):           # converged, or a table without the column
        assert caption_lines(dict(CAPTION, ig_converged=flag))[1] == [], flag
    assert caption_lines(dict(CAPTION, ig_converged="False"))[1]
    # Flagged by the per-pixel tolerance: the warning gives the estimate that failed.
    _, warnings = caption_lines(dict(CAPTION, ig_converged=False, ig_completeness_error=0.004,
                                     ig_half_rule_change=0.31))
    assert "0.4%" in warnings[0] and "map change vs half the nodes 31.0%" in warnings[0]
    # The run's tolerances (config.json) are named next to the numbers they judge.
    tolerances = dict(CAPTION, ig_converged=False, ig_completeness_error=0.004, ig_half_rule_change=0.31,
                      ig_evaluations=57, ig_tol=0.01, ig_pixel_tol=0.1)
    lines, warnings = caption_lines(tolerances)
    text = " ".join(lines).replace("\u00a0", " ")
    assert "IG completeness error 0.40% (57 evaluations; tolerance 1%)" in text
    assert "map change vs half the nodes 31.0% (tolerance 10%)" in text
    assert "completeness error 0.4% (tolerance 1%)" in warnings[0]
    assert "map change vs half the nodes 31.0% (tolerance 10%)" in warnings[0]
    lines, _ = caption_lines(dict(tolerances, ig_pixel_tol=None))  # --ig-pixel-tol off
    assert "map change vs half the nodes 31.0% (not checked)" in " ".join(lines).replace("\u00a0", " ")


def test_ig_limit_is_robust_and_positive():
    ig = np.zeros(1000)
    ig[:990] = np.linspace(-1, 1, 990)
    ig[990:] = 1000.0                                   # 1% outliers do not set the limit
    assert ig_limit(ig) == pytest.approx(np.percentile(np.abs(ig), 99))
    assert ig_limit(ig) < 1000
    assert ig_limit(np.zeros((4, 4))) == 1.0


def test_rejects_non_2d_image(tmp_path):
    with pytest.raises(ValueError, match="2-D"):
        draw_panel(np.zeros((4, 4, 3)), caption={}, path=tmp_path / "p.png")
