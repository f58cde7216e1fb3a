"""Training speed: the toolkit's fastai pipeline against a plain PyTorch loop, in one run.

``python bench/bench_training.py [--data ROOT] [--size 224] [--epochs 1] [--device auto]``

Both train the same ResNet18 classifier (random init, full backprop) on the same
cached uint8 tensors with the same batch size; the plain loop has no augmentation
and no callbacks. Prints images/second for each and their ratio (goal: <= 1.3).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from data.cache import load_resized
from data.scan import scan_dataset
from training.backbones import IMAGENET_MEAN, IMAGENET_STD, build_classifier, imagenet_backbone
from training.config import TrainConfig, bundled_sample
from training.predict import to_model_input
from training.trainer import fit
from training.device import resolve_device


def plain_loop(pixels: np.ndarray, labels: np.ndarray, cfg: TrainConfig, device: str, epochs: int) -> float:
    """Images/second of a bare loop: shuffle, normalise, forward, backward, Adam step."""
    torch.manual_seed(cfg.seed)
    model = build_classifier(cfg.arch, imagenet_backbone(cfg.arch, "none")[0]).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    y_all = torch.as_tensor(labels)
    n_seen, elapsed = 0, 0.0
    for epoch in range(epochs + 1):  # epoch 0 is a warm-up, not timed
        order = np.random.default_rng(epoch).permutation(len(pixels))
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            x = to_model_input(pixels[idx], IMAGENET_MEAN, IMAGENET_STD, device)
            loss = torch.nn.functional.cross_entropy(model(x), y_all[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            if epoch == 0 and start >= 4 * cfg.batch_size:
                break
        if device == "cuda":
            torch.cuda.synchronize()
        if epoch > 0:
            elapsed += time.perf_counter() - t0
            n_seen += len(order)
    return n_seen / elapsed


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(bundled_sample()))
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--json", default=None, help="also write the result here")
    a = p.parse_args(argv)
    device = resolve_device(a.device)
    cfg = TrainConfig(data=a.data, size=a.size, epochs=a.epochs, batch_size=a.batch_size, weights="none",
                      device=device, cache_dir=a.cache_dir)
    table = scan_dataset(a.data, splits=("train", "valid"))
    train_rows = table[table["split"] == "train"].iloc[: a.limit]
    valid_rows = table[table["split"] == "valid"]
    rows = pd.concat([train_rows, valid_rows], ignore_index=True)
    root = Path(table.attrs["root"])
    pixels = load_resized([root / q for q in rows["path"]], a.size, cache_dir=a.cache_dir, desc="decode")
    labels = (rows["label"] == "PNEUMONIA").to_numpy().astype(int)
    n_train = len(train_rows)
    train_idx, valid_idx = np.arange(n_train), np.arange(n_train, len(rows))
    fit(cfg, pixels, labels, train_idx, valid_idx, device)  # warm-up run (kernels, allocator)
    _, _, _, epoch_seconds = fit(cfg, pixels, labels, train_idx, valid_idx, device)
    toolkit = n_train * len(epoch_seconds) / sum(epoch_seconds)
    plain = plain_loop(pixels[:n_train], labels[:n_train], cfg, device, a.epochs)
    result = {"device": device, "size": a.size, "batch_size": a.batch_size, "n_train": n_train,
              "epochs": a.epochs, "toolkit_images_per_s": round(toolkit, 1), "plain_images_per_s": round(plain, 1),
              "plain_over_toolkit": round(plain / toolkit, 3)}
    print(json.dumps(result, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
