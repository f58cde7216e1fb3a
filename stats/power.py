"""Minimal detectable effects: how large a group difference a given split could detect."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from statsmodels.stats.power import TTestIndPower

from data.errors import ConfigError
from stats._table import JsonFields


@dataclass(frozen=True)
class MinimalDetectableEffect(JsonFields):
    """Smallest effect detectable with the requested power.

    Attributes:
        n1, n2: group sizes.
        alpha: two-sided significance level.
        power: requested power.
        cohens_d: smallest |Cohen's d| detectable by a two-sided two-sample t-test.
        rank_biserial: the same effect as a rank-biserial correlation, assuming two
            normal distributions with equal variance shifted by ``cohens_d`` SDs:
            ``2 * Phi(d / sqrt(2)) - 1`` (Phi = standard normal CDF; P(X > Y) =
            Phi(d / sqrt(2)) for such a shift).
        reason: why the effect is NaN, else None.
    """

    n1: int
    n2: int
    alpha: float
    power: float
    cohens_d: float
    rank_biserial: float
    reason: str | None = None



def d_to_rank_biserial(d: float) -> float:
    """Rank-biserial correlation equivalent to a normal location shift of ``d`` SDs.

    ``r = 2 * Phi(d / sqrt(2)) - 1``; sign follows ``d``.
    """
    return float(2.0 * norm.cdf(d / math.sqrt(2.0)) - 1.0)


def minimal_detectable_effect(
    n1: int, n2: int, *, alpha: float = 0.05, power: float = 0.8
) -> MinimalDetectableEffect:
    """Smallest |Cohen's d| (and its rank-biserial equivalent) detectable with these group sizes.

    Uses ``statsmodels.stats.power.TTestIndPower().solve_power`` (two-sided,
    ``nobs1=n1``, ``ratio=n2/n1``). The Mann-Whitney test used in
    :mod:`stats.compare` has asymptotic relative efficiency 3/pi (about 0.955)
    to the t-test under normality, so the true MDE for it is slightly larger;
    treat the value as a lower bound.

    Args:
        n1: size of the first group (>= 0).
        n2: size of the second group (>= 0).
        alpha: two-sided significance level in (0, 1).
        power: desired power in (0, 1).

    Returns:
        MinimalDetectableEffect; NaN effects with a reason when a group has < 2 members
        or the solver fails.

    Raises:
        ConfigError: negative sizes, or alpha/power outside (0, 1).
    """
    for name, n in (("n1", n1), ("n2", n2)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ConfigError(f"{name} must be an integer >= 0, got {n!r}")
    for name, v in (("alpha", alpha), ("power", power)):
        if not (isinstance(v, (int, float)) and 0.0 < float(v) < 1.0):
            raise ConfigError(f"{name} must be in (0, 1), got {v!r}")
    n1, n2 = int(n1), int(n2)
    if n1 < 2 or n2 < 2:
        return MinimalDetectableEffect(
            n1, n2, float(alpha), float(power), math.nan, math.nan,
            reason=f"group sizes {n1} and {n2}: need at least 2 in each group",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            d = TTestIndPower().solve_power(
                effect_size=None, nobs1=n1, ratio=n2 / n1, alpha=alpha, power=power,
                alternative="two-sided",
            )
            d = float(np.asarray(d).item())
        except Exception as exc:  # solver failures become a reason, not a crash
            return MinimalDetectableEffect(
                n1, n2, float(alpha), float(power), math.nan, math.nan,
                reason=f"power solver failed: {exc}",
            )
    if not np.isfinite(d) or d <= 0:
        return MinimalDetectableEffect(
            n1, n2, float(alpha), float(power), math.nan, math.nan,
            reason=f"power solver returned {d!r}",
        )
    d = abs(d)
    return MinimalDetectableEffect(n1, n2, float(alpha), float(power), d, d_to_rank_biserial(d))
