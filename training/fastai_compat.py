"""The one place the toolkit touches fastai's private API.

``_resnet_split`` is the parameter-group splitter fastai's own ``vision_learner``
uses for ResNets (stem + layer1-2 | layer3-4 | head), so discriminative learning
rates match what ``fine_tune`` expects.
"""

from __future__ import annotations

from data.upstream import private_import

resnet_split = private_import("fastai.vision.learner", "_resnet_split", __name__)
default_split = private_import("fastai.vision.learner", "default_split", __name__)
