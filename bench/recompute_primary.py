"""Recompute the three primary FP-vs-TN tests of an explain folder from its table.csv with scipy alone.

Independent of the toolkit's statistics code: Mann–Whitney U (two-sided), rank-biserial
r = 2·U_FP/(n_FP·n_TN) − 1, Holm over the three primaries written out by hand, and a
percentile bootstrap of r with its own generator (so CIs agree within bootstrap noise, not
bit for bit). The report's two documented exclusions are applied from table.csv's own
columns: lung-relative values (saliency localisation, in-/outside-lung quality) of films
whose lung mask is implausible (``lung_mask_plausible`` False), and IG values of maps that
missed the completeness tolerance (``ig_converged`` False). Prints one row per primary with the report's value and the recomputed one.

    python -m bench.recompute_primary runs/<run>/explain/test
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps


def holm(p: list[float]) -> np.ndarray:
    """Holm step-down adjusted p-values, shape (m,), in [0, 1]."""
    p = np.asarray(p, float)
    adj = np.empty(len(p))
    running = 0.0
    for rank, i in enumerate(np.argsort(p)):
        running = max(running, (len(p) - rank) * p[i])
        adj[i] = min(1.0, running)
    return adj


def bootstrap_ci(fp: np.ndarray, tn: np.ndarray, n_boot: int, rng: np.random.Generator) -> tuple[float, float]:
    """Percentile 95% interval of the rank-biserial r, resampling within each group."""
    a = fp[rng.integers(0, fp.size, (n_boot, fp.size))]
    b = tn[rng.integers(0, tn.size, (n_boot, tn.size))]
    ranks = sps.rankdata(np.concatenate([a, b], axis=1), axis=1)
    u = ranks[:, :fp.size].sum(axis=1) - fp.size * (fp.size + 1) / 2
    lo, hi = np.percentile(2 * u / (fp.size * tn.size) - 1, [2.5, 97.5])
    return float(lo), float(hi)


def documented_exclusions(table: pd.DataFrame, metric: str) -> pd.Series:
    """True where the report leaves ``metric`` out: implausible lung mask, unconverged IG map."""
    out = pd.Series(False, index=table.index)
    lung_relative = metric.startswith(("gradcam_", "ig_")) or metric.endswith(("_lung", "_outside"))
    if lung_relative and "lung_mask_plausible" in table:
        out |= ~table["lung_mask_plausible"].astype(str).str.lower().isin(["true", "1", "1.0"])
    if metric.startswith("ig_") and "ig_converged" in table:
        out |= table["ig_converged"].astype(str).str.lower().isin(["false", "0", "0.0"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("explain_dir", type=Path)
    ap.add_argument("--n-boot", type=int, default=2000)
    args = ap.parse_args(argv)
    table = pd.read_csv(args.explain_dir / "table.csv")
    verdicts = json.loads((args.explain_dir / "report.json").read_text())["analysis"]["verdict"]
    rows, ps = [], []
    rng = np.random.default_rng(2026)
    for v in verdicts:
        metric, mine = v["primary_metric"], v["primary"]
        if mine.get("p_value") is None:
            print(f"{metric}: not tested in the report ({v['status']}); nothing to recompute")
            continue
        kept = table[~documented_exclusions(table, metric)]
        fp = kept.loc[kept["outcome"] == "FP", metric].dropna().to_numpy(float)
        tn = kept.loc[kept["outcome"] == "TN", metric].dropna().to_numpy(float)
        res = sps.mannwhitneyu(fp, tn, alternative="two-sided")
        ps.append(res.pvalue)
        rows.append((metric, mine, fp.size, tn.size, res.pvalue,
                     2 * res.statistic / (fp.size * tn.size) - 1, bootstrap_ci(fp, tn, args.n_boot, rng)))
    if not rows:
        print("no primary test was run in this report")
        return 0
    q = holm(ps)
    worst = 0.0
    print(f"{'metric':32s} {'n FP/TN':>9s} {'quantity':>9s} {'report':>12s} {'scipy':>12s}")
    for (metric, mine, nf, nt, p, r, ci), qk in zip(rows, q):
        for name, theirs, ours in (("p", mine["p_value"], p), ("q Holm", mine["q_value"], qk),
                                   ("r", mine["rank_biserial"], r), ("ci_low", mine["ci_low"], ci[0]),
                                   ("ci_high", mine["ci_high"], ci[1])):
            print(f"{metric:32s} {nf:>4d}/{nt:<4d} {name:>9s} {theirs:12.6g} {ours:12.6g}")
            if name in ("p", "q Holm", "r"):
                worst = max(worst, abs(theirs - ours))
    print(f"largest |difference| in p, q, r: {worst:.2e} (CIs: independent bootstrap, compare within ~0.03)")
    return 0 if worst <= 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
