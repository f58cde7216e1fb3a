"""Quality metrics of every image of a dataset at one analysis size (library of ``python -m quality.measure``).

Every image is decoded with :func:`data.io.load_xray`, squeezed to ``size x size``
with :func:`data.io.resize_square` (the way the model sees it) and measured with
:func:`quality.metrics.quality_metrics`. Measuring at one size matters: this
dataset mixes originals up to 512 px with 224x224 copies, and sharpness and noise
values depend strongly on pixel size.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

import data
from data.errors import ConfigError, ImageLoadError
from data.io import load_xray, resize_square
from data.parallel import default_workers, parallel_map
from data.scan import SPLITS, scan_dataset
from quality import metrics as qm

DEFAULT_DATA = Path(data.__file__).parent / "sample"
"""The bundled sample dataset (may be absent; then the scan reports it)."""

SPLIT_CHOICES = (*SPLITS, "all")
ID_COLUMNS = ["image_id", "split", "label", "orig_width", "orig_height", "aspect_ratio", "analysis_size"]
OUTPUT_COLUMNS = [*ID_COLUMNS, *qm.QUALITY_COLUMNS, "error"]
"""Columns of :func:`measure_dataset`'s table. ``aspect_ratio`` is ``orig_width / orig_height`` from
the scan table; ``error`` is empty, or why the image could not be decoded (its q_ columns
are then NaN)."""


def default_out(split: str, size: int) -> Path:
    """``runs/quality/quality_<split>_<size>.csv`` (relative to the working directory)."""
    return Path("runs") / "quality" / f"quality_{split}_{size}.csv"


@dataclass(frozen=True)
class MeasureConfig:
    """Resolved settings of one measurement run.

    Attributes:
        data: dataset root ``ROOT/{train,val,test}/{NORMAL,PNEUMONIA}``.
        split: ``train``, ``valid``, ``test`` or ``all``.
        size: analysis side in pixels (>= 8); every metric is computed at it.
        out: CSV path; ``None`` resolves to :func:`default_out`. The config JSON is
            written beside it with the suffix ``.json``.
        workers: processes (1 = in this process); ``None`` resolves to the CPU count.
        progress: show a tqdm progress bar on stderr.
    """

    data: Path = DEFAULT_DATA
    split: str = "all"
    size: int = qm.ANALYSIS_SIZE
    out: Path | None = None
    workers: int | None = None
    progress: bool = True
    analysis_size: int = field(init=False)

    def __post_init__(self) -> None:
        if self.split not in SPLIT_CHOICES:
            raise ConfigError(f"--split {self.split!r} is not one of {list(SPLIT_CHOICES)}")
        if isinstance(self.size, bool) or not isinstance(self.size, (int, np.integer)) or self.size < qm.MIN_SIDE:
            raise ConfigError(f"--size {self.size!r} must be an integer >= {qm.MIN_SIDE} (pixels)")
        workers = default_workers() if self.workers is None else self.workers
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise ConfigError(f"--workers {self.workers!r} must be an integer >= 1")
        out = default_out(self.split, int(self.size)) if self.out is None else Path(self.out)
        if out.suffix.lower() != ".csv":
            raise ConfigError(f"--out {str(out)!r} must end in .csv")
        object.__setattr__(self, "data", Path(self.data).expanduser())
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "workers", int(workers))
        object.__setattr__(self, "out", out)
        object.__setattr__(self, "analysis_size", int(self.size))

    @property
    def config_path(self) -> Path:
        """The JSON written beside the CSV."""
        return self.out.with_suffix(".json")


def _resize_mask(mask: np.ndarray, shape: tuple[int, int], size: int) -> np.ndarray:
    m = np.asarray(mask)
    if m.shape != shape:
        raise qm.MaskError(f"mask shape {m.shape} does not match image shape {shape}")
    if m.shape == (size, size):
        return m.astype(bool)
    return cv2.resize(m.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST).astype(bool)


def measure_image(image: np.ndarray, size: int = qm.ANALYSIS_SIZE, mask: np.ndarray | None = None) -> dict:
    """Quality metrics of one already-loaded image at the analysis size.

    The image is converted like :func:`data.io.load_xray` output, squeezed to
    ``size x size`` with :func:`data.io.resize_square`, and measured. A mask (same
    shape as ``image``) is resized with nearest-neighbour interpolation. Geometry
    (``orig_width``...) is not included: it comes from the scan table.

    Args:
        image: 2-D grayscale image (float [0, 1], uint8, uint16, ...); not modified.
        size: analysis side in pixels (>= 8).
        mask: optional boolean region of the image's shape.

    Returns:
        ``{"analysis_size": size, "q_...": value, ...}`` (``QUALITY_COLUMNS``).

    Raises:
        ConfigError: ``size`` below 8.
        MaskError: mask of the wrong shape, or empty at the analysis size.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < qm.MIN_SIDE:
        raise ConfigError(f"analysis size {size!r} must be an integer >= {qm.MIN_SIDE} (pixels)")
    img = qm.to_unit_float(image)
    small = resize_square(img, int(size))
    small_mask = None if mask is None else _resize_mask(mask, img.shape, int(size))
    return {"analysis_size": int(size), **qm.quality_metrics(small, small_mask)}


def _measure_file(task: tuple[str, str, int]) -> dict:
    """Worker: ``(image_id, absolute path, size)`` -> one result row (never raises on bad files)."""
    image_id, path, size = task
    try:
        row = measure_image(load_xray(path), size)
        row["error"] = ""
    except ImageLoadError as exc:
        row = {"analysis_size": size, **{c: np.nan for c in qm.QUALITY_COLUMNS}, "error": str(exc)}
    row["image_id"] = image_id
    return row


def _versions() -> dict[str, str]:
    import scipy
    import skimage

    return {"numpy": np.__version__, "opencv": cv2.__version__, "scikit-image": skimage.__version__,
            "scipy": scipy.__version__, "pandas": pd.__version__}


def write_outputs(table: pd.DataFrame, cfg: MeasureConfig, seconds: float) -> None:
    """Write the CSV and the resolved-config JSON beside it."""
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(cfg.out, index=False)
    config = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}
    config.update({
        "data": str(Path(table.attrs.get("root", cfg.data))),
        "out": str(cfg.out.resolve()),
        "config_path": str(cfg.config_path.resolve()),
        "n_images": int(len(table)),
        "n_errors": int((table["error"] != "").sum()),
        "seconds": round(seconds, 3),
        "columns": list(table.columns),
        "metric_params": {"highfreq_cutoff_cycles_per_px": qm.HIGHFREQ_CUTOFF, "clip_tol": qm.CLIP_TOL,
                          "entropy_bins": qm.ENTROPY_BINS, "blur_effect_h_size": qm.BLUR_H_SIZE,
                          "resize": "data.io.resize_square (squish; area when shrinking)"},
        "versions": _versions(),
    })
    cfg.config_path.write_text(json.dumps(config, indent=2) + "\n")


def measure_dataset(cfg: MeasureConfig) -> pd.DataFrame:
    """Scan ``cfg.data`` and measure every image of ``cfg.split`` (writes nothing).

    Args:
        cfg: resolved settings.

    Returns:
        One row per scanned image, in scan order (sorted by ``image_id``), with
        ``OUTPUT_COLUMNS``. Images that fail to decode keep their row with NaN
        metrics and the reason in ``error``. ``attrs["root"]`` is the dataset root.

    Raises:
        DatasetLayoutError: ``cfg.data`` is missing or not a dataset tree.
    """
    splits = None if cfg.split == "all" else (cfg.split,)
    scan = scan_dataset(cfg.data, splits=splits)
    root = Path(scan.attrs["root"])
    tasks = [(iid, str(root / rel), cfg.size) for iid, rel in zip(scan["image_id"], scan["path"])]
    rows = parallel_map(_measure_file, tasks, workers=cfg.workers, desc=f"quality {cfg.split}@{cfg.size}",
                        progress=cfg.progress)
    measured = pd.DataFrame(rows)
    table = scan[["image_id", "split", "label", "width", "height"]].rename(
        columns={"width": "orig_width", "height": "orig_height"})
    table["aspect_ratio"] = table["orig_width"] / table["orig_height"]
    table = table.merge(measured, on="image_id", how="left", validate="one_to_one")[OUTPUT_COLUMNS]
    table.attrs["root"] = str(root)
    return table
