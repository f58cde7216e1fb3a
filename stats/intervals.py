"""Proportions with Wilson intervals, the small-split rule, and how a metric with its interval is printed.

The one home of the Wilson interval (a thin wrapper over statsmodels
``proportion_confint(method='wilson')``), of the metric dict
``{value, ci_low, ci_high, n, interval}`` every accuracy-like number travels in,
and of ``SMALL_SPLIT``.
"""

from __future__ import annotations

import math

from statsmodels.stats.proportion import proportion_confint

from data.errors import ConfigError

#: A split smaller than this gets a loud warning wherever accuracy is reported.
SMALL_SPLIT = 100
#: Interval labels carried in metric dicts (and printed in reports).
WILSON_LABEL = "Wilson 95%"
BOOTSTRAP_LABEL = "bootstrap 95%"


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (statsmodels ``proportion_confint``).

    Args:
        successes: number of successes, 0 <= successes <= n.
        n: number of trials, >= 0. With n == 0 the interval is (nan, nan).
        alpha: 1 - confidence level.

    Returns:
        (low, high) in [0, 1].
    """
    successes, n = int(successes), int(n)
    if n < 0 or successes < 0 or successes > n:
        raise ConfigError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return (math.nan, math.nan)
    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return (float(low), float(high))


def proportion(successes: int, n: int) -> dict:
    """A proportion as a metric dict: ``{value, successes, n, ci_low, ci_high, interval}`` (Wilson 95%).

    ``value`` is NaN when ``n == 0``.
    """
    low, high = wilson_interval(successes, n)
    return {"value": successes / n if n else math.nan, "successes": int(successes), "n": int(n),
            "ci_low": low, "ci_high": high, "interval": WILSON_LABEL}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_metric(m: dict, percent: bool = True) -> str:
    """``87.5% (95% CI 64.0-96.5%, n=16)`` style text for one metric dict.

    Accepts the dicts of :func:`proportion` and :func:`stats.classification.binary_metrics`,
    also after a JSON round trip (NaN stored as None); a missing value prints
    ``n/a``, a missing interval is left out.
    """
    value = m.get("value")
    if _missing(value):
        return "n/a"
    scale, unit, spec = (100.0, "%", ".1f") if percent else (1.0, "", ".3f")
    text = f"{scale * float(value):{spec}}{unit}"
    low, high = m.get("ci_low"), m.get("ci_high")
    if not _missing(low) and not _missing(high):
        text += f" (95% CI {scale * float(low):{spec}}-{scale * float(high):{spec}}{unit}"
        text += f", n={m['n']})" if "n" in m else ")"
    elif "n" in m:
        text += f" (n={m['n']})"
    return text


def split_size_warning(split: str, n: int) -> str | None:
    """Warning text for a split too small for accuracy claims, or None."""
    if n >= SMALL_SPLIT:
        return None
    low, high = wilson_interval(n // 2, n) if n else (0.0, 1.0)
    return (f"split '{split}' has only {n} images: one image is {100.0 / max(n, 1):.2f} accuracy points and a "
            f"95% Wilson interval is up to {100 * (high - low):.0f} points wide; do not rank models on it")
