"""Patient-grouped splits: images of one patient never straddle two splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from data.errors import ConfigError


def patients_across_splits(table: pd.DataFrame) -> pd.DataFrame:
    """Patients whose images fall in more than one split.

    Args:
        table: scan table with ``patient_id`` and ``split`` columns.

    Returns:
        DataFrame with ``patient_id``, ``splits`` (sorted, comma-joined) and
        ``n_images``, one row per shared patient, empty when there are none.
    """
    per_patient = table.groupby("patient_id")["split"].agg(lambda s: ",".join(sorted(set(s))))
    shared = per_patient[per_patient.str.contains(",")]
    counts = table.groupby("patient_id").size()
    return pd.DataFrame({"patient_id": shared.index, "splits": shared.values,
                         "n_images": counts.loc[shared.index].values}).reset_index(drop=True)


def grouped_train_valid_split(table: pd.DataFrame, valid_fraction: float = 0.2, seed: int = 0) -> pd.Series:
    """Assign each training image to ``train`` or ``valid``, grouped by patient, stratified by label.

    Args:
        table: rows to split (typically the ``train`` split of the scan table), with
            ``patient_id`` and ``label`` columns.
        valid_fraction: share of images for validation, in (0, 0.5].
        seed: random seed; the same seed and table give the same split.

    Returns:
        Series indexed like ``table`` with values ``train`` / ``valid``. No patient
        appears in both.
    """
    if not 0.0 < valid_fraction <= 0.5:
        raise ConfigError(f"valid_fraction must be in (0, 0.5], got {valid_fraction}")
    n_folds = max(2, int(round(1.0 / valid_fraction)))
    n_patients = table["patient_id"].nunique()
    if n_patients < n_folds:
        raise ConfigError(f"cannot make a grouped split of {n_patients} patients into {n_folds} folds")
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    _, valid_idx = next(splitter.split(np.zeros(len(table)), table["label"].values, table["patient_id"].values))
    out = pd.Series("train", index=table.index, dtype=object)
    out.iloc[valid_idx] = "valid"
    return out
