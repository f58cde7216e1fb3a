"""Every training image every epoch; the demo model of the main command vs the study's default."""

from __future__ import annotations

import numpy as np
import pytest

from training.config import TrainConfig, demo_config
from training.trainer import make_dataloaders, train_batch_size
from training.train import parse_args


@pytest.mark.parametrize("n,bs", [(240, 64), (100, 64), (65, 64), (129, 64), (5, 64), (3, 2), (1, 64)])
def test_batches_cover_every_image_and_none_holds_one(n, bs):
    b = train_batch_size(n, bs)
    assert 1 <= b <= max(bs, n)
    sizes = [b] * (n // b) + ([n % b] if n % b else [])
    assert sum(sizes) == n
    assert n == 1 or min(sizes) >= 2


def test_fastai_train_loader_yields_every_training_image_once_per_epoch():
    n = 70  # 64 + a partial batch of 6, which fastai drops by default
    pixels = np.random.default_rng(0).integers(0, 255, (n + 4, 16, 16), dtype=np.uint8)
    labels = np.arange(n + 4) % 2
    cfg = TrainConfig(size=16, batch_size=64, device="cpu")
    dls = make_dataloaders(pixels, labels, np.arange(n), np.arange(n, n + 4), cfg, "cpu",
                           (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    seen = sum(len(y) for _, y in dls.train)
    assert seen == n


def test_demo_is_effnet_from_imagenet_while_train_defaults_to_resnet18():
    demo = demo_config()
    assert (demo.arch, demo.weights) == ("efficientnet_lite0", "imagenet")
    assert demo.note and "ResNet18" in demo.note
    default = parse_args([])
    assert (default.arch, default.weights, default.note) == ("resnet18", "auto", None)
