"""The one place the toolkit touches fastai's private API.

``fastai.vision.learner._resnet_split`` is the parameter-group splitter fastai's
own ``vision_learner`` uses for ResNets (stem + layer1-2 | layer3-4 | head), so
discriminative learning rates match what ``fine_tune`` expects. It is private:
if fastai renames or removes it, importing this module fails with a message
naming it, and ``tests/test_upstream_adapters.py`` fails loudly.
"""

from __future__ import annotations

try:
    from fastai.vision.learner import _resnet_split as resnet_split
    from fastai.vision.learner import default_split
except ImportError as exc:  # pragma: no cover - only when fastai moves its private API
    raise ImportError(
        "fastai.vision.learner no longer provides _resnet_split/default_split (private API used by "
        f"training.fastai_compat); pin fastai to a version that has them or update the adapter: {exc}"
    ) from exc

__all__ = ["default_split", "resnet_split"]
