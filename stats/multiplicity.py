"""Multiple-testing corrections: thin NaN-aware wrappers over statsmodels ``multipletests``.

Benjamini-Hochberg (false-discovery rate) for exploratory families, Holm
(family-wise error) for the pre-declared primary tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from statsmodels.stats.multitest import multipletests

from data.errors import ConfigError
from stats._table import as_float_array

#: Our names -> statsmodels ``method`` names.
METHODS = {"bh": "fdr_bh", "holm": "holm"}


def adjust_pvalues(pvalues: Sequence[float] | np.ndarray, method: str = "bh") -> np.ndarray:
    """Adjusted p-values (q-values for BH) of one family.

    NaN p-values stay NaN and are excluded from the family (they do not count
    towards the number of tests).

    Args:
        pvalues: 1-D p-values in [0, 1] or NaN.
        method: ``'bh'`` (Benjamini-Hochberg) or ``'holm'``.

    Returns:
        Float array of the same length.

    Raises:
        ConfigError: unknown method, non-numeric input or p-values outside [0, 1].
    """
    if method not in METHODS:
        raise ConfigError(f"correction must be one of {sorted(METHODS)}, got {method!r}")
    p = as_float_array(pvalues, "pvalues")
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ((p[ok] < 0) | (p[ok] > 1)).any():
        raise ConfigError(f"p-values must lie in [0, 1] or be NaN, got {p[ok][(p[ok] < 0) | (p[ok] > 1)][:5].tolist()}")
    if ok.any():
        out[ok] = multipletests(p[ok], method=METHODS[method])[1]
    return out


def benjamini_hochberg(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (statsmodels ``multipletests(method='fdr_bh')``), NaN-aware."""
    return adjust_pvalues(pvalues, "bh")


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values (statsmodels ``multipletests(method='holm')``), NaN-aware."""
    return adjust_pvalues(pvalues, "holm")
