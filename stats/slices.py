"""Error slices within each true class, found on one half of the images and confirmed on the other.

A slice is a conjunction of at most ``max_conditions`` categorical conditions
(:mod:`stats.slice_features`) on which the model errs more often than on its
class as a whole. Searching many conjunctions and reporting the best-looking ones
mostly finds noise, so the selection is honest:

1. **Split first.** Each class's images are split at random (seeded,
   patient-grouped with scikit-learn's ``GroupShuffleSplit``) into a discovery half
   and a confirmation half, before anything is searched.
2. **Search on discovery only.** The maintained slice finder SliceLine
   (``sliceline.Slicefinder``; Sagadeeva & Boehm, SIGMOD 2021) scores the lattice
   of conjunctions with at least ``min_support`` discovery images. Two families are
   searched: *film* slices (quality, geometry, file name, lung mask) and *saliency*
   slices (at least one condition on the model's own map, which partly restates
   its output: a map for PNEUMONIA on a film the model calls NORMAL is weak or
   empty). Near-duplicates (Jaccard >= ``max_overlap`` on discovery) are dropped and
   the ``top_k`` best of each family are carried forward. The size of the lattice
   searched (every conjunction with enough support) is reported as the number of
   slices tried.
3. **Confirm on the other half.** Each candidate's error rate on the confirmation
   half is tested against its class's error rate on that half (one-sided exact
   binomial test, ``scipy.stats.binomtest``); the p-values of all candidates carried
   forward (both classes together) are Holm-corrected (:func:`stats.multiplicity.holm`). A slice is
   *confirmed* when its Holm-adjusted p < ``alpha`` and its confirmation error rate
   exceeds the class's. The binomial test against the half's own rate (which
   includes the slice) is conservative compared with the exact conditional test.

Everything here is a pure function of the table (no images, no model).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.model_selection import GroupShuffleSplit

from data.errors import ConfigError
from data.scan import parse_patient_id
from data.labels import CLASSES
from stats._table import JsonFields, jsonable, numeric_column, require_columns, validate_outcomes
from stats.intervals import wilson_interval
from stats.multiplicity import holm
from stats.slice_features import DEFAULT_QUALITY, FeatureTable, describe, slice_features

ERROR_OUTCOMES = ("FP", "FN")


@dataclass(frozen=True)
class SliceConfig:
    """Settings of the slice search (defaults are what the toolkit runs).

    Attributes:
        max_conditions: most conditions in one slice (SliceLine ``max_l``), 1-3.
        min_support: fewest discovery images in a slice (SliceLine ``min_sup``).
        top_k: candidates carried forward per class and feature family (film / saliency).
        max_overlap: a candidate whose discovery members overlap a better one's with Jaccard
            index >= this is dropped as a near-duplicate (e.g. "X" and "X and a 224x224 copy").
        score_alpha: SliceLine's weight of the error rate against slice size, in (0, 1].
        alpha: family-wise error rate of the confirmation (Holm).
        min_errors: fewest errors a class needs in *each* half to be searched.
        seed: seed of the discovery / confirmation split.
        quality: quality columns binned into quartiles.
        methods: saliency methods whose summaries are features.
        n_typical: representative errors listed per slice.
    """

    max_conditions: int = 2
    min_support: int = 10
    top_k: int = 5
    max_overlap: float = 0.8
    score_alpha: float = 0.95
    alpha: float = 0.05
    min_errors: int = 5
    seed: int = 0
    quality: tuple[str, ...] = DEFAULT_QUALITY
    methods: tuple[str, ...] = ("gradcam",)
    n_typical: int = 4

    def __post_init__(self):
        if not 1 <= self.max_conditions <= 3:
            raise ConfigError(f"max_conditions must be 1, 2 or 3, got {self.max_conditions}")
        if self.min_support < 2:
            raise ConfigError(f"min_support must be >= 2 images, got {self.min_support}")
        if self.top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {self.top_k}")
        if not 0 < self.score_alpha <= 1:
            raise ConfigError(f"score_alpha must be in (0, 1], got {self.score_alpha}")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.min_errors < 1:
            raise ConfigError(f"min_errors must be >= 1, got {self.min_errors}")


@dataclass(frozen=True)
class SliceCandidate(JsonFields):
    """One slice carried forward from the discovery half, with its confirmation.

    Rates are error rates (errors / images of the slice); ``lift_*`` = slice rate /
    class rate on that half; ``*_low``/``*_high`` are Wilson 95% bounds.
    ``p_confirm`` is the one-sided binomial p of the confirmation half, ``p_holm``
    its Holm-adjusted value over all candidates carried forward.
    """

    true_class: str
    rank: int
    family: str
    conditions: tuple
    description: str
    score: float
    n_discovery: int
    errors_discovery: int
    rate_discovery: float
    rate_discovery_low: float
    rate_discovery_high: float
    lift_discovery: float
    n_confirm: int
    errors_confirm: int
    rate_confirm: float
    rate_confirm_low: float
    rate_confirm_high: float
    lift_confirm: float
    class_rate_discovery: float
    class_rate_confirm: float
    p_confirm: float
    p_holm: float
    confirmed: bool
    typical_errors: tuple = ()

    @property
    def condition_text(self) -> str:
        """``feature=level & feature=level``."""
        return " & ".join(f"{k}={v}" for k, v in self.conditions)


@dataclass(frozen=True)
class ClassSearch(JsonFields):
    """What the search did within one true class."""

    true_class: str
    n_images: int
    n_errors: int
    n_discovery: int
    n_confirm: int
    errors_discovery: int
    errors_confirm: int
    class_rate_discovery: float
    class_rate_confirm: float
    searched: bool
    reason: str
    n_features: int
    n_conditions: int
    n_slices_tried: int
    n_candidates: int
    dropped_features: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SliceResult:
    """Everything the slice search found (typed; ``to_dict`` for JSON)."""

    config: SliceConfig
    classes: tuple
    candidates: tuple
    halves: pd.DataFrame  # image_id, label, half ("discovery" / "confirmation"), outcome, error
    headline: str

    @property
    def confirmed(self) -> tuple:
        """The confirmed candidates."""
        return tuple(c for c in self.candidates if c.confirmed)

    def frame(self) -> pd.DataFrame:
        """One row per candidate (the content of ``slices.csv``)."""
        rows = []
        for c in self.candidates:
            row = c.to_dict()
            row["conditions"] = c.condition_text
            row["typical_errors"] = ";".join(c.typical_errors)
            rows.append(row)
        columns = [f.name for f in SliceCandidate.__dataclass_fields__.values()]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict:
        """JSON-safe dict: config, classes, candidates (as in ``slices.csv``), n_confirmed, headline."""
        return jsonable({"config": asdict(self.config), "classes": [c.to_dict() for c in self.classes],
                         "candidates": self.frame(), "n_confirmed": len(self.confirmed),
                         "headline": self.headline})


# ----------------------------------------------------------------------------- building blocks

def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval (the toolkit's :func:`stats.intervals.wilson_interval`); (nan, nan) for n = 0."""
    return wilson_interval(int(successes), int(n))


def binomial_excess_p(errors: int, n: int, p0: float) -> float:
    """One-sided exact binomial p of ``errors`` of ``n`` against a rate ``p0`` (H1: rate > p0)."""
    if n == 0:
        return 1.0
    if p0 <= 0.0:
        return 1.0 if errors == 0 else 0.0
    if p0 >= 1.0:
        return 1.0
    return float(binomtest(int(errors), int(n), float(p0), alternative="greater").pvalue)


def patient_ids(table: pd.DataFrame) -> np.ndarray:
    """``patient_id`` when the table has it, else parsed from the file names of ``image_id``."""
    if "patient_id" in table:
        return table["patient_id"].astype(str).to_numpy()
    return np.array([parse_patient_id(str(i)) for i in table["image_id"]], dtype=object)


def split_halves(table: pd.DataFrame, seed: int = 0) -> pd.Series:
    """Discovery / confirmation half of every image, patient-grouped, within each true class.

    Args:
        table: per-image table with ``image_id``, ``label`` (and ``patient_id`` or
            Kermany file names).
        seed: ``random_state`` of ``GroupShuffleSplit`` (the same seed gives the same halves).

    Returns:
        Series of ``"discovery"`` / ``"confirmation"`` aligned with ``table``. All
        images of one patient (within a class) are in the same half; a class with a
        single patient goes to discovery entirely.
    """
    require_columns(table, ["image_id", "label"])
    half = pd.Series("discovery", index=table.index, dtype=object)
    groups = patient_ids(table)
    for cls in sorted(table["label"].unique()):
        idx = np.flatnonzero((table["label"] == cls).to_numpy())
        if len(set(groups[idx])) < 2:
            continue
        splitter = GroupShuffleSplit(n_splits=1, test_size=0.5, random_state=seed)
        _, confirm = next(splitter.split(idx, groups=groups[idx]))
        half.iloc[idx[confirm]] = "confirmation"
    return half


def slice_mask(frame: pd.DataFrame, conditions: Sequence[tuple[str, str]]) -> np.ndarray:
    """Rows of a feature frame meeting every (feature, level) condition."""
    mask = np.ones(len(frame), bool)
    for name, level in conditions:
        mask &= (frame[name] == level).to_numpy()
    return mask


def lattice_size(frame: pd.DataFrame, min_support: int, max_conditions: int) -> int:
    """Number of conjunctions of <= ``max_conditions`` conditions on distinct features with support >= min_support.

    This is the space SliceLine searches (it prunes it by score bounds, which only
    skips slices that cannot enter the top k); reported as "slices tried".
    """
    if frame.shape[1] == 0:
        return 0
    dummies = pd.get_dummies(frame.astype(str), prefix_sep="\x1f")
    names = [c.split("\x1f", 1)[0] for c in dummies.columns]
    onehot = dummies.to_numpy(dtype=bool)
    keep = onehot.sum(axis=0) >= min_support
    onehot, names = onehot[:, keep], [n for n, k in zip(names, keep) if k]
    total = onehot.shape[1]
    current = [((j,), onehot[:, j]) for j in range(onehot.shape[1])]
    for _level in range(2, max_conditions + 1):
        nxt = []
        for items, mask in current:
            used = {names[i] for i in items}
            for j in range(items[-1] + 1, onehot.shape[1]):
                if names[j] in used:
                    continue
                m = mask & onehot[:, j]
                if m.sum() >= min_support:
                    nxt.append((items + (j,), m))
        total += len(nxt)
        current = nxt
    return total


def sliceline_candidates(frame: pd.DataFrame, errors: np.ndarray, cfg: SliceConfig,
                         k: int | None = None) -> list[tuple[tuple, float]]:
    """Top slices of one discovery half by SliceLine: [(conditions, score)], best first.

    Args:
        frame: categorical features (strings), one row per discovery image.
        errors: 0/1 per row.
        cfg: search settings.
        k: slices asked of SliceLine (default ``cfg.top_k``).
    """
    from sliceline.slicefinder import Slicefinder

    if frame.shape[1] == 0 or errors.sum() == 0:
        return []
    finder = Slicefinder(alpha=cfg.score_alpha, k=k or cfg.top_k, max_l=min(cfg.max_conditions, frame.shape[1]),
                         min_sup=cfg.min_support, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "numba not available": speed only, results are identical
        finder.fit(frame.astype(str).to_numpy(dtype=object), errors.astype(float))
    out = []
    for slice_row, stats in zip(finder.top_slices_, finder.top_slices_statistics_):
        conditions = tuple((frame.columns[j], str(v)) for j, v in enumerate(slice_row) if v is not None)
        if conditions:
            out.append((conditions, float(stats["slice_score"])))
    return out


def distinct(found: list[tuple[tuple, float]], frame: pd.DataFrame, max_overlap: float,
             keep: int) -> list[tuple[tuple, float]]:
    """The first ``keep`` slices of ``found`` whose members overlap no earlier kept slice's by Jaccard >= max_overlap."""
    kept, masks = [], []
    for conditions, score in found:
        m = slice_mask(frame, conditions)
        if any((m & other).sum() / max((m | other).sum(), 1) >= max_overlap for other in masks):
            continue
        kept.append((conditions, score))
        masks.append(m)
        if len(kept) == keep:
            break
    return kept


def typical_errors(table: pd.DataFrame, features: FeatureTable, conditions: Sequence[tuple[str, str]],
                   member_errors: np.ndarray, n: int) -> tuple[str, ...]:
    """The ``n`` errors of a slice closest to its median on the properties that define it.

    Distance: sum over the slice's numeric properties of |value - slice median| /
    (class IQR); errors tie-broken by image id. Without numeric properties, the
    most confident errors come first (``error_confidence`` when present).

    Args:
        table: the class's per-image rows, aligned with ``features.frame``.
        features: the class's feature table.
        conditions: the slice.
        member_errors: bool per row, the slice's errors.
        n: how many.
    """
    idx = np.flatnonzero(member_errors)
    if idx.size == 0:
        return ()
    members = slice_mask(features.frame, conditions)
    score = np.zeros(idx.size)
    for name, _level in conditions:
        prop = features.feature(name).property
        if prop is None or prop not in table:
            continue
        values = numeric_column(table, prop)
        q1, q3 = np.nanpercentile(values, [25, 75])
        scale = (q3 - q1) or (np.nanstd(values) or 1.0)
        centre = np.nanmedian(values[members])
        score += np.nan_to_num(np.abs(values[idx] - centre) / scale, nan=1e9)
    if not score.any() and "error_confidence" in table:
        score = -np.nan_to_num(numeric_column(table, "error_confidence")[idx])
    ids = table["image_id"].to_numpy()[idx]
    order = np.lexsort((ids, score))
    return tuple(str(i) for i in ids[order][:n])


# ----------------------------------------------------------------------------- the search

def _class_search(table: pd.DataFrame, half: np.ndarray, cls: str, cfg: SliceConfig):
    """Candidates (unconfirmed, p_holm NaN) and the :class:`ClassSearch` record of one class."""
    part = table[table["label"] == cls].reset_index(drop=True)
    disc = half[(table["label"] == cls).to_numpy()] == "discovery"
    err = part["outcome"].isin(ERROR_OUTCOMES).to_numpy()
    n_d, n_c = int(disc.sum()), int((~disc).sum())
    e_d, e_c = int(err[disc].sum()), int(err[~disc].sum())
    rate_d = e_d / n_d if n_d else float("nan")
    rate_c = e_c / n_c if n_c else float("nan")
    base = dict(true_class=cls, n_images=len(part), n_errors=int(err.sum()), n_discovery=n_d, n_confirm=n_c,
                errors_discovery=e_d, errors_confirm=e_c, class_rate_discovery=rate_d, class_rate_confirm=rate_c)
    features = slice_features(part, cls, quality=cfg.quality, methods=cfg.methods)
    n_feat = len(features.features)
    frame = features.frame.drop(columns="image_id")
    n_cond = int(sum(frame[c].nunique() for c in frame.columns))
    if min(e_d, e_c) < cfg.min_errors or min(n_d - e_d, n_c - e_c) < 1:
        reason = (f"not searched: {e_d} errors in the discovery half and {e_c} in the confirmation half "
                  f"(need >= {cfg.min_errors} in each, and some correct images)")
        record = ClassSearch(**base, searched=False, reason=reason, n_features=n_feat, n_conditions=n_cond,
                             n_slices_tried=0, n_candidates=0, dropped_features=features.dropped)
        return [], record
    frame_d, err_d = frame[disc].reset_index(drop=True), err[disc].astype(int)
    film = [f.name for f in features.features if f.kind == "film"]
    saliency = [f.name for f in features.features if f.kind == "saliency"]
    found = [("film", c) for c in distinct(sliceline_candidates(frame_d[film], err_d, cfg, 4 * cfg.top_k),
                                           frame_d, cfg.max_overlap, cfg.top_k)]
    if saliency:  # the model's maps, alone or with film properties; at least one saliency condition
        with_maps = [c for c in sliceline_candidates(frame_d, err_d, cfg, 6 * cfg.top_k)
                     if any(name in saliency for name, _ in c[0])]
        found += [("saliency", c) for c in distinct(with_maps, frame_d, cfg.max_overlap, cfg.top_k)]
    tried = lattice_size(frame_d, cfg.min_support, cfg.max_conditions)
    candidates = []
    for rank, (family, (conditions, score)) in enumerate(found, start=1):
        member = slice_mask(frame, conditions)
        md, mc = member & disc, member & ~disc
        kd, kc = int(err[md].sum()), int(err[mc].sum())
        nd, nc = int(md.sum()), int(mc.sum())
        rd = kd / nd if nd else float("nan")
        rc = kc / nc if nc else float("nan")
        ld, hd = wilson(kd, nd)
        lc, hc = wilson(kc, nc)
        candidates.append(dict(
            true_class=cls, rank=rank, family=family, conditions=tuple(conditions),
            description=describe(cls, conditions, features), score=score,
            n_discovery=nd, errors_discovery=kd, rate_discovery=rd, rate_discovery_low=ld, rate_discovery_high=hd,
            lift_discovery=rd / rate_d if rate_d else float("nan"),
            n_confirm=nc, errors_confirm=kc, rate_confirm=rc, rate_confirm_low=lc, rate_confirm_high=hc,
            lift_confirm=rc / rate_c if rate_c else float("nan"),
            class_rate_discovery=rate_d, class_rate_confirm=rate_c,
            p_confirm=binomial_excess_p(kc, nc, rate_c),
            typical_errors=typical_errors(part, features, conditions, member & err, cfg.n_typical)))
    reason = f"searched {tried} slices on the discovery half; {len(candidates)} carried forward"
    record = ClassSearch(**base, searched=True, reason=reason, n_features=n_feat, n_conditions=n_cond,
                         n_slices_tried=tried, n_candidates=len(candidates), dropped_features=features.dropped)
    return candidates, record


def _headline(classes: Sequence[ClassSearch], candidates: Sequence[SliceCandidate], cfg: SliceConfig) -> str:
    tried = sum(c.n_slices_tried for c in classes)
    carried = len(candidates)
    confirmed = [c for c in candidates if c.confirmed]
    searched = [c.true_class for c in classes if c.searched]
    if not searched:
        return "No slice search: no class had enough errors in both halves (see the reasons per class)."
    scope = (f"{tried} slices of up to {cfg.max_conditions} conditions searched on the discovery half of "
             f"{' and '.join(searched)}; {carried} carried forward to the confirmation half")
    if not confirmed:
        return (f"Nothing confirmed: {scope}; none had a higher error rate on the confirmation half than its class "
                f"after Holm correction (alpha {cfg.alpha}). The best-looking slices of the search are not "
                "evidence of a weak spot.")

    def listed(family: str) -> str:
        chosen = [c for c in confirmed if c.family == family]
        if not chosen:
            return "none"
        return "; ".join(f"{c.description} (errors {c.errors_confirm}/{c.n_confirm} on confirmation vs class "
                         f"{100 * c.class_rate_confirm:.0f}%)" for c in chosen)

    return (f"{len(confirmed)} slice(s) confirmed: {scope}. Film properties: {listed('film')}. "
            f"Saliency (the model's own maps, partly a restatement of its output): {listed('saliency')}.")


def find_slices(table: pd.DataFrame, cfg: SliceConfig = SliceConfig()) -> SliceResult:
    """Search error slices within each true class and confirm them on held-out images.

    Args:
        table: per-image table (``table.csv`` of the explain step): ``image_id``,
            ``label``, ``outcome`` (TP/TN/FP/FN) and feature columns (see
            :mod:`stats.slice_features`).
        cfg: :class:`SliceConfig`.

    Returns:
        :class:`SliceResult`: one :class:`ClassSearch` per class present, every
        candidate carried forward with both halves' error rates, Holm-adjusted
        confirmation p-values, and a headline that says plainly when nothing is
        confirmed.

    Raises:
        ConfigError: missing columns, inconsistent outcomes, duplicated image ids.
    """
    validate_outcomes(table)
    require_columns(table, ["image_id"])
    if not table["image_id"].is_unique:
        raise ConfigError("table has duplicated image_id values; expected one row per image")
    table = table.reset_index(drop=True)
    half = split_halves(table, cfg.seed).to_numpy()
    raw, classes = [], []
    for cls in CLASSES:
        if not (table["label"] == cls).any():
            continue
        found, record = _class_search(table, half, cls, cfg)
        raw += found
        classes.append(record)
    if raw:
        p = np.array([c["p_confirm"] for c in raw])
        p_holm = holm(p)
    else:
        p_holm = np.array([])
    candidates = tuple(SliceCandidate(**c, p_holm=float(ph),
                                      confirmed=bool(ph < cfg.alpha and c["rate_confirm"] > c["class_rate_confirm"]))
                       for c, ph in zip(raw, p_holm))
    halves = pd.DataFrame({"image_id": table["image_id"], "label": table["label"], "half": half,
                           "outcome": table["outcome"],
                           "error": table["outcome"].isin(ERROR_OUTCOMES).astype(int)})
    return SliceResult(cfg, tuple(classes), candidates, halves, _headline(classes, candidates, cfg))
