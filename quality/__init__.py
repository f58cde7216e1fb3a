"""Image quality metrics for chest X-rays, measured at one analysis size.

* :mod:`quality.metrics`: pure metric functions ``fn(image, mask=None) -> float`` and
  :func:`quality_metrics` (all of them as ``q_`` columns).
* :mod:`quality.batch`: :func:`quality.batch.measure_image` for one loaded image and
  :func:`quality.batch.measure_dataset` for a dataset split (``MeasureConfig -> DataFrame``).
* :mod:`quality.arrays`: the metrics of images already in memory.
* :mod:`quality.measure`: the command ``python -m quality.measure`` (``run(cfg) -> DataFrame``:
  :func:`quality.batch.measure_dataset`, then the CSV and its config JSON).
"""

from quality.metrics import (ANALYSIS_SIZE, QUALITY_COLUMNS, MaskError, blur_effect, clip_high_fraction,
                             clip_low_fraction, dynamic_range, highfreq_power, highfreq_share, histogram_entropy,
                             laplacian_var, lowfreq_power,
                             mean_brightness, michelson_contrast, noise_sigma, quality_metrics, rms_contrast,
                             to_unit_float)

__all__ = ["ANALYSIS_SIZE", "QUALITY_COLUMNS", "MaskError", "blur_effect", "clip_high_fraction", "clip_low_fraction",
           "dynamic_range", "highfreq_power", "highfreq_share", "histogram_entropy", "laplacian_var",
           "lowfreq_power", "mean_brightness",
           "michelson_contrast", "noise_sigma", "quality_metrics", "rms_contrast", "to_unit_float"]
