"""Faithfulness of saliency maps: ROAD (default, :mod:`xai.road`) or deletion / insertion curves.

ROAD (Rong et al. 2022; noisy linear imputation, MoRF and LeRF orders, a
spatially matched random control) is the default measure: ``measure="road"``.
Deletion / insertion below (``measure="deletion"``) are kept as options; their
random pixel order is i.i.d. scattered pixels, which act as salt noise that a
model may read by itself, so their random baseline is not neutral.

Deletion and insertion curves: do the pixels a saliency map ranks first really drive the output?

Petsiuk, Das, Saenko, "RISE: Randomized Input Sampling for Explanation of
Black-box Models", BMVC 2018. Pixels are ranked by the map (highest first;
ties broken at random, seeded, which matters for the blocky upsampled
Grad-CAM). Deletion: the top ``k/steps`` share of pixels is replaced by the
black baseline, k = 0..steps, and P(explained class) recorded. Insertion: the
same pixels are revealed onto a heavily blurred copy of the film (or a black
canvas). The area under each curve (``numpy.trapezoid`` over the fraction of
pixels, so in [0, 1]) summarises it: a faithful map gives a LOW deletion AUC
and a HIGH insertion AUC. The same curves with a random pixel order (seeded;
the same order for every method on one image) are the baseline: the gain of a
map is ``random AUC - map AUC`` for deletion and ``map AUC - random AUC`` for
insertion; > 0 means better than chance.

The map is ranked as given: for signed maps (IG) the pixels with the most
positive attribution (evidence for the explained class) go first. The model is
the plain classifier (2 logits); P(explained class) is its softmax output.
Blurring is linear, so the canvas is blurred directly in the normalised input
space.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from data.errors import ConfigError
from data.layout import explain_layout
from stats.bootstrap import bootstrap_mean_ci
from xai.integrated_gradients import black_baseline
from xai.road import image_and_map
from xai.models_util import IMAGENET_MEAN, IMAGENET_STD, as_target_array, model_device

CANVASES = ("blur", "black")
#: What deleted pixels become: the black image (RISE) or the blurred film (less out-of-distribution).
FILLS = ("black", "blur")
OUTCOME_ORDER = ("FP", "TN", "FN", "TP")
CURVE_KEYS = ("deletion", "insertion", "random_deletion", "random_insertion")


def pixel_order(saliency: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Flat pixel indices from the most to the least salient, ties broken at random.

    Args:
        saliency: (H, W) map; NaN counts as least salient.
        rng: tie-breaking generator (None: ties kept in raster order).

    Returns:
        int64 (H*W,) permutation.
    """
    s = np.nan_to_num(np.asarray(saliency, np.float64).ravel(), nan=-np.inf)
    if rng is None:
        return np.argsort(-s, kind="stable")
    return np.lexsort((rng.random(s.size), -s))


def _blur_tensor(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (1, C, H, W) with reflected borders."""
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    pad_h, pad_w = min(radius, x.shape[2] - 1), min(radius, x.shape[3] - 1)
    out = x
    if pad_w > 0:
        kw = k[radius - pad_w: radius + pad_w + 1]
        kw = kw / kw.sum()
        out = F.conv2d(F.pad(out, (pad_w, pad_w, 0, 0), mode="reflect"), kw.view(1, 1, 1, -1).repeat(c, 1, 1, 1),
                       groups=c)
    if pad_h > 0:
        kh = k[radius - pad_h: radius + pad_h + 1]
        kh = kh / kh.sum()
        out = F.conv2d(F.pad(out, (0, 0, pad_h, pad_h), mode="reflect"), kh.view(1, 1, -1, 1).repeat(c, 1, 1, 1),
                       groups=c)
    return out


@torch.no_grad()
def _probabilities(model: nn.Module, batch: torch.Tensor, target: int, batch_size: int) -> np.ndarray:
    out = []
    for start in range(0, batch.shape[0], batch_size):
        logits = model(batch[start:start + batch_size])
        if logits.ndim != 2 or not 0 <= target < logits.shape[1]:
            raise ConfigError(f"model must return logits (N, n_classes) with class {target}, got {tuple(logits.shape)}")
        out.append(torch.softmax(logits.float(), dim=1)[:, target].cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def _curve(model, x, fill, order, counts, target, reveal: bool, batch_size: int) -> np.ndarray:
    """P(target) after replacing (deletion) or revealing (insertion) the first ``counts[k]`` pixels."""
    h, w = x.shape[-2:]
    masks = torch.zeros((len(counts), h * w), dtype=torch.bool, device=x.device)
    order_t = torch.as_tensor(order, device=x.device)
    for k, c in enumerate(counts):
        masks[k, order_t[:c]] = True
    masks = masks.view(len(counts), 1, h, w)
    batch = torch.where(masks, x, fill) if reveal else torch.where(masks, fill, x)
    return _probabilities(model, batch, target, batch_size)


def deletion_insertion(model: nn.Module, image_tensor: torch.Tensor, saliency: np.ndarray, target: int, *,
                       steps: int = 20, seed: int = 0, baseline: torch.Tensor | None = None,
                       canvas: str = "blur", deletion_fill: str = "black", blur_sigma: float | None = None,
                       mean=IMAGENET_MEAN, std=IMAGENET_STD, batch_size: int = 32) -> dict:
    """Deletion and insertion curves of one image, for a map and for a random pixel order.

    Args:
        model: classifier returning logits (N, n_classes), eval mode.
        image_tensor: normalised input (3, H, W) or (1, 3, H, W).
        saliency: (H, W) map at the input size (higher = more important).
        target: class whose probability is tracked (usually the one explained).
        steps: number of chunks; the curves have ``steps + 1`` points (0 % ... 100 %).
        seed: seed of the random order and of the tie-breaking.
        baseline: deletion fill, shaped like the input; overrides ``deletion_fill``.
        canvas: insertion canvas, ``blur`` (the film blurred with ``blur_sigma``)
            or ``black``.
        deletion_fill: ``black`` (default; the black image
            :func:`xai.integrated_gradients.black_baseline` for ``mean``/``std``) or
            ``blur`` (the blurred film). Scattered black pixels (random order) are
            salt noise, which a model may react to by itself; the blurred fill
            is closer to the training films.
        blur_sigma: canvas blur in pixels (default ``max(1, H / 20)``, 11 px at 224).
        mean, std: normalisation of the model input (for the black image).
        batch_size: images per forward pass.

    Returns:
        ``{"fractions": (steps+1,), "deletion", "insertion", "random_deletion",
        "random_insertion": (steps+1,) P(target), "deletion_auc", "insertion_auc",
        "random_deletion_auc", "random_insertion_auc": float in [0, 1],
        "p_original": float}``.

    Raises:
        ConfigError: bad shapes, steps, canvas or target.
    """
    x, sal = image_and_map(image_tensor, saliency)
    h, w = x.shape[-2:]
    if int(steps) < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    if canvas not in CANVASES:
        raise ConfigError(f"canvas must be one of {CANVASES}, got {canvas!r}")
    if deletion_fill not in FILLS:
        raise ConfigError(f"deletion_fill must be one of {FILLS}, got {deletion_fill!r}")
    target = int(target)
    device = model_device(model)
    model.eval()
    x = x.to(device=device, dtype=torch.float32)
    black = black_baseline(x, mean, std)
    blurred = _blur_tensor(x, float(blur_sigma) if blur_sigma else max(1.0, h / 20.0))
    start = black if canvas == "black" else blurred
    if baseline is not None:
        fill = torch.as_tensor(baseline).to(x).expand_as(x)
    else:
        fill = black if deletion_fill == "black" else blurred
    fractions = np.arange(int(steps) + 1) / int(steps)
    counts = np.rint(fractions * h * w).astype(int)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))
    ranked = pixel_order(sal, rng)
    shuffled = np.random.default_rng(np.random.SeedSequence([int(seed), 2])).permutation(h * w)
    curves = {
        "deletion": _curve(model, x, fill, ranked, counts, target, False, batch_size),
        "insertion": _curve(model, x, start, ranked, counts, target, True, batch_size),
        "random_deletion": _curve(model, x, fill, shuffled, counts, target, False, batch_size),
        "random_insertion": _curve(model, x, start, shuffled, counts, target, True, batch_size),
    }
    out: dict = {"fractions": fractions, **curves}
    for key in CURVE_KEYS:
        out[f"{key}_auc"] = float(np.trapezoid(curves[key], fractions))
    out["p_original"] = float(curves["deletion"][0])
    return out


MEASURES = ("road", "deletion")
ROAD_COLUMNS = ("morf_auc", "lerf_auc", "random_morf_auc", "random_lerf_auc", "road_score", "random_road_score",
                "gain", "granularity")


def faithfulness_table(model: nn.Module, x: torch.Tensor, maps: Mapping[str, np.ndarray], targets, *,
                       image_ids: Sequence | None = None, outcomes: Sequence[str] | None = None,
                       steps: int = 20, seed: int = 0, canvas: str = "blur", deletion_fill: str = "black",
                       mean=IMAGENET_MEAN, std=IMAGENET_STD, return_curves: bool = False,
                       measure: str = "road", fractions: Sequence[float] | None = None,
                       skip: Mapping[str, Sequence[int]] | None = None):
    """Faithfulness of every image x method: ROAD (default) or deletion / insertion AUCs.

    Image ``i`` uses seed ``SeedSequence([seed, i])`` for its random order / map, the
    same for every method (a paired comparison).

    Args:
        model: classifier (logits (N, 2)).
        x: normalised inputs (N, 3, H, W).
        maps: method -> (N, H, W) maps.
        targets: explained class per image (one int or N).
        image_ids: (N,) ids (default 0..N-1).
        outcomes: (N,) TP/TN/FP/FN labels (default ``all``).
        steps, canvas, deletion_fill, mean, std: see :func:`deletion_insertion` (deletion only).
        seed: seed of the random orders / random maps and tie-breaking.
        return_curves: also return the curves.
        measure: ``road`` (:func:`xai.road.road_curves`) or ``deletion``.
        fractions: ROAD shares removed (default :data:`xai.road.DEFAULT_FRACTIONS`).
        skip: method -> image indices left out (e.g. IG maps that did not converge).
            Constant maps (e.g. an all-zero Grad-CAM after its ReLU) have no ranking
            and are left out too; ``frame.attrs["constant_maps"]`` counts them per method.

    Returns:
        ROAD: DataFrame ``image_id, outcome, method, target, p_original, morf_auc,
        lerf_auc, random_morf_auc, random_lerf_auc, road_score`` (mean LeRF - MoRF,
        higher = more faithful), ``random_road_score, gain`` (score - random),
        ``granularity`` (cell size of the random control). Deletion:
        ``image_id, outcome, method, target, p_original, deletion_auc,
        insertion_auc, random_deletion_auc, random_insertion_auc, deletion_gain``
        (random - map), ``insertion_gain`` (map - random). With ``return_curves``:
        ``(frame, {method: [curve dict per image]})``.
    """
    from xai.road import DEFAULT_FRACTIONS, road_curves

    if measure not in MEASURES:
        raise ConfigError(f"measure must be one of {MEASURES}, got {measure!r}")
    n = x.shape[0]
    target_arr = as_target_array(targets, n)
    ids = list(range(n)) if image_ids is None else list(image_ids)
    outs = ["all"] * n if outcomes is None else list(outcomes)
    if len(ids) != n or len(outs) != n:
        raise ConfigError(f"image_ids and outcomes must have {n} entries")
    skip = {m: set(int(i) for i in v) for m, v in (skip or {}).items()}
    rows, curves, constant = [], {m: [] for m in maps}, {}
    for method, arr in maps.items():
        arr = np.asarray(arr)
        if arr.shape[0] != n:
            raise ConfigError(f"maps[{method!r}] has {arr.shape[0]} maps for {n} images")
        for i in range(n):
            if i in skip.get(method, ()):
                continue
            if np.ptp(np.nan_to_num(np.asarray(arr[i], np.float64))) == 0:  # no ranking: nothing to test
                constant[method] = constant.get(method, 0) + 1
                continue
            seed_i = int(np.random.SeedSequence([int(seed), i]).generate_state(1)[0])
            base = {"image_id": ids[i], "outcome": outs[i], "method": method, "target": int(target_arr[i])}
            if measure == "road":
                res = road_curves(model, x[i], arr[i], int(target_arr[i]), seed=seed_i,
                                  fractions=DEFAULT_FRACTIONS if fractions is None else fractions)
                rows.append({**base, "p_original": res["p_original"], **{k: res[k] for k in ROAD_COLUMNS}})
            else:
                res = deletion_insertion(model, x[i], arr[i], int(target_arr[i]), steps=steps, seed=seed_i,
                                         canvas=canvas, deletion_fill=deletion_fill, mean=mean, std=std)
                rows.append({**base, "p_original": res["p_original"],
                             **{f"{k}_auc": res[f"{k}_auc"] for k in CURVE_KEYS},
                             "deletion_gain": res["random_deletion_auc"] - res["deletion_auc"],
                             "insertion_gain": res["insertion_auc"] - res["random_insertion_auc"]})
            curves[method].append(res)
    frame = pd.DataFrame(rows)
    frame.attrs["constant_maps"] = constant
    return (frame, curves) if return_curves else frame


def faithfulness_summary(table: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per outcome group (FP, TN, FN, TP, then all) x method: means with bootstrap CIs.

    Args:
        table: :func:`faithfulness_table` output (ROAD or deletion columns).
        n_boot, seed: :func:`stats.bootstrap.bootstrap_mean_ci`.

    Returns:
        One row per group x method: ``outcome, method, n``, ``measure`` (road /
        deletion). ROAD: mean ``morf_auc, lerf_auc, random_morf_auc,
        random_lerf_auc, road_score, random_road_score``, ``gain`` with
        ``gain_low``/``gain_high``, ``beats_random`` (share of images with gain > 0).
        Deletion: mean of each AUC, ``deletion_gain`` and ``insertion_gain`` with
        ``_low``/``_high``, ``deletion_beats_random`` / ``insertion_beats_random``.
    """
    if table is None or table.empty:
        return pd.DataFrame(columns=["outcome", "method", "n"])
    road = "road_score" in table.columns
    present = list(dict.fromkeys(table["outcome"]))
    groups = [o for o in OUTCOME_ORDER if o in present] + [o for o in present if o not in OUTCOME_ORDER]
    frames = [(o, table[table["outcome"] == o]) for o in groups]
    if len(groups) > 1:
        frames.append(("all", table))
    rows = []
    for outcome, part in frames:
        for method, sub in part.groupby("method", sort=False):
            row = {"outcome": outcome, "method": method, "n": len(sub), "measure": "road" if road else "deletion"}
            if road:
                for k in ("morf_auc", "lerf_auc", "random_morf_auc", "random_lerf_auc", "road_score",
                          "random_road_score"):
                    row[k] = float(sub[k].mean())
                row["gain"] = float(sub["gain"].mean())
                row["gain_low"], row["gain_high"] = bootstrap_mean_ci(sub["gain"], n_boot, seed)
                row["beats_random"] = float((sub["gain"] > 0).mean())
            else:
                for k in CURVE_KEYS:
                    row[f"{k}_auc"] = float(sub[f"{k}_auc"].mean())
                for gain in ("deletion_gain", "insertion_gain"):
                    row[gain] = float(sub[gain].mean())
                    row[f"{gain}_low"], row[f"{gain}_high"] = bootstrap_mean_ci(sub[gain], n_boot, seed)
                row["deletion_beats_random"] = float((sub["deletion_gain"] > 0).mean())
                row["insertion_beats_random"] = float((sub["insertion_gain"] > 0).mean())
            rows.append(row)
    return pd.DataFrame(rows)


def mean_curves(curves: Mapping[str, Sequence[Mapping]]) -> dict[str, dict[str, np.ndarray]]:
    """Average the curves of :func:`faithfulness_table` per method.

    Returns:
        ``{method: {"fractions", curve keys...}}`` (arrays): ROAD ``morf, lerf,
        random_morf, random_lerf`` or deletion ``deletion, insertion,
        random_deletion, random_insertion``; the input of
        :func:`figures.counterfactual_plots.plot_faithfulness`.
    """
    from xai.road import ROAD_KEYS

    out = {}
    for method, items in curves.items():
        if items:
            keys = ROAD_KEYS if "morf" in items[0] else CURVE_KEYS
            out[method] = {"fractions": np.asarray(items[0]["fractions"]),
                           **{k: np.mean([np.asarray(c[k]) for c in items], axis=0) for k in keys}}
    return out


def load_explained(out_dir: str | Path, methods: Sequence[str] = ("gradcam", "ig"), limit: int | None = None
                   ) -> dict:
    """The images and maps the explain step saved (``maps/*.npz`` + ``table.csv`` + ``config.json``).

    The saved maps explain the class named by the explain config's ``target``
    (``predicted`` by default; with ``both``, the predicted one). Images whose
    file lacks one of ``methods`` are skipped.

    Args:
        out_dir: ``<run>/explain/<split>``.
        methods: map keys wanted.
        limit: at most this many images, in table order (the explain step sorts nothing; errors
            and correct images appear as in the predictions).

    Returns:
        ``{"image_id": [..], "outcome": [..], "target": int64 (N,), "images": uint8 (N, S, S),
        "maps": {method: float32 (N, S, S)}}``.

    Raises:
        ConfigError: no table or no saved maps with those methods.
    """
    layout = explain_layout(out_dir)
    if not layout.table.is_file():
        raise ConfigError(f"no table.csv under {layout.root}; run python -m xai.explain first")
    table = pd.read_csv(layout.table)
    config = json.loads(layout.config.read_text()) if layout.config.is_file() else {}
    which = "label" if config.get("target") == "true" else "pred"
    rows = table[table["explained"].astype(bool)] if "explained" in table.columns else table
    ids, outcomes, targets, images, maps = [], [], [], [], {m: [] for m in methods}
    for row in rows.itertuples(index=False):
        if limit is not None and len(ids) >= int(limit):
            break
        path = layout.maps(row.image_id)
        if not path.is_file():
            continue
        with np.load(path) as data:
            if not all(m in data for m in methods):
                continue
            images.append(data["image"])
            for m in methods:
                maps[m].append(data[m].astype(np.float32))
        ids.append(row.image_id)
        outcomes.append(row.outcome)
        targets.append(1 if getattr(row, which) == "PNEUMONIA" else 0)
    if not ids:
        raise ConfigError(f"no saved maps with {', '.join(methods)} under {out_dir / 'maps'}; "
                          "run python -m xai.explain first")
    return {"image_id": ids, "outcome": outcomes, "target": np.asarray(targets, np.int64),
            "images": np.stack(images), "maps": {m: np.stack(v) for m, v in maps.items()}}


def faithfulness_from_explain(out_dir: str | Path, model: nn.Module, mean, std, *, methods=("gradcam", "ig"),
                              steps: int = 20, seed: int = 0, canvas: str = "blur", deletion_fill: str = "black",
                              limit: int | None = None, return_curves: bool = False, measure: str = "road",
                              fractions: Sequence[float] | None = None):
    """Faithfulness of the maps the explain step saved (see :func:`load_explained`).

    IG maps that did not converge (:mod:`xai.exclusions`) are left out of the IG
    rows; how many and why is in ``frame.attrs["excluded"]``
    (``{method: {"n", "reason"}}``).

    Args:
        out_dir: ``<run>/explain/<split>``.
        model: the run's classifier; mean, std: its normalisation.
        methods: map keys to evaluate.
        steps, seed, canvas, deletion_fill, measure, fractions: see :func:`faithfulness_table`.
        limit: at most this many images (in table order).
        return_curves: also return the curves (see :func:`faithfulness_table`).

    Returns:
        :func:`faithfulness_table` output for the explained images.
    """
    from training.predict import to_model_input
    from xai.exclusions import IG_REASON, unconverged_ig_maps

    saved = load_explained(out_dir, methods, limit)
    bad = unconverged_ig_maps(out_dir) if "ig" in methods else set()
    skip_ig = [i for i, (iid, t) in enumerate(zip(saved["image_id"], saved["target"].tolist()))
               if (str(iid), int(t)) in bad]
    x = to_model_input(saved["images"], mean, std, model_device(model))
    result = faithfulness_table(model, x, saved["maps"], saved["target"], image_ids=saved["image_id"],
                                outcomes=saved["outcome"], steps=steps, seed=seed, canvas=canvas,
                                deletion_fill=deletion_fill, mean=mean, std=std, return_curves=return_curves,
                                measure=measure, fractions=fractions, skip={"ig": skip_ig})
    frame = result[0] if return_curves else result
    excluded = {"ig": {"n": len(skip_ig), "reason": IG_REASON if skip_ig else ""}}
    for method, n in frame.attrs.get("constant_maps", {}).items():
        prior = excluded.get(method, {"n": 0, "reason": ""})
        reason = "; ".join(r for r in (prior["reason"], f"{n} constant map(s) (no ranking to test)") if r)
        excluded[method] = {"n": prior["n"] + n, "reason": reason}
    frame.attrs["excluded"] = excluded
    return result
