"""The two classes, the decision threshold and the outcome vocabulary: the one home of each.

PNEUMONIA is the positive class (index 1 of the model's two logits), NORMAL the
negative one (index 0). A prediction is PNEUMONIA when P(pneumonia) >= THRESHOLD.
"""

from __future__ import annotations

NORMAL = "NORMAL"
PNEUMONIA = "PNEUMONIA"
#: Class names in model-output order (index 0, index 1); also the class folder names on disk.
CLASSES = (NORMAL, PNEUMONIA)
#: Class name -> model output index.
CLASS_INDEX = {name: i for i, name in enumerate(CLASSES)}
#: P(pneumonia) at or above this is a PNEUMONIA prediction (every run's threshold).
THRESHOLD = 0.5
#: Outcomes with PNEUMONIA positive.
OUTCOMES = ("TP", "TN", "FP", "FN")
#: Outcome -> true label it implies.
OUTCOME_TRUTH = {"TP": PNEUMONIA, "FN": PNEUMONIA, "TN": NORMAL, "FP": NORMAL}
#: Outcome -> predicted label it implies.
OUTCOME_PRED = {"TP": PNEUMONIA, "FP": PNEUMONIA, "TN": NORMAL, "FN": NORMAL}


def safe_name(image_id: str) -> str:
    """File-name-safe form of an image id (``test/NORMAL/IM-1.jpeg`` -> ``test__NORMAL__IM-1.jpeg``).

    The one mapping from an image id to the stem of its ``maps/*.npz`` and
    ``panels/*.png`` files; writers and readers must both use it.
    """
    return image_id.replace("/", "__")
