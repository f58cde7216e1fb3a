"""Read a Kermany/Kaggle-style folder tree into the scan table, the spine of every artefact.

Layout: ``ROOT/{train,val,test}/{NORMAL,PNEUMONIA}/<image files>``. The folder
``val`` (or ``valid``) is the split ``valid``. One row per readable image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from PIL import Image

from data.errors import DatasetLayoutError
from data.labels import CLASSES as LABELS

SPLIT_FOLDERS = {"train": "train", "val": "valid", "valid": "valid", "test": "test"}
SPLITS = ("train", "valid", "test")
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff", ".dcm", ".dicom"}
SCAN_COLUMNS = ["image_id", "path", "split", "label", "patient_id", "subtype", "width", "height", "channels"]

_PERSON = re.compile(r"^person(\d+)_(bacteria|virus)?", re.IGNORECASE)
_STUDY = re.compile(r"^(NORMAL2-)?IM-(\d+)-", re.IGNORECASE)


def parse_patient_id(filename: str) -> str:
    """Patient identifier from a Kermany file name.

    ``person1234_bacteria_5.jpeg`` -> ``person1234``; ``IM-0115-0001.jpeg`` ->
    ``IM-0115``; ``NORMAL2-IM-0115-0001.jpeg`` -> ``NORMAL2-IM-0115``. The prefixes
    keep the three numbering schemes apart (``person115`` and ``IM-0115`` are not
    known to be one child). Any other name is its own patient (its stem).
    """
    name = Path(filename).name
    match = _PERSON.match(name)
    if match:
        return f"person{int(match.group(1))}"
    match = _STUDY.match(name)
    if match:
        prefix = "NORMAL2-IM-" if match.group(1) else "IM-"
        return f"{prefix}{match.group(2)}"
    return Path(name).stem


def parse_subtype(filename: str) -> str:
    """``bacteria`` or ``virus`` from a pneumonia file name, else ``none``."""
    lowered = Path(filename).name.lower()
    for subtype in ("bacteria", "virus"):
        if f"_{subtype}" in lowered:
            return subtype
    return "none"


def _header(path: Path) -> tuple[int, int, int] | None:
    """(width, height, channels) without decoding pixels; None when unreadable."""
    try:
        if path.suffix.lower() in (".dcm", ".dicom"):
            import pydicom

            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
            return int(ds.Columns), int(ds.Rows), int(getattr(ds, "SamplesPerPixel", 1))
        with Image.open(path) as image:
            return image.size[0], image.size[1], len(image.getbands())
    except Exception:  # any unreadable header is reported by the caller, not raised
        return None


@dataclass
class ScanReport:
    """What the scan skipped and why (nothing here is fatal)."""

    hidden: list[str] = field(default_factory=list)
    not_image: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"hidden": len(self.hidden), "not_image": len(self.not_image),
                "unreadable": len(self.unreadable), "unreadable_files": list(self.unreadable),
                "hidden_files": list(self.hidden), "not_image_files": list(self.not_image)}


def _split_dirs(root: Path) -> dict[str, Path]:
    if not root.is_dir():
        raise DatasetLayoutError(f"data root {root} is not a folder (expected ROOT/{{train,val,test}}/{{NORMAL,PNEUMONIA}})")
    found: dict[str, Path] = {}
    for child in sorted(root.iterdir()):
        split = SPLIT_FOLDERS.get(child.name)
        if child.is_dir() and split:
            if split in found:
                raise DatasetLayoutError(f"both {found[split].name}/ and {child.name}/ under {root} map to split '{split}'")
            found[split] = child
    if not found:
        raise DatasetLayoutError(
            f"no split folders under {root} (expected {root}/train, {root}/val or {root}/test, "
            "each holding NORMAL/ and PNEUMONIA/)")
    return found


def scan_files(root: Path, folder: Path, label: str, split: str, report: ScanReport) -> list[dict]:
    """Scan-table rows of the image files below ``folder`` (ids relative to ``root``); skipped files go to ``report``."""
    rows = []
    for file in sorted(folder.rglob("*")):
        if file.is_dir():
            continue
        rel = file.relative_to(root).as_posix()
        if any(part.startswith(".") for part in file.relative_to(folder).parts):
            report.hidden.append(rel)
            continue
        if file.suffix.lower() not in IMAGE_SUFFIXES:
            report.not_image.append(rel)
            continue
        header = _header(file)
        if header is None:
            report.unreadable.append(rel)
            continue
        width, height, channels = header
        rows.append({"image_id": rel, "path": rel, "split": split, "label": label,
                     "patient_id": parse_patient_id(file.name), "subtype": parse_subtype(file.name),
                     "width": width, "height": height, "channels": channels})
    return rows


def scan_dataset(root: str | Path, splits: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Scan a dataset tree into one table, one row per readable image.

    Args:
        root: dataset root holding ``train/``, ``val/`` and/or ``test/``.
        splits: restrict to these split names (``train``, ``valid``, ``test``).

    Returns:
        DataFrame with columns ``SCAN_COLUMNS``, sorted by ``image_id``. ``image_id``
        is the POSIX path relative to ``root`` (stable across machines); ``path`` is
        the same relative path. ``df.attrs["root"]`` holds the absolute root and
        ``df.attrs["skipped"]`` a :class:`ScanReport` as a dict.

    Raises:
        DatasetLayoutError: no split folder, a split without both class folders, or
            an empty class folder.
    """
    root = Path(root).expanduser().resolve()
    split_dirs = _split_dirs(root)
    if splits is not None:
        unknown = set(splits) - set(SPLITS)
        if unknown:
            raise DatasetLayoutError(f"unknown split(s) {sorted(unknown)}; expected some of {list(SPLITS)}")
        split_dirs = {s: d for s, d in split_dirs.items() if s in splits}
        if not split_dirs:
            raise DatasetLayoutError(f"none of the splits {list(splits)} exist under {root}")
    report = ScanReport()
    rows = []
    for split, split_dir in split_dirs.items():
        for label in LABELS:
            class_dir = split_dir / label
            if not class_dir.is_dir():
                raise DatasetLayoutError(
                    f"missing class folder {class_dir} (expected {split_dir}/NORMAL and {split_dir}/PNEUMONIA)")
            n_before = len(rows)
            rows += scan_files(root, class_dir, label, split, report)
            if len(rows) == n_before:
                raise DatasetLayoutError(f"class folder {class_dir} holds no readable images")
    table = pd.DataFrame(rows, columns=SCAN_COLUMNS).sort_values("image_id", ignore_index=True)
    table.attrs["root"] = str(root)
    table.attrs["skipped"] = report.as_dict()
    return table
