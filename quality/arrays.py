"""Quality metrics of images already decoded at the model's size (what the model sees)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from quality.batch import measure_image


def quality_of_pixels(image_ids, pixels: np.ndarray, *, desc: str = "quality", progress: bool = True) -> pd.DataFrame:
    """Every quality metric of each image, measured at the images' own (model) size.

    Args:
        image_ids: (N,) keys.
        pixels: uint8 (N, S, S) or float [0, 1] images.
        desc: progress-bar label.
        progress: show a progress bar.

    Returns:
        DataFrame: ``image_id``, ``analysis_size`` and the ``q_`` columns, in input order.
    """
    rows = []
    for iid, image in tqdm(list(zip(image_ids, pixels)), desc=desc, unit="img", disable=not progress):
        rows.append({"image_id": iid, **measure_image(image, size=int(image.shape[0]))})
    return pd.DataFrame(rows)
