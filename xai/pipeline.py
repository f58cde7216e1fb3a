"""The explain step (the library of ``python -m xai.explain``): Grad-CAM, Integrated Gradients, lung fields, quality inside and outside them and saliency summaries of a run's images, written into its explain folder (resumable).

Writes into ``<run>/explain/<split>/``: ``config.json`` (resolved), ``maps/<id>.npz``
(image, Grad-CAM, IG, lung mask of every explained image), ``saliency.csv`` (one row
per image x method x explained class), ``quality.csv`` (metrics on the whole film, inside
and outside the lung fields), ``table.csv`` (predictions + quality + saliency, one row
per image) and ``explain.json``. Images already explained are skipped unless ``force``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from data.cache import load_resized
from data.errors import ConfigError, ToolkitError
from data.join import join_on_image_id
from data.labels import CLASS_INDEX, THRESHOLD
from data.layout import explain_layout, run_layout
from data.parallel import parallel_map
from quality.batch import measure_image
from quality.metrics import BOUNDING_BOX_METRICS, QUALITY_COLUMNS
from training.device import resolve_device
from training.evalsets import check_split, require_labels, set_info, split_predictions
from training.predict import LoadedRun, load_run, predict_proba, resolve_run, to_model_input
from xai.exclusions import blank_unconverged_ig
from xai.gradcam import gradcam_maps
from xai.integrated_gradients import BASELINES, SPLITS, integrated_gradients, make_baseline
from xai.lungs import lung_mask
from xai.models_util import BinaryLogOdds, find_gradcam_layer
from xai.resume import (
    KEY_COLUMN,
    atomic_savez,
    atomic_write_csv,
    file_digest,
    map_file_key,
    npz_key,
    read_valid_rows,
    row_keys,
    stale_settings,
)
from xai.summarize import saliency_summary

METHODS = ("gradcam", "ig")


TARGETS = ("predicted", "true", "both")


#: |recomputed - recorded| P(pneumonia) above which the run and the data disagree.
PREDICTION_TOLERANCE = 0.02


@dataclass(frozen=True)
class ExplainConfig:
    """Resolved configuration of one explain step.

    Attributes:
        run: run folder or ``runs/latest`` pointer.
        data: dataset root (None: the root recorded in the run).
        split: ``valid``, ``test`` or the name of an evaluation set (``python -m training.evaluate``).
        only_errors: explain only misclassified images with both methods (correct
            images still get cheap Grad-CAM summaries unless ``reference`` is off).
        methods: subset of ``gradcam``, ``ig``.
        ig_steps: uniform IG segments of the first round; segments with the
            largest residual are then split per image until the completeness
            error is below ``ig_tol`` (see :mod:`xai.integrated_gradients`).
        ig_split: where a refined IG segment is split: ``midpoint`` (bisection,
            default) or ``kink`` (at the estimated jump of the path's slope).
        ig_max_steps: cap on IG segments per image (``ig_max_steps + 1``
            evaluations); images that miss ``ig_tol`` there are flagged
            (``ig_converged`` False).
        ig_tol: completeness-error tolerance (relative).
        ig_pixel_tol: per-pixel tolerance: an IG map also needs its half-rule change
            (relative L2 change when every other node is dropped) within it to count
            as converged, and is refined towards it; None checks the sum only.
        ig_baseline: IG baseline, ``black`` (default) or ``blur`` (Sturmfels et al. 2020).
        target: class the panels' maps explain: ``predicted``, ``true`` or ``both``.
            Independently of it, every image is explained for its *wrong* class
            (the prediction of an error; the other class for a correct image), so
            the statistics compare the same question in FP vs TN and FN vs TP.
        device: ``auto``, ``cpu`` or ``cuda``.
        limit: explain at most this many errors (most confident first).
        reference: Grad-CAM summaries for correct images (the comparison groups).
        force: recompute images already explained.
        report: write panels, gallery and report after explaining.
        train_if_missing: train a default run on the bundled sample when ``run``
            is the default pointer and no run exists yet.
        cache_dir, workers: decoded-image cache and decode processes.
        n_boot, seed: bootstrap resamples and seed of the statistics.
        context_pool: split of the run whose correct images place each error in
            context (percentiles per primary metric); ``none`` skips it.
        gradcam_layer: submodule name Grad-CAM reads (None: found automatically).
        shift: for an evaluation set, also run the domain-shift analysis (``xai.shift``)
            against the training images when it has not run yet.
        shift_reference: training-distribution images for that analysis (None: the run's train split).
    """

    run: str = "runs/latest"
    data: str | None = None
    split: str = "valid"
    only_errors: bool = True
    methods: tuple[str, ...] = METHODS
    ig_steps: int = 8
    ig_max_steps: int = 512
    ig_tol: float = 0.01
    ig_pixel_tol: float | None = 0.1
    ig_baseline: str = "black"
    ig_split: str = "midpoint"
    target: str = "predicted"
    device: str = "auto"
    limit: int | None = None
    reference: bool = True
    force: bool = False
    report: bool = True
    train_if_missing: bool = True
    cache_dir: str | None = None
    workers: int | None = None
    n_boot: int = 2000
    seed: int = 0
    context_pool: str = "test"
    gradcam_layer: str | None = None
    shift: bool = True
    shift_reference: str | None = None

    def __post_init__(self):
        check_split(self.split)
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ConfigError(f"--methods must be a comma-separated subset of {','.join(METHODS)}, got {self.methods}")
        if self.target not in TARGETS:
            raise ConfigError(f"--target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        if not 1 <= self.ig_steps <= self.ig_max_steps:
            raise ConfigError(f"need 1 <= --ig-steps <= --ig-max-steps, got {self.ig_steps} and {self.ig_max_steps}")
        if self.ig_baseline not in BASELINES:
            raise ConfigError(f"--ig-baseline must be one of {', '.join(BASELINES)}, got {self.ig_baseline!r}")
        if not self.ig_tol > 0:
            raise ConfigError(f"--ig-tol must be > 0, got {self.ig_tol}")
        if self.ig_pixel_tol is not None and not self.ig_pixel_tol > 0:
            raise ConfigError(f"--ig-pixel-tol must be > 0 (or off), got {self.ig_pixel_tol}")
        if self.ig_split not in SPLITS:
            raise ConfigError(f"--ig-split must be one of {', '.join(SPLITS)}, got {self.ig_split!r}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be >= 1, got {self.limit}")


@dataclass
class ExplainResult:
    """Where the explain step wrote its outputs, and what it did."""

    out_dir: Path
    run_dir: Path
    n_images: int
    n_errors: int
    n_explained_now: int
    seconds: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _data_root(cfg: ExplainConfig, run: LoadedRun, rows: pd.DataFrame, set_root: Path | None = None) -> Path:
    root = Path(cfg.data or set_root or run.info["data_root"]).expanduser()
    missing = [p for p in rows["path"] if not (root / p).is_file()]
    if missing:
        hint = "" if cfg.data else " (the data recorded in the run moved? pass --data ROOT)"
        raise ConfigError(f"{len(missing)} of {len(rows)} images of split '{cfg.split}' are missing under {root}, "
                          f"e.g. {missing[0]}{hint}")
    return root


def _select_rows(cfg: ExplainConfig, predictions: pd.DataFrame) -> pd.DataFrame:
    rows = predictions[predictions["split"] == cfg.split].reset_index(drop=True)
    if rows.empty:
        have = sorted(predictions["split"].unique())
        raise ConfigError(f"the run never predicted split '{cfg.split}' (it has: {', '.join(have)})")
    if not rows["image_id"].is_unique:
        raise ConfigError(f"predictions.csv has duplicated image_id values in split '{cfg.split}'")
    return rows


def error_confidence(rows: pd.DataFrame) -> pd.Series:
    """Confidence of the wrong answer: P(pneumonia) for FP, 1 - P for FN, NaN for correct rows."""
    p = rows["p_pneumonia"]
    return pd.Series(np.where(rows["outcome"] == "FP", p, np.where(rows["outcome"] == "FN", 1 - p, np.nan)),
                     index=rows.index)


def target_classes(rows: pd.DataFrame, rule: str) -> np.ndarray:
    """Class index explained for each row under a target rule (``predicted``, ``true`` or ``wrong``).

    ``wrong`` is the class opposite to the truth: for an error it is the predicted
    class; for a correct image it is the class an error would have predicted.
    """
    true = rows["label"].map(CLASS_INDEX).to_numpy()
    if rule == "true":
        return true
    if rule == "wrong":
        return 1 - true
    return rows["pred"].map(CLASS_INDEX).to_numpy()


def panel_rule(target: str) -> str:
    """The rule whose maps go into ``maps/*.npz`` and the panels (``both`` shows the prediction)."""
    return "true" if target == "true" else "predicted"


def _roles(rows: pd.DataFrame, classes: np.ndarray) -> list[str]:
    """For each row, which rules explain ``classes[i]`` (e.g. ``predicted;wrong`` for an error)."""
    by_rule = {rule: target_classes(rows, rule) for rule in ("predicted", "true", "wrong")}
    return [";".join(r for r in by_rule if by_rule[r][i] == c) for i, c in enumerate(classes)]


def _lungs_and_quality(image: np.ndarray) -> tuple:
    """(lung mask, quality row) of one image (H, W) in [0, 1]; module level so worker processes can run it."""
    lm = lung_mask(image)
    return lm, _quality_row(image, lm)


def lungs_and_quality(images: np.ndarray, workers: int | None = None) -> tuple[list, list[dict]]:
    """Lung masks and quality rows of images (N, H, W) in [0, 1], over ``workers`` processes (None: all cores)."""
    pairs = parallel_map(_lungs_and_quality, list(images), workers=workers, desc="lung fields + quality",
                         chunksize=8)
    return [m for m, _ in pairs], [q for _, q in pairs]


def _quality_row(image: np.ndarray, lm) -> dict:
    """Quality metrics of one image on the whole film, inside and outside its lung mask ``lm``."""
    row = dict(measure_image(image, size=image.shape[0]))
    for region, region_mask in (("lung", lm.mask), ("outside", ~lm.mask)):
        try:
            vals = measure_image(image, size=image.shape[0], mask=region_mask)
        except ToolkitError:
            vals = {c: np.nan for c in QUALITY_COLUMNS}  # empty or tiny region: not measurable
        # Outside the lungs, bounding-box metrics would just repeat the whole film.
        columns = [c for c in QUALITY_COLUMNS if not (region == "outside" and c in BOUNDING_BOX_METRICS)]
        row.update({f"{c}_{region}": vals[c] for c in columns})
    row.update({"lung_mask_plausible": bool(lm.plausible), "lung_mask_reasons": "; ".join(lm.reasons),
                "lung_area_fraction": float(lm.area_fraction)})
    return row


def _explain_batch(run: LoadedRun, images: np.ndarray, rows: pd.DataFrame, masks: list, methods,
                   full: np.ndarray, cfg: ExplainConfig, device: str,
                   layer=None) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Saliency rows (image x method x explained class) and the panel maps of one batch.

    Every image is explained for its *wrong* class (the statistics compare the same
    question across groups: where is the evidence for the class an error predicts?).
    Fully explained images (``full``) also get the classes of ``cfg.target`` when
    those differ (the prediction of a correct image, or the truth of an error).
    ``layer`` is the Grad-CAM layer (default: :func:`xai.models_util.find_gradcam_layer`).
    """
    model = run.model.to(device).eval()
    if layer is None and "gradcam" in methods:
        layer, _ = find_gradcam_layer(model, cfg.gradcam_layer, size=run.size)
    model = BinaryLogOdds(model)  # explain the log-odds of the target class (see BinaryLogOdds)
    x = to_model_input(images, run.mean, run.std).to(device)
    wrong = target_classes(rows, "wrong")
    rules = ("predicted", "true") if cfg.target == "both" else (cfg.target,)
    passes = [(np.arange(len(rows)), wrong)]
    for rule in rules:
        classes = target_classes(rows, rule)
        extra = np.flatnonzero(full & (classes != wrong))
        if extra.size:
            passes.append((extra, classes))
    panel_classes = target_classes(rows, panel_rule(cfg.target))
    saliency: list[dict] = []
    maps: dict[str, np.ndarray] = {}
    for subset, classes in passes:
        xs, target = x[torch.as_tensor(subset)], classes[subset]
        roles = _roles(rows.iloc[subset].reset_index(drop=True), target)
        results = {}
        raws = {}
        if "gradcam" in methods:
            shown, raws["gradcam"] = gradcam_maps(model, xs, target, target_layer=layer, return_raw=True)
            results["gradcam"] = (shown, None)
        if "ig" in methods:
            res = integrated_gradients(model, xs, target, baseline=make_baseline(cfg.ig_baseline, xs, run.mean,
                                                                                   run.std),
                                       tol=cfg.ig_tol, start_steps=cfg.ig_steps, max_steps=cfg.ig_max_steps,
                                       split=cfg.ig_split, pixel_tol=cfg.ig_pixel_tol)
            results["ig"] = (res.attributions, res)
        for method, (method_maps, res) in results.items():
            for k, i in enumerate(subset):
                row = {"image_id": rows["image_id"].iat[i], "method": method, "target_class": int(target[k]),
                       "target_roles": roles[k],
                       **saliency_summary(method_maps[k], masks[i].mask,
                                          raw=raws[method][k] if method in raws else None)}
                if res is not None:
                    row.update(ig_completeness_error=float(res.completeness_error[k]),
                               ig_evaluations=int(res.evaluations[k]), ig_converged=bool(res.converged[k]),
                               ig_half_rule_change=float(res.half_rule_change[k]))
                saliency.append(row)
                if target[k] == panel_classes[i]:
                    maps.setdefault(method, np.zeros((len(rows),) + method_maps.shape[1:], np.float32))[i] = method_maps[k]
    return saliency, maps


#: Settings named when a rerun finds rows made under other values (rows are checked by their keys).
RESUME_SETTINGS = ("only_errors", "methods", "target", "limit", "reference", "ig_steps", "ig_max_steps", "ig_tol",
                   "ig_pixel_tol", "ig_baseline", "ig_split")


#: Images per explain batch; completed batches are written before the next starts.
BATCH = 8


def required_rows(rows: pd.DataFrame, full: np.ndarray, methods_of: list[list[str]],
                  target: str) -> list[set[tuple[str, int]]]:
    """For each row, the (method, explained class) pairs its saliency rows must cover.

    Mirrors :func:`_explain_batch`: every image is explained for its *wrong* class;
    fully explained images also for the classes of the ``target`` rule(s).
    """
    wrong = target_classes(rows, "wrong")
    rules = ("predicted", "true") if target == "both" else (target,)
    extra = [target_classes(rows, rule) for rule in rules]
    out = []
    for i in range(len(rows)):
        classes = {int(wrong[i])} | ({int(c[i]) for c in extra} if full[i] else set())
        out.append({(m, c) for m in methods_of[i] for c in classes})
    return out


def explain_resumable(run: LoadedRun, cfg: ExplainConfig, out: Path, wanted: pd.DataFrame, images: np.ndarray,
                      pixels: np.ndarray, masks: list, full_ids: set, device: str, warnings: list[str],
                      changed: list[str] | None = None, methods: tuple[str, ...] | None = None,
                      layer=None) -> tuple[pd.DataFrame, int]:
    """Saliency rows and map files of ``wanted``, reusing what a previous run made under the same settings.

    An image is recomputed (all its methods) unless every row it needs exists with the
    current settings key and, for a fully explained image, its map file carries the
    current key (see :mod:`xai.resume`). Each finished batch is written at once
    (map files first, then ``saliency.csv``, both atomically), so an interrupted run
    resumes after its last finished batch. Rows no longer required are dropped.

    ``methods`` (default ``cfg.methods``) are the methods that can run (no Grad-CAM for a
    model it cannot explain); ``layer`` is the Grad-CAM layer.

    Returns:
        (the saliency table as written, number of images computed now).
    """
    config = asdict(cfg)
    methods = tuple(cfg.methods) if methods is None else tuple(methods)
    keys = row_keys(config, METHODS, file_digest(run.model_file), run.size)
    saliency_path = explain_layout(out).saliency
    previous = None if cfg.force else read_valid_rows(saliency_path, keys)
    ids = wanted["image_id"].tolist()
    full = wanted["image_id"].isin(full_ids).to_numpy()
    methods_of = [list(methods) if f else (["gradcam"] if "gradcam" in methods else []) for f in full]
    need = required_rows(wanted, full, methods_of, cfg.target)
    npz_of = {i: explain_layout(out).maps(ids[i]) for i in range(len(ids)) if full[i]}
    npz_want = {i: map_file_key(keys, methods_of[i], panel_rule(cfg.target)) for i in npz_of}
    have: dict[str, set] = {}
    if previous is not None:
        for iid, m, c in zip(previous["image_id"], previous["method"], previous["target_class"]):
            have.setdefault(iid, set()).add((m, int(c)))
    todo = [i for i in range(len(ids)) if not need[i] <= have.get(ids[i], set())
            or (full[i] and npz_key(npz_of[i]) != npz_want[i])]
    if changed and todo and previous is not None:
        warnings.append(f"settings changed since the last explain of this split ({'; '.join(changed)}): "
                        f"{len(todo)} of {len(ids)} images recomputed, the rest reused (--force recomputes all)")
    redo = {ids[i] for i in todo}
    kept = []
    if previous is not None:
        need_of = dict(zip(ids, need))
        keep = [iid not in redo and iid in need_of and (m, int(c)) in need_of[iid]
                for iid, m, c in zip(previous["image_id"], previous["method"], previous["target_class"])]
        kept = previous[keep].to_dict("records")
    new_rows: list[dict] = []
    n_now = 0
    if previous is not None or todo:
        atomic_write_csv(_saliency_frame(kept), saliency_path)
    with tqdm(total=len(todo), desc=f"explain {cfg.split}", unit="img") as bar:
        for group in sorted({tuple(methods_of[i]) for i in todo}):
            idx = [i for i in todo if tuple(methods_of[i]) == group]
            for start in range(0, len(idx), BATCH):
                part = idx[start:start + BATCH]
                sal, maps = _explain_batch(run, images[part], wanted.iloc[part].reset_index(drop=True),
                                           [masks[i] for i in part], list(group), full[part], cfg, device,
                                           layer=layer)
                for k, i in enumerate(part):
                    if full[i]:
                        atomic_savez(npz_of[i], npz_want[i], image=pixels[i], lung_mask=masks[i].mask,
                                     **{m: maps[m][k].astype(np.float32) for m in maps})
                new_rows += [{**row, KEY_COLUMN: keys[row["method"]]} for row in sal]
                atomic_write_csv(_saliency_frame(kept + new_rows), saliency_path)
                n_now += len(part)
                bar.update(len(part))
    return _saliency_frame(kept + new_rows), n_now


def _saliency_frame(records: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(records)
    if frame.empty:
        return pd.DataFrame(columns=["image_id", "method", "target_class", "target_roles", KEY_COLUMN])
    return frame.drop_duplicates(["image_id", "method", "target_class"], keep="last").reset_index(drop=True)


def wide_saliency(saliency: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """One row per image: ``{method}_{summary}`` columns of the maps of its *wrong* class.

    Args:
        saliency: long table (image x method x target_class).
        rows: predictions rows (image_id, label) of the images.

    Returns:
        DataFrame keyed by ``image_id``; images without such maps are absent.
    """
    wrong = dict(zip(rows["image_id"], target_classes(rows, "wrong")))
    part = saliency[saliency["target_class"] == saliency["image_id"].map(wrong)]
    if part.empty:
        return pd.DataFrame({"image_id": pd.Series(dtype=object)})
    values = [c for c in part.columns if c not in ("image_id", "method", "target_class", "target_roles", KEY_COLUMN)]
    wide = part.pivot(index="image_id", columns="method", values=values)
    wide.columns = [value if value.startswith(f"{method}_") else f"{method}_{value}" for value, method in wide.columns]
    wide = wide.dropna(axis=1, how="all").reset_index()
    for method in part["method"].unique():
        empty = wide.get(f"{method}_empty")
        if empty is not None:  # an all-zero map is "no evidence", not "outside the lungs"
            wide.loc[empty == 1, [f"{method}_lung_share", f"{method}_peak_in_lung"]] = np.nan
    return wide


def explain(cfg: ExplainConfig) -> ExplainResult:
    """Compute maps, lung fields, quality and saliency summaries for one split of a run.

    Returns:
        :class:`ExplainResult`; the tables are in ``result.out_dir``.

    Raises:
        ToolkitError: missing or incompatible run, a split the run never predicted,
            data that moved, or a bad configuration.
    """
    t_start = time.perf_counter()
    run_dir = resolve_run(cfg.run)
    run = load_run(run_dir)
    rows, set_root = split_predictions(run_dir, cfg.split)  # the run's valid/test or a named evaluation set
    # the run's own predictions (the per-error context pool); an imported run has none
    files = run_layout(run_dir)
    predictions = (pd.read_csv(files.predictions) if files.predictions.is_file()
                   else pd.DataFrame(columns=["image_id", "path", "split", "label", "pred", "correct"]))
    require_labels(rows, cfg.split, "explaining errors")
    rows = _select_rows(cfg, rows)
    root = _data_root(cfg, run, rows, set_root)
    device = resolve_device(cfg.device)
    layer, layer_how = find_gradcam_layer(run.model.to(device), cfg.gradcam_layer, size=run.size)
    layout = files.explain(cfg.split)
    out = layout.root
    layout.maps_dir.mkdir(parents=True, exist_ok=True)
    changed = stale_settings(layout.config, asdict(cfg), RESUME_SETTINGS)  # before it is overwritten
    layout.config.write_text(json.dumps({**asdict(cfg), "methods": list(cfg.methods),
                                                 "resolved_run": str(run_dir), "resolved_data": str(root),
                                                 "device_used": device, "analysis_size": run.size,
                                                 "gradcam_layer_found": layer_how if layer is not None else None,
                                                 "evaluation_set": set_info(run_dir, cfg.split)}, indent=2))
    warnings: list[str] = []
    seconds: dict[str, float] = {}
    methods = tuple(cfg.methods)
    if layer is None and "gradcam" in methods:
        warnings.append(f"Grad-CAM cannot explain this model: {layer_how}; IG, quality and statistics are still "
                        "computed (name a layer with --gradcam-layer)")
        methods = tuple(m for m in methods if m != "gradcam")

    rows["error_confidence"] = error_confidence(rows)
    is_error = rows["outcome"].isin(["FP", "FN"])
    errors = rows[is_error].sort_values("error_confidence", ascending=False)
    if cfg.limit is not None:
        errors = errors.head(cfg.limit)
    if cfg.only_errors:
        full_ids = set(errors["image_id"])
        reference_ids = set(rows.loc[~is_error, "image_id"]) if cfg.reference else set()
    else:
        full_ids, reference_ids = set(rows["image_id"]), set()
    wanted = rows[rows["image_id"].isin(full_ids | reference_ids)].reset_index(drop=True)

    t0 = time.perf_counter()
    pixels = load_resized([root / p for p in wanted["path"]], run.size, cache_dir=cfg.cache_dir,
                          workers=cfg.workers, desc=f"decode {cfg.split}")
    images = pixels.astype(np.float32) / 255.0
    seconds["decode"] = time.perf_counter() - t0

    p_now = predict_proba(run.model, pixels, run.mean, run.std, device=device)
    drift = np.abs(p_now - wanted["p_pneumonia"].to_numpy())
    wanted["p_recomputed"] = p_now
    if drift.max(initial=0) > PREDICTION_TOLERANCE:
        flips = int(((p_now >= THRESHOLD) != (wanted["p_pneumonia"] >= THRESHOLD)).sum())
        warnings.append(f"recomputed P(pneumonia) differs from predictions.csv by up to {drift.max():.3f} "
                        f"({flips} label flips): other device or library versions; the recorded predictions are used")

    t0 = time.perf_counter()
    masks, quality_rows = lungs_and_quality(images, workers=cfg.workers)
    quality = pd.DataFrame(quality_rows)
    quality.insert(0, "image_id", wanted["image_id"].values)
    quality.to_csv(layout.quality, index=False)
    seconds["lungs_quality"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    saliency, n_now = explain_resumable(run, cfg, out, wanted, images, pixels, masks, full_ids, device,
                                        warnings, changed=changed, methods=methods, layer=layer)
    seconds["saliency"] = time.perf_counter() - t0

    spine = wanted[["image_id", "path", "split", "label", "pred", "p_pneumonia", "p_recomputed", "correct",
                    "outcome", "error_confidence"]]
    geometry = _geometry(root, spine, set_name=cfg.split if set_root is not None else None)
    table = join_on_image_id(spine, geometry, left_name="predictions", right_name="geometry")
    table = join_on_image_id(table, quality, left_name="predictions", right_name="quality")
    wide = wide_saliency(saliency, wanted)
    if any(c.startswith("ig_") for c in wide.columns):  # unconverged IG maps: excluded, counted, reason kept
        wide = blank_unconverged_ig(wide, cfg.ig_tol)
    table = join_on_image_id(table, wide, left_name="predictions", right_name="saliency", how="left")
    table["explained"] = table["image_id"].isin(full_ids)
    table.to_csv(layout.table, index=False)
    t0 = time.perf_counter()
    context = error_context_pool(cfg, run, predictions, table, out, device, warnings)
    seconds["context_pool"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_start
    layout.explain_info.write_text(json.dumps({"seconds": seconds, "warnings": warnings,
                                                  "n_images": len(wanted), "n_errors": int(is_error.sum()),
                                                  "n_explained_now": n_now, "context_pool": context},
                                                 indent=2))
    return ExplainResult(out, run_dir, len(wanted), int(is_error.sum()), n_now, seconds, warnings)


def error_context_pool(cfg: ExplainConfig, run: LoadedRun, predictions: pd.DataFrame, table: pd.DataFrame,
                       out: Path, device: str, warnings: list[str]) -> dict | None:
    """Write ``context_pool.csv`` (correct images of the pool split) for the per-error context; None if off.

    The pool is the run's ``cfg.context_pool`` split. When that is the split being
    explained and its correct images already have Grad-CAM summaries, they are reused.
    """
    if cfg.context_pool == "none" or not table["outcome"].isin(["FP", "FN"]).any():
        return None
    from xai.context_pool import context_pool, pool_rows

    try:
        rows = pool_rows(predictions, cfg.context_pool)
    except ConfigError as exc:  # a run without that split still explains; the report says there is no pool
        warnings.append(f"no per-error context: {exc}")
        return None
    if cfg.context_pool == cfg.split and cfg.reference:
        pool = table[table["correct"].astype(bool)].reset_index(drop=True)
    else:
        pool = context_pool(run, rows, _data_root(cfg, run, rows),
                            cfg.context_pool, device=device, cache_dir=cfg.cache_dir, workers=cfg.workers)
    atomic_write_csv(pool, out / "context_pool.csv")
    return {"split": cfg.context_pool, "n_correct": int(len(pool)), "table": "context_pool.csv",
            "by_class": {str(k): int(v) for k, v in pool["label"].value_counts().sort_index().items()}}


def _geometry(root: Path, spine: pd.DataFrame, set_name: str | None = None) -> pd.DataFrame:
    """orig_width, orig_height, aspect_ratio and is_224_copy of each stored file (read from headers).

    ``set_name``: the rows are a named evaluation set whose root may have any layout.
    """
    from data.scan import scan_dataset

    if set_name is not None:
        from data.layouts import scan_any_layout

        scan = scan_any_layout(root, set_name=set_name)
        scan = scan[scan["image_id"].isin(spine["image_id"])]
        return pd.DataFrame({"image_id": scan["image_id"].values, "orig_width": scan["width"].values,
                             "orig_height": scan["height"].values,
                             "aspect_ratio": (scan["width"] / scan["height"]).values,
                             "is_224_copy": ((scan["width"] == 224) & (scan["height"] == 224)).astype(float).values})
    splits = tuple(sorted(set(spine["split"])))
    scan = scan_dataset(root, splits=splits) if set(splits) <= {"train", "valid", "test"} else None
    if scan is None or not set(spine["image_id"]) <= set(scan["image_id"]):
        # grouped validation rows live under train/: scan everything
        scan = scan_dataset(root)
    scan = scan[scan["image_id"].isin(spine["image_id"])]
    return pd.DataFrame({"image_id": scan["image_id"].values, "orig_width": scan["width"].values,
                         "orig_height": scan["height"].values,
                         "aspect_ratio": (scan["width"] / scan["height"]).values,
                         # the dataset's confound: squeezed 224x224 copies vs (reduced) originals
                         "is_224_copy": ((scan["width"] == 224) & (scan["height"] == 224)).astype(float).values})
