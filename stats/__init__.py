"""Within-class statistics for the failure investigation (pure functions, no file I/O).

Public API:
    join_on_image_id            strict one-to-one joins on ``image_id``
    compare_groups              Mann-Whitney U + rank-biserial with bootstrap CI
    benjamini_hochberg          NaN-aware BH q-values
    within_class_comparisons    FP vs TN and FN vs TP per metric
    spearman_with_ci, dose_response
    error_logistic_regression   error ~ standardised predictors within one true class
    minimal_detectable_effect   power-based smallest detectable effect
    analyse                     everything, as a JSON-serialisable dict
"""

from stats.analysis import analyse
from stats.compare import GroupComparison, compare_groups, within_class_comparisons
from stats.multiplicity import benjamini_hochberg
from stats.correlation import SpearmanResult, dose_response, spearman_with_ci
from data.join import join_on_image_id
from stats.power import MinimalDetectableEffect, minimal_detectable_effect
from stats.regression import RegressionResult, error_logistic_regression

__all__ = [
    "GroupComparison", "MinimalDetectableEffect", "RegressionResult", "SpearmanResult",
    "analyse", "benjamini_hochberg", "compare_groups", "dose_response", "error_logistic_regression",
    "join_on_image_id", "minimal_detectable_effect", "spearman_with_ci", "within_class_comparisons",
]
