"""Synthetic shifted copies of a dataset (the library of ``python -m data.make_shifted``): lower contrast and a little blur, for testing the domain-shift analysis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from data.errors import ConfigError
from data.io import load_xray
from data.layouts import scan_any_layout


def shift_image(image: np.ndarray, contrast: float, blur: float) -> np.ndarray:
    """Lower contrast about the film's mean, then Gaussian blur.

    Args:
        image: float (H, W) in [0, 1].
        contrast: factor in (0, 1] (1: unchanged).
        blur: sigma as a fraction of the short side (0: none).

    Returns:
        float32 (H, W) in [0, 1].
    """
    if not 0 < contrast <= 1 or blur < 0:
        raise ConfigError(f"need 0 < contrast <= 1 and blur >= 0, got contrast={contrast}, blur={blur}")
    m = float(image.mean())
    out = m + contrast * (image.astype(np.float32) - m)
    if blur > 0:
        out = gaussian_filter(out, blur * min(image.shape))
    return np.clip(out, 0, 1).astype(np.float32)


def make_shifted(src: str | Path, out: str | Path, *, contrast: float = 0.6, blur: float = 0.01,
                 subsets: tuple[str, ...] | None = None, limit_per_class: int | None = None, seed: int = 0) -> int:
    """Write the shifted copy of every labelled film of ``src``; returns the number written.

    Raises:
        ToolkitError: bad layout, unlabelled source, an existing non-empty ``out``.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"output folder {out} exists and is not empty")
    table = scan_any_layout(src, set_name="src", subsets=subsets)
    if not table["label"].isin(["NORMAL", "PNEUMONIA"]).all():
        raise ConfigError(f"{src} has unlabelled images; the shifted set keeps class folders, so it needs labels")
    if limit_per_class:
        rng = np.random.default_rng(seed)
        table = table.groupby("label", group_keys=False).apply(
            lambda g: g.iloc[np.sort(rng.choice(len(g), min(limit_per_class, len(g)), replace=False))])
    root = Path(table.attrs["root"])
    for row in table.itertuples():
        pixels = shift_image(load_xray(root / row.path), contrast, blur)
        target = out / row.label / (row.path.replace("/", "__").rsplit(".", 1)[0] + ".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8)).save(target)
    (out / "SHIFT.json").write_text(json.dumps({"source": str(root), "subsets": list(subsets or []),
                                                "contrast": contrast, "blur_fraction_of_short_side": blur,
                                                "n": int(len(table))}, indent=2))
    return len(table)
