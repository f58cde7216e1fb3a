"""The reference pool of the per-error context: quality and Grad-CAM summaries of correct images.

For each correctly classified image of a pool split (by default the run's test
split): the whole-film quality metrics at the run's analysis size, its lung field,
and the summary of its Grad-CAM map for the *wrong* class (the class an error
would predict), exactly as the explain step measures errors, so an error's
values and the pool's are comparable. Only what the context needs is computed
(no IG, no maps saved) and the table is cached under ``<run>/explain/context/``,
keyed on the model weights, analysis size and pool rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from data.cache import load_resized
from data.errors import ConfigError
from quality.batch import measure_image
from training.predict import LoadedRun, to_model_input
from xai.gradcam import gradcam_maps
from xai.lungs import lung_mask
from xai.models_util import BinaryLogOdds, target_layer_for
from xai.resume import atomic_write_csv, file_digest
from xai.summarize import saliency_summary

#: Images per Grad-CAM batch of the pool.
POOL_BATCH = 16
#: Bumped when the pool's columns change (a cache of another version is recomputed).
POOL_VERSION = 2


def pool_rows(predictions: pd.DataFrame, pool: str) -> pd.DataFrame:
    """Correct rows of split ``pool`` in the run's predictions.

    Raises:
        ConfigError: the run never predicted that split.
    """
    rows = predictions[predictions["split"] == pool]
    if rows.empty:
        have = ", ".join(sorted(predictions["split"].unique()))
        raise ConfigError(f"--context-pool {pool!r}: the run never predicted that split (it has: {have})")
    return rows[rows["correct"].astype(bool)].reset_index(drop=True)


def context_pool(run: LoadedRun, rows: pd.DataFrame, root: Path, pool: str, *, device: str = "cpu",
                 cache_dir: str | None = None, workers: int | None = None) -> pd.DataFrame:
    """Quality and wrong-class Grad-CAM summaries of ``rows`` (cached).

    Args:
        run: the loaded run.
        rows: correct prediction rows of the pool (``image_id``, ``path``, ``label``, ``pred``,
            ``correct``, ``outcome``).
        root: dataset root the paths are relative to.
        pool: the pool's name (file name of the cache).

    Returns:
        One row per image: the prediction columns, ``q_*`` whole-film metrics,
        ``lung_mask_plausible``, and ``gradcam_*`` summaries of the wrong-class map.
    """
    folder = run.run_dir / "explain" / "context"
    folder.mkdir(parents=True, exist_ok=True)
    key = {"version": POOL_VERSION, "model": file_digest(run.model_file), "size": run.size,
           "images": sorted(rows["image_id"])}
    cache, stamp = folder / f"{pool}.csv", folder / f"{pool}.json"
    if cache.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == key:
        return pd.read_csv(cache)
    pixels = load_resized([root / p for p in rows["path"]], run.size, cache_dir=cache_dir, workers=workers,
                          desc=f"context pool ({pool})")
    images = pixels.astype(np.float32) / 255.0
    masks = [lung_mask(img) for img in tqdm(images, desc=f"context pool lungs ({pool})", unit="img")]
    quality = [measure_image(img, size=img.shape[0]) for img in images]
    wrong = 1 - (rows["label"] == "PNEUMONIA").to_numpy().astype(int)
    model = run.model.to(device).eval()
    layer = target_layer_for(model)
    explained = BinaryLogOdds(model)
    summaries = []
    for start in tqdm(range(0, len(rows), POOL_BATCH), desc=f"context pool Grad-CAM ({pool})", unit="batch"):
        sl = slice(start, start + POOL_BATCH)
        x = to_model_input(pixels[sl], run.mean, run.std).to(device)
        maps, raw = gradcam_maps(explained, x, wrong[sl], target_layer=layer, return_raw=True)
        summaries += [saliency_summary(m, masks[start + k].mask, raw=raw[k]) for k, m in enumerate(maps)]
    table = rows[["image_id", "label", "pred", "correct", "outcome"]].reset_index(drop=True).copy()
    table = pd.concat([table, pd.DataFrame(quality).drop(columns="analysis_size", errors="ignore"),
                       pd.DataFrame(summaries).add_prefix("gradcam_")], axis=1)
    table["lung_mask_plausible"] = [bool(m.plausible) for m in masks]
    atomic_write_csv(table, cache)
    stamp.write_text(json.dumps(key))
    return table
