"""Explain speed: the toolkit's batched, adaptive explain step against a naive loop, in one run.

``python bench/bench_explain.py --run runs/latest [--data ROOT] [--split valid] [--limit 8] [--device auto]``

Naive loop: one image at a time, a new GradCAM object per image, Captum IG with
its defaults (50 Gauss-Legendre steps). Toolkit: one GradCAM context for all
images, IG batched with per-image adaptive steps (start 16, tolerance 1%). Both
explain the same errors with the same log-odds output, and both report their IG
completeness errors. Goal: >= 3x faster at equal or better completeness.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from captum.attr import IntegratedGradients
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from data.cache import load_resized
from training.predict import load_run, to_model_input
from training.train import resolve_device
from xai.explain import CLASS_INDEX
from xai.gradcam import gradcam_maps
from xai.integrated_gradients import black_baseline, integrated_gradients
from xai.models_util import BinaryLogOdds, target_layer_for


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def naive(model, layer, x, base, targets, device) -> tuple[float, np.ndarray]:
    """Seconds and completeness errors of the naive per-image loop."""
    errors = []
    _sync(device)
    t0 = time.perf_counter()
    for i in range(len(x)):
        with GradCAM(model=model, target_layers=[layer]) as cam:
            cam(input_tensor=x[i:i + 1], targets=[ClassifierOutputTarget(int(targets[i]))])
        ig = IntegratedGradients(model)
        attr, delta = ig.attribute(x[i:i + 1], baselines=base[i:i + 1], target=int(targets[i]),
                                   return_convergence_delta=True)
        with torch.no_grad():
            span = (model(x[i:i + 1]) - model(base[i:i + 1]))[0, int(targets[i])].abs().item()
        errors.append(abs(delta.item()) / max(span, 0.1))
    _sync(device)
    return time.perf_counter() - t0, np.asarray(errors)


def toolkit(model, layer, x, base, targets, device) -> tuple[float, np.ndarray, np.ndarray]:
    """Seconds, completeness errors and steps of the toolkit's explain step."""
    _sync(device)
    t0 = time.perf_counter()
    gradcam_maps(model, x, targets, target_layer=layer)
    res = integrated_gradients(model, x, targets, baseline=base)
    _sync(device)
    return time.perf_counter() - t0, res.completeness_error, res.steps_used


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="runs/latest")
    p.add_argument("--data", default=None)
    p.add_argument("--split", default="valid")
    p.add_argument("--limit", type=int, default=8)
    p.add_argument("--device", default="auto")
    p.add_argument("--cache-dir", default=None)
    a = p.parse_args(argv)
    device = resolve_device(a.device)
    run = load_run(a.run)
    preds = pd.read_csv(run.run_dir / "predictions.csv")
    errors = preds[(preds["split"] == a.split) & preds["outcome"].isin(["FP", "FN"])].head(a.limit)
    root = Path(a.data or run.info["data_root"])
    pixels = load_resized([root / q for q in errors["path"]], run.size, cache_dir=a.cache_dir, desc="decode")
    model = run.model.to(device).eval()
    layer = target_layer_for(model)
    model = BinaryLogOdds(model)
    x = to_model_input(pixels, run.mean, run.std, device)
    base = black_baseline(x, run.mean, run.std)
    targets = errors["pred"].map(CLASS_INDEX).to_numpy()
    toolkit(model, layer, x[:1], base[:1], targets[:1], device)  # warm-up
    t_tool, err_tool, steps = toolkit(model, layer, x, base, targets, device)
    t_naive, err_naive = naive(model, layer, x, base, targets, device)
    result = {
        "device": device, "n_images": int(len(x)), "size": run.size,
        "naive_s_per_image": round(t_naive / len(x), 3), "toolkit_s_per_image": round(t_tool / len(x), 3),
        "speedup": round(t_naive / t_tool, 2),
        "naive_completeness_median": float(np.median(err_naive)), "naive_completeness_max": float(err_naive.max()),
        "toolkit_completeness_median": float(np.median(err_tool)), "toolkit_completeness_max": float(err_tool.max()),
        "toolkit_steps": steps.tolist(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
