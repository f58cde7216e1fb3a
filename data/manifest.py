"""Source geometry from a data root's side table (``MANIFEST.csv``), keyed by ``image_id``.

The stored files of a reduced copy do not tell how the original film was shaped:
98 % of the test images are 224x224 copies, whose aspect ratio is 1 by
construction. ``MANIFEST.csv`` (columns ``split, label, filename, orig_width,
orig_height, ...``) records the size of each file in its source. When present it
gives two covariates:

* ``source_aspect`` = ``orig_width / orig_height``;
* ``source_squeeze`` = ``max(source_aspect, 1 / source_aspect)``: how much the film is
  squeezed along one axis when it is resized to the square model input (1 = none).

Files whose source itself was a 224x224 copy keep aspect 1: their original shape is
unknown (``source_geometry_known`` is False), which the report states.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import DatasetLayoutError

MANIFEST = "MANIFEST.csv"
MANIFEST_COLUMNS = ("split", "label", "filename", "orig_width", "orig_height")
GEOMETRY_COLUMNS = ("source_aspect", "source_squeeze", "source_geometry_known")


def source_geometry(root: str | Path) -> pd.DataFrame | None:
    """Per-image source geometry from ``<root>/MANIFEST.csv``, or None when there is none.

    Returns:
        DataFrame with ``image_id`` (``split/label/filename``, as :mod:`data.scan` names them)
        and :data:`GEOMETRY_COLUMNS`; None when the root has no manifest.

    Raises:
        DatasetLayoutError: a manifest without the expected columns or with non-positive sizes.
    """
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
    if missing:
        raise DatasetLayoutError(f"{path} lacks column(s) {missing}; expected {', '.join(MANIFEST_COLUMNS)}")
    w = pd.to_numeric(table["orig_width"], errors="coerce").to_numpy(float)
    h = pd.to_numeric(table["orig_height"], errors="coerce").to_numpy(float)
    if not (np.isfinite(w) & np.isfinite(h) & (w > 0) & (h > 0)).all():
        raise DatasetLayoutError(f"{path}: orig_width/orig_height must be positive numbers on every row")
    aspect = w / h
    return pd.DataFrame({
        "image_id": table["split"].astype(str) + "/" + table["label"].astype(str) + "/" + table["filename"].astype(str),
        "source_aspect": aspect,
        "source_squeeze": np.maximum(aspect, 1.0 / aspect),
        "source_geometry_known": ~((w == 224) & (h == 224)),
    })
