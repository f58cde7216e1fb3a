"""Resume an explain step safely: which saliency rows and map files are still valid, and atomic writes.

A saliency row (image x method x explained class) is valid only for the settings that
shaped it: the model weights and analysis size, and for Integrated Gradients every
``ig_*`` setting (steps, cap, tolerance, baseline, ...). Each row carries a short
``settings_key`` of those settings; a map file (``maps/<id>.npz``) stores the key of
the settings that chose its maps (target rule, methods and the row keys). A rerun
reuses exactly the rows and files whose keys match the current settings and
recomputes the rest, so changing ``--target``, ``--all``, ``--ig-tol`` or the
baseline never leaves stale rows or a map file missing a map.

Writes go to a temporary file in the same folder followed by ``os.replace``, so an
interrupt leaves either the previous table or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

#: Column of saliency.csv holding the key of the settings that produced the row.
KEY_COLUMN = "settings_key"
#: Entry of maps/*.npz holding the key of the settings that produced the file.
NPZ_KEY = "settings_key"


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes (the model weights: a retrained run invalidates rows)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _key(settings: Mapping) -> str:
    text = json.dumps(dict(settings), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def method_settings(config: Mapping, method: str, model_digest: str, size: int) -> dict:
    """The settings that determine a row of ``method``: model, size, and all ``ig_*`` settings for IG.

    Args:
        config: the explain configuration as a dict (``dataclasses.asdict``).
        method: ``gradcam`` or ``ig``.
        model_digest: :func:`file_digest` of the run's ``model.pth``.
        size: analysis size in pixels.
    """
    out = {"method": method, "model": model_digest, "size": int(size)}
    if method == "ig":
        out.update({k: v for k, v in config.items() if k.startswith("ig_")})
    return out


def row_keys(config: Mapping, methods: Iterable[str], model_digest: str, size: int) -> dict[str, str]:
    """``{method: settings_key}`` for each method."""
    return {m: _key(method_settings(config, m, model_digest, size)) for m in methods}


def map_file_key(keys: Mapping[str, str], methods: Iterable[str], target: str) -> str:
    """Key of a map file: the row keys of its methods and the rule choosing which class it shows."""
    return _key({"target": target, "methods": sorted(methods), "rows": {m: keys[m] for m in sorted(methods)}})


def read_valid_rows(path: Path, keys: Mapping[str, str]) -> pd.DataFrame | None:
    """Rows of an existing saliency table whose ``settings_key`` matches the current key of their method.

    Tables written before keys existed have no key column: none of their rows is reused.
    """
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    if KEY_COLUMN not in table or table.empty:
        return None
    current = table["method"].map(dict(keys))
    return table[table[KEY_COLUMN] == current].reset_index(drop=True)


def stale_settings(path: Path, config: Mapping, names: Iterable[str]) -> list[str]:
    """Names among ``names`` whose value differs from the previous run's ``config.json`` at ``path``.

    Only informs the user (rows are validated by their keys, not by this list).
    """
    if not path.is_file():
        return []
    try:
        old = json.loads(path.read_text())
    except ValueError:
        return []
    return [f"{n} {old[n]!r} -> {config[n]!r}" for n in names
            if n in old and n in config and _norm(old[n]) != _norm(config[n])]


def _norm(v):
    return list(v) if isinstance(v, (list, tuple)) else v


def npz_key(path: Path) -> str | None:
    """The settings key stored in a map file (None: absent, unreadable, or written without a key)."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as saved:
            return str(saved[NPZ_KEY]) if NPZ_KEY in saved.files else None
    except (OSError, ValueError, EOFError):
        return None


def atomic_write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` via a temporary file and ``os.replace`` (never half-written)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            frame.to_csv(f, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_savez(path: Path, key: str, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` with the settings key, via a temporary file and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays, **{NPZ_KEY: np.array(key)})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
