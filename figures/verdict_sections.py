"""Report sections for the natural-unit counterfactual doses (draws typed results, computes nothing)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from figures.templating import grid, render_section
from stats.natural_dose import NaturalDose

TITLE = "Counterfactual doses in natural units"
NOTE = ("A synthetic edit can lie far outside the range of real films. Each edit is therefore re-expressed as the "
        "change of a quality metric equal to the observed FP - TN median difference (a natural-sized change), and "
        "the change in log-odds it causes on correctly classified NORMAL films is read off each image's own "
        "dose-response (interpolated between the swept strengths; 95% CI resampling images). The FP excess is the "
        "median log-odds of FPs minus that of TNs; the share says how much of it a natural-sized change would "
        "produce. Only a share with a CI clearly above 0 supports a causal role of that kind of change; the edit "
        "may still differ from the natural cause in ways the metric does not capture.")


def _f(x: float, fmt: str = "{:+.2f}") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)


def natural_dose_section(doses: Sequence[NaturalDose]) -> tuple[str, str]:
    """(title, HTML) with one sentence and one table row per (edit, metric)."""
    head = ["edit", "metric", "observed FP - TN", "dose (strength)", "change in log-odds [95% CI]",
            "share of FP excess [95% CI]", "n (extrapolated)"]
    rows = []
    for d in doses:
        rows.append([d.intervention, d.metric, _f(d.observed_diff, "{:+.3g}"), _f(d.dose_strength, "{:.3g}"),
                     f"{_f(d.delta_logit)} [{_f(d.delta_logit_low)}, {_f(d.delta_logit_high)}]",
                     f"{_f(100 * d.share_of_excess, '{:.0f}')}% [{_f(100 * d.share_low, '{:.0f}')}%, "
                     f"{_f(100 * d.share_high, '{:.0f}')}%]" if d.reason is None else d.reason,
                     f"{d.n_images} ({d.n_extrapolated})"])
    return TITLE, render_section("natural_dose", note=NOTE, statements=[d.statement for d in doses],
                                 table=grid(head, rows) if doses else None)
