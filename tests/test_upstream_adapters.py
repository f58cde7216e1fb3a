"""Each private third-party API the toolkit uses still exists and still behaves as the adapter assumes.

If one of these fails after an upgrade, the upstream project moved a private
name: update the adapter module named in the test, nothing else.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch


def test_numpy_floor_matches_the_code():
    """xai.faithfulness integrates with numpy.trapezoid (NumPy >= 2); pyproject pins numpy>=2.0."""
    assert int(np.__version__.split(".")[0]) >= 2
    assert np.trapezoid([0.0, 1.0], [0.0, 1.0]) == pytest.approx(0.5)


def test_captum_adapter_lists_the_integration_rules():
    compat = importlib.import_module("xai.captum_compat")
    assert {"riemann_trapezoid", "gausslegendre"} <= set(compat.SUPPORTED_METHODS)


def test_fastai_adapter_splits_a_resnet_into_three_groups():
    from training.backbones import build_untrained_classifier
    from training.fastai_compat import default_split, resnet_split

    model = build_untrained_classifier("resnet18")
    groups = [list(g) for g in resnet_split(model)]
    assert len(groups) == 3  # stem + layer1-2 | layer3-4 | head: what fine_tune's discriminative lr expects
    n_params = sum(p.numel() for g in groups for p in g)
    assert n_params == sum(p.numel() for p in model.parameters())
    assert len(list(default_split(model))) == 2
    assert all(isinstance(p, torch.nn.Parameter) for p in groups[-1])


def test_a_moved_private_name_fails_loudly_naming_the_adapter():
    from data.upstream import private_import

    with pytest.raises(ImportError, match=r"fastai\.vision\.learner\._gone.*training\.fastai_compat"):
        private_import("fastai.vision.learner", "_gone", "training.fastai_compat")
