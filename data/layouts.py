"""Scan a folder of images in any of the three layouts an evaluation set may have.

- ``split``: ``ROOT/{train,val,test}/{NORMAL,PNEUMONIA}/`` (the Kermany layout, :func:`data.scan.scan_dataset`);
- ``flat``: ``ROOT/{NORMAL,PNEUMONIA}/`` (one class folder may be absent: a set of normal films only);
- ``unlabelled``: images anywhere under ``ROOT`` with no class folders (``label`` is empty).

The table has :data:`data.scan.SCAN_COLUMNS`; ``image_id`` and ``path`` are POSIX
paths relative to ``ROOT``; ``table.attrs`` holds ``root``, ``layout`` and ``skipped``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from data.errors import DatasetLayoutError
from data.scan import IMAGE_SUFFIXES, LABELS, SCAN_COLUMNS, SPLIT_FOLDERS, ScanReport, scan_dataset, scan_files

LAYOUTS = ("split", "flat", "unlabelled")


def detect_layout(root: str | Path) -> str:
    """``split`` when ROOT has a train/val/test folder, ``flat`` when it has NORMAL/ or PNEUMONIA/, else ``unlabelled``.

    Raises:
        DatasetLayoutError: ``root`` is not a folder.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetLayoutError(f"image folder {root} is not a folder (expected ROOT/{{NORMAL,PNEUMONIA}}/, "
                                 "ROOT/{train,val,test}/{NORMAL,PNEUMONIA}/ or a folder of images)")
    names = {child.name for child in root.iterdir() if child.is_dir()}
    if names & set(SPLIT_FOLDERS):
        return "split"
    if names & set(LABELS):
        return "flat"
    return "unlabelled"


def scan_any_layout(root: str | Path, *, set_name: str, subsets: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Scan an evaluation folder into the scan table; every row's ``split`` is ``set_name``.

    Args:
        root: the folder.
        set_name: name of the evaluation set (written into ``split``).
        subsets: for the split layout, which of ``train``, ``valid``, ``test`` to take (None: all).

    Returns:
        DataFrame with :data:`SCAN_COLUMNS` sorted by ``image_id``; ``label`` is ``NORMAL``,
        ``PNEUMONIA`` or ``""`` (unlabelled); ``attrs``: ``root``, ``layout``, ``skipped``.

    Raises:
        DatasetLayoutError: not a folder, or no readable image in it.
    """
    layout = detect_layout(root)
    root = Path(root).expanduser().resolve()
    if layout == "split":
        table = scan_dataset(root, splits=subsets)
        skipped = table.attrs["skipped"]
        table = table.assign(split=set_name)
    else:
        report = ScanReport()
        rows: list[dict] = []
        if layout == "flat":
            for label in LABELS:
                if (root / label).is_dir():
                    rows += scan_files(root, root / label, label, set_name, report)
        else:
            rows = scan_files(root, root, "", set_name, report)
        table = pd.DataFrame(rows, columns=SCAN_COLUMNS).sort_values("image_id", ignore_index=True)
        skipped = report.as_dict()
    if table.empty:
        raise DatasetLayoutError(f"no readable images under {root} ({layout} layout; expected image files with "
                                 f"suffixes {', '.join(sorted(IMAGE_SUFFIXES))})")
    table.attrs.update(root=str(root), layout=layout, skipped=skipped)
    return table


def is_labelled(table: pd.DataFrame) -> bool:
    """True when every row has a NORMAL/PNEUMONIA label."""
    return bool(len(table)) and bool(table["label"].fillna("").isin(LABELS).all())
