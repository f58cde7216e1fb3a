"""Which saliency maps may be used: IG maps that failed their convergence check are excluded everywhere.

Integrated Gradients is only an attribution of the output when its completeness
error is within the run's tolerance (the attributions sum to f(x) - f(baseline))
and, where the run sets ``ig_pixel_tol``, its per-pixel estimate too.
A map that missed it is excluded from every saliency statistic, sanity check and
faithfulness figure, and counted with its reason, never dropped silently.

The per-image flag is ``ig_converged`` (bool, written by the explain step); older
tables without it are judged by ``ig_completeness_error > ig_tol`` (the run's
tolerance, from the explain ``config.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from data.layout import explain_layout

#: Reason text attached to every excluded IG map.
IG_REASON = "IG map not converged (completeness or per-pixel error above the run's tolerance)"


def ig_not_converged(table: pd.DataFrame, tol: float | None) -> pd.Series:
    """Rows of a saliency table whose IG map did not converge.

    Args:
        table: rows with ``ig_converged`` and/or ``ig_completeness_error`` (long
            ``saliency.csv`` rows of method ``ig``, or the wide per-image table).
        tol: the run's ``ig_tol`` (used only without ``ig_converged``).

    Returns:
        bool Series aligned with ``table``: True = exclude. Rows without IG
        information (e.g. Grad-CAM rows) are False.
    """
    out = pd.Series(False, index=table.index)
    if "ig_converged" in table:
        flag = table["ig_converged"]
        known = flag.notna()
        out[known] = ~flag[known].astype(str).str.lower().isin(["true", "1", "1.0"])
        return out
    if "ig_completeness_error" in table and tol is not None:
        err = pd.to_numeric(table["ig_completeness_error"], errors="coerce")
        out = err.notna() & (err > float(tol))
    return out


def explain_ig_tol(out_dir: str | Path) -> float | None:
    """The ``ig_tol`` the explain step used (from ``config.json``), or None."""
    path = explain_layout(out_dir).config
    if not path.is_file():
        return None
    tol = json.loads(path.read_text()).get("ig_tol")
    return None if tol is None else float(tol)


def unconverged_ig_maps(out_dir: str | Path) -> set[tuple[str, int]]:
    """``{(image_id, target_class)}`` of IG maps in ``saliency.csv`` that did not converge."""
    path = explain_layout(out_dir).saliency
    if not path.is_file():
        return set()
    sal = pd.read_csv(path)
    if "method" not in sal:
        return set()
    ig = sal[sal["method"] == "ig"]
    bad = ig[ig_not_converged(ig, explain_ig_tol(out_dir)).to_numpy()]
    return {(str(i), int(t)) for i, t in zip(bad["image_id"], bad["target_class"])}


def blank_unconverged_ig(wide: pd.DataFrame, tol: float | None) -> pd.DataFrame:
    """Blank the ``ig_*`` summary columns of images whose IG map did not converge; add ``ig_excluded``.

    Args:
        wide: one row per image with ``ig_*`` columns.
        tol: the run's ``ig_tol``.

    Returns:
        A copy; ``ig_excluded`` holds :data:`IG_REASON` for excluded rows and '' otherwise.
        The completeness columns themselves are kept (they say why).
    """
    out = wide.copy()
    bad = ig_not_converged(out, tol).to_numpy()
    keep = {"ig_completeness_error", "ig_converged", "ig_steps", "ig_evaluations", "ig_half_rule_change"}
    cols = [c for c in out.columns if c.startswith("ig_") and c not in keep]
    if bad.any() and cols:
        out.loc[bad, cols] = np.nan
    out["ig_excluded"] = np.where(bad, IG_REASON, "")
    return out


#: Outcome groups in the order the report lists them (FP vs TN carries the localisation verdict).
OUTCOMES = ("FP", "TN", "FN", "TP")


def saliency_accounting(table: pd.DataFrame, methods=("gradcam", "ig"), metric: str = "lung_rank_ratio_k10"
                        ) -> pd.DataFrame:
    """How many images each localisation result rests on, and why the others are left out.

    Every image of each outcome group is assigned exactly one fate, checked in
    this order: ``no map`` (the method was not run for it, e.g. IG on correct
    images), ``IG not converged`` (:data:`IG_REASON`), ``lung mask implausible``
    (a share "inside the lungs" means nothing without lungs), ``no lung area``
    (mask empty or full: the ratio has no denominator), else ``used``. Constant
    maps are used (ratio 1.0 by ties, chance) and counted separately.

    Args:
        table: the explain step's per-image table (``outcome``, ``{m}_{metric}``,
            ``lung_mask_plausible``, optionally ``ig_excluded``, ``{m}_map_constant``).
        methods: method prefixes.
        metric: unprefixed summary key.

    Returns:
        One row per method x outcome present: ``method, metric, outcome, n_images,
        n_used, n_no_map, n_ig_not_converged, n_mask_implausible, n_no_lung_area,
        n_constant_map, excluded`` (a sentence: counts and reasons, '' if none).
    """
    rows = []
    plausible = table["lung_mask_plausible"].astype(bool) if "lung_mask_plausible" in table \
        else pd.Series(True, index=table.index)
    for method in methods:
        col = f"{method}_{metric}"
        has_any = any(c.startswith(f"{method}_") for c in table.columns)
        if not has_any:
            continue
        ig_bad = (table["ig_excluded"].fillna("").astype(str) != "") if (method == "ig" and "ig_excluded" in table) \
            else pd.Series(False, index=table.index)
        summary_cols = [c for c in (f"{method}_lung_share", f"{method}_entropy", f"{method}_empty", col) if c in table]
        mapped = table[summary_cols].notna().any(axis=1) if summary_cols else pd.Series(False, index=table.index)
        value = table[col] if col in table else pd.Series(np.nan, index=table.index)
        constant = table[f"{method}_map_constant"].fillna(0).astype(float) == 1 if f"{method}_map_constant" in table \
            else pd.Series(False, index=table.index)
        no_map = ~mapped & ~ig_bad
        not_conv = ig_bad
        implausible = ~no_map & ~not_conv & ~plausible
        no_area = ~no_map & ~not_conv & ~implausible & value.isna()
        used = ~no_map & ~not_conv & ~implausible & ~no_area
        for outcome in OUTCOMES:
            sel = table["outcome"] == outcome
            if not sel.any():
                continue
            counts = {"n_no_map": int((no_map & sel).sum()), "n_ig_not_converged": int((not_conv & sel).sum()),
                      "n_mask_implausible": int((implausible & sel).sum()),
                      "n_no_lung_area": int((no_area & sel).sum())}
            reasons = {"n_no_map": "no map for this method", "n_ig_not_converged": IG_REASON,
                       "n_mask_implausible": "lung mask implausible", "n_no_lung_area": "lung mask empty or full"}
            text = "; ".join(f"{v} {reasons[k]}" for k, v in counts.items() if v)
            rows.append({"method": method, "metric": col, "outcome": outcome, "n_images": int(sel.sum()),
                         "n_used": int((used & sel).sum()), **counts,
                         "n_constant_map": int((constant & used & sel).sum()), "excluded": text})
    return pd.DataFrame(rows, columns=["method", "metric", "outcome", "n_images", "n_used", "n_no_map",
                                       "n_ig_not_converged", "n_mask_implausible", "n_no_lung_area",
                                       "n_constant_map", "excluded"])
