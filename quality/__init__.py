"""Image quality metrics for chest X-rays, measured at one analysis size.

* :mod:`quality.metrics`: pure metric functions ``fn(image, mask=None) -> float`` and
  :func:`quality_metrics` (all of them as ``q_`` columns).
* :mod:`quality.measure`: :func:`quality.measure.measure_image` for one loaded image and
  the batch command ``python -m quality.measure`` (``run(cfg) -> DataFrame``).
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
