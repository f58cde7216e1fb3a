"""Audit a dataset tree (the library of ``python -m data.audit``): counts, patients shared across splits, exact and near duplicates, unreadable files, geometry."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from data.errors import ImageLoadError
from data.io import load_xray
from data.parallel import parallel_map
from data.scan import scan_dataset
from data.splits import patients_across_splits

#: Below this many images, a split cannot support accuracy claims (warned about).
THUMB = 32


#: Skipped or undecodable files named in the terminal summary (the rest are in skipped_files.csv).
SHOW_SKIPPED = 10


@dataclass(frozen=True)
class AuditConfig:
    """Resolved configuration of one audit."""

    data: str
    out: str = "runs/audit"
    near_threshold: float = 0.99
    workers: int | None = None


def image_fingerprint(path: str) -> tuple[str, np.ndarray] | str:
    """Pixel hash and normalised 32x32 thumbnail of one image, or an error string.

    The pixel hash is SHA-256 over the decoded float32 pixels and their shape (same
    pixels, same hash, whatever the file format). The thumbnail is area-resized to
    32x32 (squeezed, so a 224x224 copy of an original matches it), mean-centred and
    scaled to unit norm: the dot product of two thumbnails is their Pearson
    correlation.
    """
    try:
        image = load_xray(path)
    except ImageLoadError as exc:
        return str(exc)
    digest = hashlib.sha256(np.asarray(image.shape, np.int64).tobytes() + image.tobytes()).hexdigest()
    thumb = cv2.resize(image, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    thumb -= thumb.mean()
    norm = np.linalg.norm(thumb)
    thumb = thumb / norm if norm > 0 else thumb
    return digest, thumb.astype(np.float32)


def near_duplicate_pairs(thumbs: np.ndarray, threshold: float, block: int = 1024) -> list[tuple[int, int, float]]:
    """Index pairs (i < j) whose thumbnail correlation is at least ``threshold``.

    Args:
        thumbs: (N, D) unit-norm, mean-centred rows.
        threshold: correlation in (0, 1].
        block: rows per block of the blocked Gram matrix (memory bound).

    Returns:
        List of (i, j, correlation).
    """
    pairs = []
    for start in range(0, len(thumbs), block):
        gram = thumbs[start:start + block] @ thumbs.T
        rows, cols = np.nonzero(gram >= threshold)
        for r, c in zip(rows, cols):
            i = start + r
            if c > i:
                pairs.append((int(i), int(c), float(gram[r, c])))
    return pairs


def _geometry(table: pd.DataFrame) -> dict:
    out = {}
    for split, part in table.groupby("split"):
        is224 = (part["width"] == 224) & (part["height"] == 224)
        out[split] = {
            "width": {"min": int(part["width"].min()), "median": float(part["width"].median()),
                      "max": int(part["width"].max())},
            "height": {"min": int(part["height"].min()), "median": float(part["height"].median()),
                       "max": int(part["height"].max())},
            "channels": {str(k): int(v) for k, v in part["channels"].value_counts().sort_index().items()},
            "share_224x224": float(is224.mean()),
        }
    return out


@dataclass(frozen=True)
class AuditResult:
    """An audit: the JSON-ready summary and its two tables (pairs of duplicates, patients in several splits).

    ``audit["warnings"]`` is empty here: the command adds the small-split warnings
    (:func:`stats.intervals.split_size_warning`, a layer above).
    """

    audit: dict
    duplicates: pd.DataFrame
    shared_patients: pd.DataFrame


def audit_dataset(cfg: AuditConfig) -> AuditResult:
    """Audit a dataset tree: counts, patients across splits, exact and near duplicates, unreadable files, geometry.

    Writes nothing (see :func:`write_audit`).
    """
    table = scan_dataset(cfg.data)
    root = Path(table.attrs["root"])
    results = parallel_map(image_fingerprint, [str(root / p) for p in table["path"]],
                           workers=cfg.workers, desc="audit: decode", chunksize=32)
    failed = [(iid, r) for iid, r in zip(table["image_id"], results) if isinstance(r, str)]
    ok = [i for i, r in enumerate(results) if not isinstance(r, str)]
    good = table.iloc[ok].reset_index(drop=True)
    digests = [results[i][0] for i in ok]
    thumbs = np.stack([results[i][1] for i in ok]) if ok else np.zeros((0, THUMB * THUMB), np.float32)

    rows = []
    by_digest: dict[str, list[int]] = {}
    for i, d in enumerate(digests):
        by_digest.setdefault(d, []).append(i)
    exact = set()
    for members in by_digest.values():
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                exact.add((members[a], members[b]))
    for i, j, corr in near_duplicate_pairs(thumbs, cfg.near_threshold):
        rows.append((i, j, corr, "exact" if (i, j) in exact else "near"))
    for i, j in exact - {(r[0], r[1]) for r in rows}:
        rows.append((i, j, 1.0, "exact"))
    dup = pd.DataFrame([{
        "image_id_a": good.at[i, "image_id"], "image_id_b": good.at[j, "image_id"],
        "split_a": good.at[i, "split"], "split_b": good.at[j, "split"],
        "label_a": good.at[i, "label"], "label_b": good.at[j, "label"],
        "same_patient": good.at[i, "patient_id"] == good.at[j, "patient_id"],
        "kind": kind, "correlation": round(corr, 5)} for i, j, corr, kind in rows],
        columns=["image_id_a", "image_id_b", "split_a", "split_b", "label_a", "label_b",
                 "same_patient", "kind", "correlation"])

    shared = patients_across_splits(table)
    counts = table.groupby(["split", "label"]).size().unstack(fill_value=0)
    cross = dup[dup["split_a"] != dup["split_b"]]
    audit = {
        "config": asdict(cfg),
        "root": str(root),
        "n_images": int(len(table)),
        "counts": {s: {k: int(v) for k, v in row.items()} for s, row in counts.iterrows()},
        "patients": {"n_patients": int(table["patient_id"].nunique()),
                     "shared_across_splits": int(len(shared)),
                     "shared_examples": shared.head(20).to_dict(orient="records")},
        "duplicates": {
            "near_threshold": cfg.near_threshold,
            "exact_pairs": int((dup["kind"] == "exact").sum()),
            "near_pairs": int((dup["kind"] == "near").sum()),
            "cross_split_pairs": int(len(cross)),
            "cross_split_label_conflicts": int((cross["label_a"] != cross["label_b"]).sum()),
            "within_split_pairs": int(len(dup) - len(cross)),
            "examples": dup.sort_values("correlation", ascending=False).head(20).to_dict(orient="records"),
        },
        "skipped": table.attrs["skipped"],
        "unreadable": [{"image_id": iid, "reason": reason} for iid, reason in failed],
        "geometry": _geometry(table),
        "split_sizes": {str(s): int(n) for s, n in table["split"].value_counts().items()},
        "warnings": [],
    }
    return AuditResult(audit, dup, shared)


def write_audit(result: AuditResult, out: str | Path) -> dict:
    """Write ``audit.json``, ``duplicates.csv``, ``shared_patients.csv`` and ``skipped_files.csv`` into ``out``.

    Returns:
        The audit dict as written (with ``skipped_files_csv``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    audit = dict(result.audit)
    skipped_files(audit).to_csv(out / "skipped_files.csv", index=False)
    audit["skipped_files_csv"] = str(out / "skipped_files.csv")
    (out / "audit.json").write_text(json.dumps(audit, indent=2))
    result.duplicates.to_csv(out / "duplicates.csv", index=False)
    result.shared_patients.to_csv(out / "shared_patients.csv", index=False)
    return audit


def skipped_files(audit: dict) -> pd.DataFrame:
    """Every file the audit left out, with why: columns ``image_id`` (path under the root) and ``reason``.

    Reasons: ``hidden`` (a dot-file or dot-folder), ``not an image`` (suffix), ``unreadable header``
    (the scan could not read its size), or the decoder's message for files that failed to decode.
    """
    s = audit["skipped"]
    rows = ([(f, "hidden") for f in s.get("hidden_files", [])]
            + [(f, "not an image") for f in s.get("not_image_files", [])]
            + [(f, "unreadable header") for f in s.get("unreadable_files", [])]
            + [(u["image_id"], f"failed to decode: {u['reason']}") for u in audit["unreadable"]])
    return pd.DataFrame(rows, columns=["image_id", "reason"])
