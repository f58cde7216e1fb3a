"""Report block: what each localisation result rests on (n used, n excluded and why), and what chance is.

Draws :func:`xai.exclusions.saliency_accounting` as a table; computes nothing.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import pandas as pd


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
    ks = ", ".join(str(k) for k in top_percents)
    parts = [
        '<p class="note">Localisation is measured by the area-normalised relevance rank accuracy '
        f"(Arras et al. 2022): for the top k % most salient pixels of the RAW map (k = {ks}; Grad-CAM before "
        "its ReLU and min-max, IG signed), the share inside the lung mask divided by the lung area fraction. "
        "<b>Chance level is 1.0</b> (a map that ignores where the lungs are); above 1 the most salient pixels "
        "concentrate in the lungs, below 1 they avoid them. It depends only on the ranking of the pixels, "
        "so no per-image threshold decides which images have evidence, and every image with a map and a "
        "plausible lung mask has a value (a constant map gets exactly 1.0 by ties and is counted below). "
        f"The verdict on 'cues outside the lungs' uses only <code>{html.escape(primary)}</code> (FP vs TN); "
        "the older share of positive mass inside the lungs (<code>*_lung_share</code>) is descriptive only "
        "and is kept out of every verdict.</p>"]
    if frame.empty:
        parts.append('<p class="missing">No saliency summaries in this table.</p>')
        return "What the localisation results rest on", "\n".join(parts)
    head = ["method", "outcome", "images", "used", "excluded: why", "constant maps (used, ratio 1.0)"]
    rows = []
    for r in frame.to_dict("records"):
        rows.append([r["method"], r["outcome"], r["n_images"], r["n_used"], r["excluded"] or "none",
                     r["n_constant_map"]])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    parts.append("<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
                 + f"</tr></thead><tbody>{body}</tbody></table>")
    return "What the localisation results rest on", "\n".join(parts)
