"""Report block: what each localisation result rests on (n used, n excluded and why), and what chance is.

Draws :func:`xai.exclusions.saliency_accounting` as a table; computes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from figures.templating import grid, render_section


def localisation_evidence_section(accounting: pd.DataFrame | Sequence[Mapping], *, primary: str,
                                  top_percents: Sequence[int] = (5, 10, 20)) -> tuple[str, str]:
    """(title, HTML): the area-normalised localisation statistic, its chance level and its sample.

    Args:
        accounting: :func:`xai.exclusions.saliency_accounting` output.
        primary: the pre-declared primary column (``gradcam_lung_rank_ratio_k10``).
        top_percents: the k values computed.

    Returns:
        (title, HTML).
    """
    frame = accounting if isinstance(accounting, pd.DataFrame) else pd.DataFrame(list(accounting or []))
    table = None
    if not frame.empty:
        head = ["method", "outcome", "images", "used", "excluded: why", "constant maps (used, ratio 1.0)"]
        table = grid(head, [[r["method"], r["outcome"], r["n_images"], r["n_used"], r["excluded"] or "none",
                             r["n_constant_map"]] for r in frame.to_dict("records")])
    body = render_section("localisation_evidence", ks=", ".join(str(k) for k in top_percents), primary=primary,
                          table=table)
    return "What the localisation results rest on", body
