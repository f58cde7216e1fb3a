"""The domain-shift analysis of an evaluation set (the library of ``python -m xai.shift``): external vs training films per class on every quality metric, shifts that go with the errors, and the harmonisation test."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.cache import load_resized
from data.errors import ConfigError
from data.layouts import scan_any_layout
from data.scan import LABELS, scan_dataset
from quality.arrays import quality_of_pixels
from quality.metrics import QUALITY_COLUMNS
from stats.classification import binary_metrics
from stats.compare import benjamini_hochberg, compare_groups
from training.device import resolve_device
from training.evalsets import RUN_SPLITS, check_set_name, eval_dir, split_predictions
from training.predict import load_run, predict_proba
from xai.harmonise import harmonise

CONDITIONS = ("original", "histogram", "histogram+detail")


PRIMARY = "change in balanced accuracy (mean per-class recall) after histogram+detail harmonisation"


ALPHA = 0.05


@dataclass(frozen=True)
class ShiftConfig:
    """One shift analysis.

    Attributes:
        run: run folder.
        split: evaluation-set name (``training.evaluate --name``).
        reference: training-distribution images (any layout); None: the run's own
            training split (``<data_root>/train``).
        per_class: most reference films per class (seeded sample; all when fewer).
        device, cache_dir, workers: as elsewhere.
        n_boot, seed: bootstrap resamples and seed (sampling, bootstrap, harmonisation fits).
    """

    run: str = "runs/latest"
    split: str = ""
    reference: str | None = None
    per_class: int = 300
    device: str = "auto"
    cache_dir: str | None = None
    workers: int | None = None
    n_boot: int = 2000
    seed: int = 0

    def __post_init__(self):
        if self.split in RUN_SPLITS:
            raise ConfigError(f"--split must name an evaluation set (python -m training.evaluate --name NAME), not "
                              f"the run's own split {self.split!r}")
        check_set_name(self.split)
        if int(self.per_class) < 2:
            raise ConfigError(f"--per-class must be >= 2, got {self.per_class}")


@dataclass(frozen=True)
class ShiftResult:
    """Everything the shift section shows (tables are also saved as CSV).

    Attributes:
        out_dir: ``<run>/eval/<name>/shift``.
        split: the set; root, n_external: its folder and size.
        reference: ``{"root", "source", "n": {class: n}, "sampled_from": {class: n}}``.
        classes: classes compared (``["all"]`` for an unlabelled set).
        comparisons: class x metric shift tests (external vs reference).
        errors: class x metric error-vs-correct tests within the external set.
        harmonisation: condition x class recall (Wilson CI) and predicted-pneumonia rate.
        recovery: primary result (see module docstring) and per-class changes, with CIs.
        detail: the detail-matching step (:class:`xai.harmonise.DetailMatch` as a dict).
        verdict: one sentence.
        notes: why a part is missing (e.g. unlabelled), what was excluded.
        seconds: timings.
    """

    out_dir: Path
    split: str
    root: str
    n_external: int
    reference: dict
    classes: list[str]
    comparisons: pd.DataFrame
    errors: pd.DataFrame
    harmonisation: pd.DataFrame
    recovery: dict
    detail: dict
    verdict: str
    notes: list[str] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        def clean(obj):
            if isinstance(obj, dict):
                return {k: clean(v) for k, v in obj.items()}
            if isinstance(obj, (list, tuple)):
                return [clean(v) for v in obj]
            if isinstance(obj, (np.floating, float)):
                return None if not np.isfinite(obj) else float(obj)
            if isinstance(obj, np.integer):
                return int(obj)
            if isinstance(obj, (np.bool_,)):
                return bool(obj)
            return obj

        return clean({"out_dir": str(self.out_dir), "split": self.split, "root": self.root,
                      "n_external": self.n_external, "reference": self.reference, "classes": self.classes,
                      "comparisons": self.comparisons.to_dict("records"), "errors": self.errors.to_dict("records"),
                      "harmonisation": self.harmonisation.to_dict("records"), "recovery": self.recovery,
                      "detail": self.detail, "verdict": self.verdict, "notes": self.notes, "primary": PRIMARY,
                      "alpha": ALPHA, "seconds": self.seconds})


def reference_rows(run_info: dict, reference: str | None) -> tuple[pd.DataFrame, str]:
    """The training-distribution films: ``reference`` (any layout) or the run's ``train`` split.

    Returns:
        (scan table with ``label`` ('' when unlabelled), description of the source).

    Raises:
        ConfigError: no reference is known (an imported run without ``--train-data``).
    """
    if reference:
        table = scan_any_layout(reference, set_name="reference")
        return table, f"{table.attrs['root']} ({table.attrs['layout']} layout, given with --reference)"
    root = run_info.get("data_root")
    if not root:
        raise ConfigError("the run records no training data (an imported model without --train-data); pass "
                          "--reference ROOT with images of the model's training distribution")
    if not Path(root).is_dir():
        raise ConfigError(f"the run's training data {root} is missing (moved?); pass --reference ROOT")
    table = scan_dataset(root, splits=("train",))
    return table, f"{table.attrs['root']}/train (the run's training split)"


def sample_per_class(table: pd.DataFrame, per_class: int, seed: int) -> pd.DataFrame:
    """A seeded sample of at most ``per_class`` rows of each label (all when fewer), sorted by ``image_id``."""
    rng = np.random.default_rng(seed)
    parts = []
    for _, part in table.groupby(table["label"].fillna(""), sort=True):
        take = rng.choice(len(part), min(per_class, len(part)), replace=False)
        parts.append(part.iloc[np.sort(take)])
    return pd.concat(parts).sort_values("image_id", ignore_index=True)


def shift_comparisons(external: pd.DataFrame, reference: pd.DataFrame, classes: list[str], *,
                      n_boot: int, seed: int) -> pd.DataFrame:
    """Per class and metric: external vs reference (rank-biserial r > 0: external larger), BH q-values.

    Args:
        external, reference: quality tables with ``label`` (``all`` compares everything).
        classes: labels to compare, or ``["all"]``.
    """
    rows = []
    for cls in classes:
        ext = external if cls == "all" else external[external["label"] == cls]
        ref = reference if cls == "all" else reference[reference["label"] == cls]
        for metric in QUALITY_COLUMNS:
            res = compare_groups(ext[metric].to_numpy(float), ref[metric].to_numpy(float), n_boot=n_boot, seed=seed)
            rows.append({"class": cls, "metric": metric, "n_external": res.n1, "n_reference": res.n2,
                         "median_external": res.median1, "median_reference": res.median2,
                         "rank_biserial": res.rank_biserial, "ci_low": res.ci_low, "ci_high": res.ci_high,
                         "p_value": res.p_value, "reason": res.reason})
    frame = pd.DataFrame(rows)
    frame["q_value"] = benjamini_hochberg(frame["p_value"].to_numpy(float))
    frame["shifted"] = frame["q_value"] < ALPHA
    return frame


def error_links(external: pd.DataFrame, comparisons: pd.DataFrame, *, n_boot: int, seed: int) -> pd.DataFrame:
    """Per class and metric: errors vs correct films of the external set, joined to the shift.

    ``goes_with_errors``: the shift is significant, the error difference is significant,
    and both have the same sign (errors sit further along the shift than correct films).
    """
    rows = []
    for cls in LABELS:
        part = external[external["label"] == cls]
        wrong, right = part[~part["correct"].astype(bool)], part[part["correct"].astype(bool)]
        for metric in QUALITY_COLUMNS:
            res = compare_groups(wrong[metric].to_numpy(float), right[metric].to_numpy(float), n_boot=n_boot, seed=seed)
            rows.append({"class": cls, "metric": metric, "error_group": "FP" if cls == "NORMAL" else "FN",
                         "n_errors": res.n1, "n_correct": res.n2, "rank_biserial": res.rank_biserial,
                         "ci_low": res.ci_low, "ci_high": res.ci_high, "p_value": res.p_value, "reason": res.reason})
    frame = pd.DataFrame(rows)
    frame["q_value"] = benjamini_hochberg(frame["p_value"].to_numpy(float))
    shift = comparisons.set_index(["class", "metric"])
    key = list(zip(frame["class"], frame["metric"]))
    r_shift = np.array([shift["rank_biserial"].get(k, np.nan) for k in key], float)
    shifted = np.array([bool(shift["shifted"].get(k, False)) for k in key])
    frame["shift_rank_biserial"] = r_shift
    frame["goes_with_errors"] = shifted & (frame["q_value"] < ALPHA).to_numpy() & (
        np.sign(frame["rank_biserial"].to_numpy(float)) == np.sign(r_shift))
    return frame


def _recalls(y: np.ndarray, correct: np.ndarray) -> dict[str, float]:
    return {cls: float(correct[y == k].mean()) if (y == k).any() else float("nan") for k, cls in enumerate(LABELS)}


def paired_recovery(y: np.ndarray, p_before: np.ndarray, p_after: np.ndarray, reference: dict[str, float], *,
                    n_boot: int, seed: int) -> dict:
    """Change in per-class recall and balanced accuracy after an intervention, with paired bootstrap CIs.

    Args:
        y: (N,) 0/1 truth (1 = PNEUMONIA).
        p_before, p_after: (N,) P(pneumonia) of the same films before and after.
        reference: recall per class the model reaches on its own distribution
            (``{"NORMAL": specificity, "PNEUMONIA": sensitivity}``).
        n_boot, seed: class-stratified bootstrap of the films.

    Returns:
        ``{"per_class": {cls: {before, after, change, ci_low, ci_high, reference, lost, recovered_share}},
        "balanced": {...same keys...}}``; ``recovered_share`` = change / lost when lost > 0.
        Balanced accuracy is the mean of the defined class recalls.
    """
    y = np.asarray(y, int)
    c0 = ((p_before >= 0.5).astype(int) == y).astype(float)
    c1 = ((p_after >= 0.5).astype(int) == y).astype(float)
    rng = np.random.default_rng(seed)
    boot = {}
    for k, cls in enumerate(LABELS):
        d = (c1 - c0)[y == k]
        if len(d):
            boot[cls] = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
    out: dict = {"per_class": {}}

    def entry(before, after, draws, ref):
        low, high = (np.percentile(draws, [2.5, 97.5]) if draws is not None and len(draws) else (np.nan, np.nan))
        lost = ref - before if np.isfinite(ref) else np.nan
        share = (after - before) / lost if np.isfinite(lost) and lost > 0 else np.nan
        return {"before": before, "after": after, "change": after - before, "ci_low": float(low),
                "ci_high": float(high), "reference": ref, "lost": lost, "recovered_share": share}

    r0, r1 = _recalls(y, c0), _recalls(y, c1)
    for cls in LABELS:
        out["per_class"][cls] = entry(r0[cls], r1[cls], boot.get(cls), reference.get(cls, np.nan))
    defined = [cls for cls in LABELS if cls in boot]
    ref_bal = float(np.mean([reference.get(c, np.nan) for c in defined])) if defined else np.nan
    draws = np.mean([boot[c] for c in defined], axis=0) if defined else None
    out["balanced"] = entry(float(np.mean([r0[c] for c in defined])) if defined else np.nan,
                            float(np.mean([r1[c] for c in defined])) if defined else np.nan, draws, ref_bal)
    out["classes_defined"] = defined
    return out


def _reference_performance(run, ref_pixels: np.ndarray, ref_rows: pd.DataFrame, device: str) -> tuple[dict, str]:
    """Recall per class on the model's own distribution: the run's test split, else the reference films."""
    metrics_path = run.run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    if metrics.get("test"):
        m = metrics["test"]
        return ({"NORMAL": m["specificity"]["value"], "PNEUMONIA": m["sensitivity"]["value"]},
                f"the run's test split (n={m['n']})")
    labelled = ref_rows["label"].isin(LABELS).to_numpy()
    if not labelled.any():
        return {}, "unknown (no test split and an unlabelled reference)"
    p = predict_proba(run.model, ref_pixels[labelled], run.mean, run.std, device=device)
    y = (ref_rows.loc[labelled, "label"] == "PNEUMONIA").to_numpy().astype(int)
    rec = _recalls(y, ((p >= 0.5).astype(int) == y).astype(float))
    return rec, f"the reference films themselves (n={int(labelled.sum())}; training images, so optimistic)"


def _verdict(recovery: dict | None, labelled: bool) -> str:
    if not labelled or recovery is None:
        return ("not tested: the set is unlabelled, so lost sensitivity/specificity cannot be measured; the shift "
                "tables and the change in the predicted-pneumonia rate are reported")
    bal = recovery["balanced"]
    if not np.isfinite(bal["lost"]) or bal["lost"] <= 0:
        return (f"no loss to recover: balanced accuracy on this set ({100 * bal['before']:.1f}%) is not below the "
                f"reference ({100 * bal['reference']:.1f}%)" if np.isfinite(bal["reference"]) else
                "not tested: the model's performance on its own distribution is unknown")
    text = (f"harmonisation changes balanced accuracy by {100 * bal['change']:+.1f} points (95% CI "
            f"{100 * bal['ci_low']:+.1f} to {100 * bal['ci_high']:+.1f}), recovering "
            f"{100 * bal['recovered_share']:.0f}% of the {100 * bal['lost']:.1f}-point loss")
    if bal["ci_low"] > 0:
        return text + ": the failure lies (at least partly) in the harmonised image statistics"
    return text + ": not shown to recover; the loss lies in content or in statistics not harmonised"


def run_shift(cfg: ShiftConfig, *, progress: bool = True) -> ShiftResult:
    """Compare, link to errors, harmonise and predict again; write the tables into ``shift/``.

    Raises:
        ToolkitError: unknown run or set, no reference, images that moved.
    """
    t_start = time.perf_counter()
    seconds: dict[str, float] = {}
    notes: list[str] = []
    run = load_run(cfg.run)
    device = resolve_device(cfg.device)
    rows, root = split_predictions(run.run_dir, cfg.split)
    missing = [p for p in rows["path"] if not (root / p).is_file()]
    if missing:
        raise ConfigError(f"{len(missing)} of {len(rows)} images of set '{cfg.split}' are missing under {root}, "
                          f"e.g. {missing[0]}")
    ref_all, ref_source = reference_rows(run.info, cfg.reference)
    ref_rows = sample_per_class(ref_all, cfg.per_class, cfg.seed)
    ref_counts = ref_all["label"].replace("", "unlabelled").value_counts().to_dict()
    sampled = ref_rows["label"].replace("", "unlabelled").value_counts().to_dict()
    if any(sampled[k] < ref_counts[k] for k in sampled):
        notes.append(f"reference: a seeded sample of at most {cfg.per_class} films per class "
                     f"({', '.join(f'{k}: {sampled[k]} of {ref_counts[k]}' for k in sorted(sampled))})")
    ref_root = Path(ref_all.attrs["root"])

    t0 = time.perf_counter()
    ext_pixels = load_resized([root / p for p in rows["path"]], run.size, cache_dir=cfg.cache_dir,
                              workers=cfg.workers, desc=f"decode {cfg.split}")
    ref_pixels = load_resized([ref_root / p for p in ref_rows["path"]], run.size, cache_dir=cfg.cache_dir,
                              workers=cfg.workers, desc="decode reference")
    seconds["decode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ext_q = quality_of_pixels(rows["image_id"], ext_pixels, desc=f"quality {cfg.split}", progress=progress)
    ref_q = quality_of_pixels(ref_rows["image_id"], ref_pixels, desc="quality reference", progress=progress)
    ext_q = ext_q.assign(label=rows["label"].values, correct=rows["correct"].values)
    ref_q = ref_q.assign(label=ref_rows["label"].fillna("").values)
    seconds["quality"] = time.perf_counter() - t0

    labelled = bool(rows["label"].isin(LABELS).all())
    ref_labelled = bool(ref_q["label"].isin(LABELS).all())
    if labelled and ref_labelled:
        classes = [c for c in LABELS if (ext_q["label"] == c).any() and (ref_q["label"] == c).any()]
    else:
        classes = ["all"]
        notes.append("per-class comparison needs labels on both sides "
                     f"({'set' if not labelled else 'reference'} unlabelled): external and reference films are "
                     "compared as a whole, so class mix and image statistics are not separated")
    t0 = time.perf_counter()
    comparisons = shift_comparisons(ext_q, ref_q, classes, n_boot=cfg.n_boot, seed=cfg.seed)
    if labelled:
        errors = error_links(ext_q, comparisons, n_boot=cfg.n_boot, seed=cfg.seed)
    else:
        errors = pd.DataFrame()
        notes.append("which shifts go with the errors: not defined, the set is unlabelled (no errors to count)")
    seconds["statistics"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    harmonised = harmonise(ext_pixels, ref_pixels, seed=cfg.seed)
    probs = {"original": predict_proba(run.model, ext_pixels, run.mean, run.std, device=device),
             "histogram": predict_proba(run.model, harmonised.histogram, run.mean, run.std, device=device),
             "histogram+detail": predict_proba(run.model, harmonised.full, run.mean, run.std, device=device)}
    seconds["harmonise_predict"] = time.perf_counter() - t0
    drift = float(np.abs(probs["original"] - rows["p_pneumonia"].to_numpy(float)).max(initial=0))
    if drift > 0.02:
        notes.append(f"recomputed P(pneumonia) differs from the set's predictions.csv by up to {drift:.3f} "
                     "(other device or library versions); the harmonisation test compares recomputed values")
    harm_rows, recovery, reference_perf, perf_source = [], None, {}, None
    y = (rows["label"] == "PNEUMONIA").to_numpy().astype(int)
    for cond, p in probs.items():
        row = {"condition": cond, "predicted_pneumonia_rate": float((p >= 0.5).mean()), "n": int(len(p))}
        if labelled:
            m = binary_metrics(y, p, n_boot=0 if cfg.n_boot == 0 else min(cfg.n_boot, 500), seed=cfg.seed)
            for key in ("sensitivity", "specificity"):
                row.update({key: m[key]["value"], f"{key}_ci_low": m[key]["ci_low"],
                            f"{key}_ci_high": m[key]["ci_high"], f"{key}_n": m[key]["n"]})
        harm_rows.append(row)
    if labelled:
        reference_perf, perf_source = _reference_performance(run, ref_pixels, ref_rows, device)
        recovery = {cond: paired_recovery(y, probs["original"], probs[cond], reference_perf, n_boot=max(cfg.n_boot, 200),
                                          seed=cfg.seed) for cond in CONDITIONS[1:]}
        recovery = {"primary": recovery["histogram+detail"], "histogram": recovery["histogram"],
                    "reference_source": perf_source}
    verdict = _verdict(recovery["primary"] if recovery else None, labelled)

    out = eval_dir(run.run_dir, cfg.split) / "shift"
    out.mkdir(parents=True, exist_ok=True)
    comparisons.to_csv(out / "comparisons.csv", index=False)
    errors.to_csv(out / "errors.csv", index=False)
    harmonisation = pd.DataFrame(harm_rows)
    harmonisation.to_csv(out / "harmonisation.csv", index=False)
    per_image = pd.concat([ext_q.assign(group="external", p_original=probs["original"],
                                        p_histogram=probs["histogram"], p_full=probs["histogram+detail"]),
                           ref_q.assign(group="reference")], ignore_index=True)
    per_image.to_csv(out / "per_image.csv", index=False)
    seconds["total"] = time.perf_counter() - t_start
    result = ShiftResult(out_dir=out, split=cfg.split, root=str(root), n_external=int(len(rows)),
                         reference={"source": ref_source, "n": {k: int(v) for k, v in sampled.items()},
                                    "available": {k: int(v) for k, v in ref_counts.items()},
                                    "performance": reference_perf, "performance_source": perf_source},
                         classes=classes, comparisons=comparisons, errors=errors, harmonisation=harmonisation,
                         recovery=recovery or {}, detail=asdict(harmonised.detail), verdict=verdict, notes=notes,
                         seconds={k: round(v, 2) for k, v in seconds.items()})
    (out / "shift.json").write_text(json.dumps({**result.to_json(), "config": asdict(cfg)}, indent=2))
    return result


def load_shift(path: str | Path) -> dict:
    """The saved ``shift.json`` (what the report section reads)."""
    return json.loads(Path(path).read_text())
