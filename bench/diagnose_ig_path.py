"""Why IG converges on one model and not another: the integrand along the path, measured on a fine grid.

``python -m bench.diagnose_ig_path --run RUN [--run RUN2] [--data ROOT] [--split test] [--per-outcome 4]
[--baseline black --baseline blur] [--grid 1024] [--float64] [--json out.json]``

For each run and baseline it evaluates ``F(a) = f(x' + a (x - x'))`` (log-odds of
PNEUMONIA, :class:`xai.models_util.BinaryLogOdds`) and its slope
``F'(a) = grad f . (x - x')`` at ``grid + 1`` uniform nodes on ``[0, 1]`` for
``--per-outcome`` images of each of FP, TN and TP, and prints per run and baseline:

* ``|f(x) - f(x')|``, the quantity completeness is measured against;
* the slope's total variation on the grid, ``sum |F'(a_j+1) - F'(a_j)|``, divided by
  ``max(|f(x) - f(x')|, 0.1)`` (a lower bound of the true ratio). For a piecewise
  constant ``F'`` (a ReLU/ReLU6 network) the composite trapezoid rule's error on a
  segment of width ``h`` is at most ``h/2`` times the jumps inside it, so a
  relative error of 1 % needs about ``ratio / 0.02`` uniform segments when the
  jumps are spread along the path, far fewer when they are concentrated;
* the share of that variation in the darkest quarter of the path (``a <= 0.25``,
  where the input is mostly baseline);
* the largest excursion ``max_a |F(a) - F(0)|`` over ``|f(x) - f(x')|`` (how far
  the path strays from the straight line between its ends);
* the share of images within 1 % completeness for the composite trapezoid rule
  on nested uniform subgrids (16 ... ``grid`` segments), read off the same
  evaluations (no extra passes);
* the median error of those nested rules (how fast the error falls with the
  number of segments);
* with ``--float64``, all of it with the network evaluated in double precision
  (whether the roughness is the function's or float32 rounding's);
* the largest BatchNorm gain ``|gamma| / sqrt(running_var + eps)`` of the model
  (how strongly an input unlike the training films can be amplified).

This measures, it does not tune: nothing here feeds the toolkit's defaults.
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

PNEUMONIA = 1
TOL = 0.01
FLOOR = 0.1


def path_values(model: nn.Module, x: torch.Tensor, base: torch.Tensor, alphas: np.ndarray,
                batch: int) -> tuple[np.ndarray, np.ndarray]:
    """F(a) and F'(a) at ``alphas`` for one image x (1, C, H, W): float64 arrays (len(alphas),)."""
    values, slopes = [], []
    delta = (x - base)[0]
    for s in range(0, len(alphas), batch):
        a = torch.as_tensor(alphas[s:s + batch], dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
        point = (base + a * delta).requires_grad_(True)
        with torch.enable_grad():
            score = model(point)[:, PNEUMONIA]
            (grad,) = torch.autograd.grad(score.sum(), point)
        values.append(score.detach().double().cpu().numpy())
        slopes.append((grad * delta).double().flatten(1).sum(1).cpu().numpy())
    return np.concatenate(values), np.concatenate(slopes)


def trapezoid_error(values: np.ndarray, slopes: np.ndarray, stride: int) -> float:
    """Relative completeness error of the composite trapezoid rule on every ``stride``-th node."""
    s = slopes[::stride]
    a = np.linspace(0.0, 1.0, len(slopes))[::stride]
    integral = float(np.sum(np.diff(a) * (s[:-1] + s[1:]) / 2))
    span = values[-1] - values[0]
    return abs(integral - span) / max(abs(span), FLOOR)


def max_bn_gain(model: nn.Module) -> float:
    """Largest |gamma| / sqrt(running_var + eps) over the model's BatchNorm layers (nan without any)."""
    gains = [float((m.weight.detach().abs() / torch.sqrt(m.running_var + m.eps)).max())
             for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
             and m.running_var is not None and m.weight is not None]
    return max(gains) if gains else float("nan")


def diagnose(run_path: str, baseline: str, a, device: str) -> tuple[pd.DataFrame, dict]:
    run, rows, model, x, base = load_images(run_path, a, device, baseline)
    if a.float64:
        # The same network and path in double precision: separates the function's own roughness from rounding.
        model, x, base = model.double(), x.double(), base.double()
    alphas = np.linspace(0.0, 1.0, a.grid + 1)
    strides = [a.grid // n for n in (16, 32, 64, 128, 256, 512, 1024, 2048, 4096) if n <= a.grid and a.grid % n == 0]
    per_image = []
    t0 = time.perf_counter()
    for i in range(len(x)):
        v, s = path_values(model, x[i:i + 1], base[i:i + 1], alphas, a.batch)
        span = v[-1] - v[0]
        denom = max(abs(span), FLOOR)
        jumps = np.abs(np.diff(s))
        tv = float(jumps.sum())
        rec = {"image_id": rows["image_id"].iloc[i], "outcome": rows["outcome"].iloc[i], "span": float(span),
               "tv_ratio": tv / denom,
               "tv_share_dark_quarter": float(jumps[alphas[1:] <= 0.25].sum() / tv) if tv > 0 else float("nan"),
               "excursion_ratio": float(np.max(np.abs(v - v[0])) / denom)}
        for st in strides:
            rec[f"trap_{a.grid // st}"] = trapezoid_error(v, s, st)
        per_image.append(rec)
    seconds = time.perf_counter() - t0
    df = pd.DataFrame(per_image)
    summary = {"model": f"{run.arch} ({run.size} px)" + (", float64" if a.float64 else ""), "baseline": baseline, "images": len(df),
               "span median": float(df["span"].abs().median()),
               "TV/span median": float(df["tv_ratio"].median()), "TV/span max": float(df["tv_ratio"].max()),
               "TV share a<=0.25": float(df["tv_share_dark_quarter"].median()),
               "excursion median": float(df["excursion_ratio"].median())}
    for st in strides:
        n = a.grid // st
        summary[f"trap {n}: share<=1%"] = float(np.mean(df[f"trap_{n}"] <= TOL))
        summary[f"trap {n}: median err %"] = 100 * float(df[f"trap_{n}"].median())
    info = {"run": str(run.run_dir), "arch": run.arch, "size": run.size, "baseline": baseline,
            "max_bn_gain": max_bn_gain(run.model), "seconds": seconds, "evaluations": len(df) * len(alphas),
            "per_image": df.to_dict(orient="records")}
    return pd.DataFrame([summary]), info


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_selection_args(p, per_outcome=4)
    p.add_argument("--baseline", action="append", default=None, help="black | blur (repeat; default black)")
    p.add_argument("--grid", type=int, default=1024, help="uniform segments of the fine grid (a power of 2)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--float64", action="store_true", help="evaluate the network in double precision")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    device = resolve_device(a.device)
    tables, details = [], []
    for run_path in a.run:
        for baseline in a.baseline or ["black"]:
            table, info = diagnose(run_path, baseline, a, device)
            tables.append(table)
            details.append(info)
            print(markdown(table), flush=True)
            print(f"max BatchNorm gain {info['max_bn_gain']:.3g}; {info['evaluations']} evaluations in "
                  f"{info['seconds']:.0f} s", flush=True)
    print("\n" + markdown(pd.concat(tables, ignore_index=True)))
    if a.json:
        Path(a.json).write_text(json.dumps(details, indent=2, default=float))


if __name__ == "__main__":
    main()
