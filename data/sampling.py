"""Draw the bundled sample from a full copy of the dataset (the library of ``python -m data.make_sample``): patient-disjoint, seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.labels import CLASSES

FOLDER_OF_SPLIT = {"train": "train", "valid": "val", "test": "test"}


def choose_sample(table: pd.DataFrame, train_per_class: int, test_per_class: int, seed: int) -> pd.DataFrame:
    """Rows of the sample: all of ``valid``, then test and train draws, patient-disjoint across splits.

    Args:
        table: scan table of the full dataset.
        train_per_class: images per class drawn from ``train``.
        test_per_class: images per class drawn from ``test``.
        seed: random seed.

    Returns:
        Subset of ``table`` (same columns).
    """
    rng = np.random.default_rng(seed)
    chosen = [table[table["split"] == "valid"]]
    used = set(chosen[0]["patient_id"])
    for split, per_class in (("test", test_per_class), ("train", train_per_class)):
        for label in CLASSES:
            pool = table[(table["split"] == split) & (table["label"] == label) & ~table["patient_id"].isin(used)]
            # one image per patient keeps the sample diverse
            pool = pool.groupby("patient_id", sort=True).head(1)
            take = pool.iloc[rng.permutation(len(pool))[:per_class]]
            chosen.append(take)
        used |= set(pd.concat(chosen[-2:])["patient_id"])
    return pd.concat(chosen).sort_values("image_id", ignore_index=True)
