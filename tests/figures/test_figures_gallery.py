"""Tests for figures.gallery.write_gallery."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from figures.gallery import confidence, gallery_order, write_gallery

COLUMNS = ["image_id", "panel", "label", "pred", "p_pneumonia", "outcome"]
ROWS = pd.DataFrame([
    ("tn1", "panels/tn1.png", "NORMAL", "NORMAL", 0.1, "TN"),
    ("fp_low", "panels/fp_low.png", "NORMAL", "PNEUMONIA", 0.55, "FP"),
    ("fn_high", "panels/fn_high.png", "PNEUMONIA", "NORMAL", 0.05, "FN"),
    ("fp_high", "panels/fp high.png", "NORMAL", "PNEUMONIA", 0.9, "FP"),
    ("tp1", "panels/tp1.png", "PNEUMONIA", "PNEUMONIA", 0.99, "TP"),
], columns=COLUMNS)


def test_confidence_of_errors():
    assert confidence("FP", 0.8) == pytest.approx(0.8)
    assert confidence("FN", 0.2) == pytest.approx(0.8)
    assert confidence("TN", 0.1) == pytest.approx(0.9)


def test_order_errors_first_by_descending_confidence():
    before = ROWS.copy()
    ordered = gallery_order(ROWS)
    assert list(ordered["image_id"]) == ["fn_high", "fp_high", "fp_low", "tp1", "tn1"]
    pd.testing.assert_frame_equal(ROWS, before)


def test_page_has_one_link_per_row_in_order_and_header(tmp_path):
    out = write_gallery(ROWS, tmp_path / "gallery" / "index.html", split="valid")
    page = out.read_text()
    links = re.findall(r'<a href="([^"]+)"', page)
    assert links == ["panels/fn_high.png", "panels/fp%20high.png", "panels/fp_low.png", "panels/tp1.png",
                     "panels/tn1.png"]
    assert len(re.findall(r"<img ", page)) == len(ROWS)
    assert "3 errors (2 FP, 1 FN)" in page and "valid split" in page
    assert "http://" not in page and "https://" not in page
    assert "P(pneumonia) = 0.900" in page


def test_escapes_ids_and_handles_missing_probability(tmp_path):
    rows = ROWS.iloc[:2].copy()
    rows.loc[rows.index[0], "image_id"] = "<b>x</b>"
    rows.loc[rows.index[1], "p_pneumonia"] = float("nan")
    page = write_gallery(rows, tmp_path / "index.html").read_text()
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "P(pneumonia) = n/a" in page
    assert "1 error (1 FP, 0 FN)" in page


def test_missing_column_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="panel"):
        write_gallery(ROWS.drop(columns="panel"), tmp_path / "index.html")
