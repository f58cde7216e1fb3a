"""How close are the toolkit's IG maps to a much finer integration of the same path?

``python -m bench.ig_reference --run RUN [--run RUN2] [--data ROOT] [--split test] [--per-outcome 3]
[--grid 4096] [--baseline black] [--pixel-tol 0.1 ...] [--json out.json]``

Completeness checks the *sum* of a map. Where the slope of the path is shattered
(EfficientNet-Lite0, ``bench.diagnose_ig_path``) the signed error of the sum can
fall inside the tolerance by cancellation while single pixels are still wrong.
This measures the pixels: for ``--per-outcome`` images of each of FP, TN and TP
it computes

* the toolkit's map (:func:`xai.integrated_gradients.integrated_gradients`:
  tolerance 1 %, cap 513 evaluations, midpoint split), checking the sum only and,
  for each ``--pixel-tol``, also the per-pixel estimate (explain's default is 0.1);
* a reference: the composite trapezoid rule on ``--grid`` uniform segments, and,
  from the same evaluations, the nested rules on ``grid/2``, ``grid/4`` ... 64
  segments (how far the reference itself is from converged);

and prints per image and per model the relative L2 distance of each map to the
reference (``||A - R|| / ||R||``), the overlap (Jaccard) of their top 5 % of
pixels by ``|attribution|``, each map's completeness error, and the toolkit's own per-pixel estimate
(``half_rule_change``: the map against the same rule on every other node) next
to its distance from the reference, to show whether the estimate can be trusted, and the
distance of the maps each variant calls converged (median and max).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from bench.bench_explain import add_selection_args, load_images, markdown
from training.device import resolve_device
from xai.integrated_gradients import half_rule_change, integrated_gradients

PNEUMONIA = 1
TOL = 0.01
FLOOR = 0.1
TOP_SHARE = 0.05
COARSEST = 64


def nested_trapezoid_maps(model: nn.Module, x: torch.Tensor, base: torch.Tensor, grid: int,
                          batch: int) -> tuple[dict[int, np.ndarray], float]:
    """Trapezoid IG maps of one image (1, C, H, W) on ``grid``, ``grid/2`` ... ``COARSEST`` uniform segments.

    Returns ({segments: float64 (H, W) channel-summed map}, f(x) - f(x')). One pass of
    ``grid + 1`` nodes serves every nested rule.
    """
    counts = [n for n in (grid >> k for k in range(grid.bit_length())) if n >= COARSEST and grid % n == 0]
    sums = {n: np.zeros(x.shape[-2:], dtype=np.float64) for n in counts}
    delta = (x - base)[0]
    alphas = np.linspace(0.0, 1.0, grid + 1)
    first = last = 0.0
    for s in range(0, grid + 1, batch):
        idx = np.arange(s, min(s + batch, grid + 1))
        a = torch.as_tensor(alphas[idx], dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
        point = (base + a * delta).requires_grad_(True)
        with torch.enable_grad():
            score = model(point)[:, PNEUMONIA]
            (grad,) = torch.autograd.grad(score.sum(), point)
        score = score.detach()
        maps = (grad * delta).sum(1).double().cpu().numpy()
        for k, j in enumerate(idx):
            if j == 0:
                first = float(score[k])
            if j == grid:
                last = float(score[k])
            for n in counts:
                stride = grid // n
                if j % stride == 0:
                    weight = (0.5 if j in (0, grid) else 1.0) / n
                    sums[n] += weight * maps[k]
    return sums, last - first


def top_overlap(a: np.ndarray, b: np.ndarray, share: float = TOP_SHARE) -> float:
    """Jaccard overlap of the top ``share`` of pixels of two maps by absolute value, in [0, 1]."""
    k = max(1, int(round(share * a.size)))
    top_a = set(np.argsort(-np.abs(a).ravel(), kind="stable")[:k])
    top_b = set(np.argsort(-np.abs(b).ravel(), kind="stable")[:k])
    return len(top_a & top_b) / len(top_a | top_b)


def _variant(pixel_tol: float | None) -> str:
    return "toolkit" if pixel_tol is None else f"toolkit_px{100 * pixel_tol:g}"


def compare(run_path: str, a, device: str) -> tuple[pd.DataFrame, dict]:
    run, rows, model, x, base = load_images(run_path, a, device, a.baseline)
    variants, toolkit_s = {}, {}
    for pixel_tol in [None] + list(a.pixel_tol or []):
        t0 = time.perf_counter()
        variants[_variant(pixel_tol)] = integrated_gradients(model, x, PNEUMONIA, baseline=base, pixel_tol=pixel_tol)
        toolkit_s[_variant(pixel_tol)] = time.perf_counter() - t0
    per_image = []
    t0 = time.perf_counter()
    for i in range(len(x)):
        maps, span = nested_trapezoid_maps(model, x[i:i + 1], base[i:i + 1], a.grid, a.batch)
        ref = maps[a.grid]
        denom = max(abs(span), FLOOR)
        norm = float(np.linalg.norm(ref))
        rec = {"image_id": rows["image_id"].iloc[i], "outcome": rows["outcome"].iloc[i], "span": span}
        for name, res in variants.items():
            rec.update({f"{name}_evals": int(res.evaluations[i]), f"{name}_converged": bool(res.converged[i]),
                        f"{name}_err_%": 100 * float(res.completeness_error[i]),
                        f"{name}_L2_%": 100 * float(np.linalg.norm(res.attributions[i] - ref)) / norm,
                        f"{name}_top5": top_overlap(res.attributions[i], ref),
                        f"{name}_halfrule_%": 100 * float(res.half_rule_change[i])})
        rec[f"ref{a.grid}_err_%"] = 100 * abs(float(ref.sum()) - span) / denom
        for n, m in sorted(maps.items()):
            if n == a.grid:
                continue
            rec[f"uniform{n}_err_%"] = 100 * abs(float(m.sum()) - span) / denom
            rec[f"uniform{n}_L2_%"] = 100 * float(np.linalg.norm(m - ref)) / norm
            rec[f"uniform{n}_top5"] = top_overlap(m, ref)
            if n // 2 in maps:
                rec[f"uniform{n}_halfrule_%"] = 100 * half_rule_change(m, maps[n // 2])
        if a.save_maps:
            Path(a.save_maps).mkdir(parents=True, exist_ok=True)
            np.savez_compressed(Path(a.save_maps) / f"{run.arch}_{i}.npz",
                                **{name: res.attributions[i] for name, res in variants.items()},
                                **{f"uniform{n}": m.astype(np.float32) for n, m in maps.items()})
        per_image.append(rec)
        print(markdown(pd.DataFrame([rec])).splitlines()[-1], flush=True)
    df = pd.DataFrame(per_image)
    summary = {"model": f"{run.arch} ({run.size} px)", "images": len(df)}
    for name in variants:
        summary[f"{name} evals mean"] = float(df[f"{name}_evals"].mean())
        summary[f"{name} converged"] = int(df[f"{name}_converged"].sum())
    for col in df.columns:
        if col.endswith(("_L2_%", "_top5", "_err_%", "_halfrule_%")):
            summary[f"{col} median"] = float(df[col].median())
    for name in variants:
        conv = df[df[f"{name}_converged"]]
        summary[f"{name}_L2_% median, converged only"] = (float(conv[f"{name}_L2_%"].median()) if len(conv)
                                                          else float("nan"))
        summary[f"{name}_L2_% max, converged only"] = float(conv[f"{name}_L2_%"].max()) if len(conv) else float("nan")
    info = {"run": str(run.run_dir), "arch": run.arch, "size": run.size, "grid": a.grid, "baseline": a.baseline,
            "toolkit_seconds": toolkit_s, "reference_seconds": time.perf_counter() - t0,
            "per_image": df.to_dict(orient="records")}
    return pd.DataFrame([summary]), info


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_selection_args(p, per_outcome=3)
    p.add_argument("--baseline", default="black", help="black | blur")
    p.add_argument("--grid", type=int, default=4096, help="uniform segments of the reference (a power of 2, >= 64)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--json", default=None)
    p.add_argument("--pixel-tol", type=float, action="append", default=None,
                   help="also run the toolkit with this per-pixel tolerance (pixel_tol; repeatable)")
    p.add_argument("--save-maps", default=None, help="folder for each image's maps (npz), for later analysis")
    a = p.parse_args(argv)
    if a.grid < COARSEST or a.grid & (a.grid - 1):
        p.error(f"--grid must be a power of 2 >= {COARSEST}, got {a.grid}")
    if a.threads:
        torch.set_num_threads(a.threads)
    device = resolve_device(a.device)
    tables, details = [], []
    for run_path in a.run:
        table, info = compare(run_path, a, device)
        tables.append(table)
        details.append(info)
        print(markdown(table.T.reset_index().rename(columns={"index": "measure", 0: "value"})), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(details, indent=2, default=float))


if __name__ == "__main__":
    main()
