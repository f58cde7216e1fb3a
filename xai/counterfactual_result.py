"""The counterfactual sweeps as the report reads them: ``counterfactual.json`` parsed once into typed fields.

:func:`xai.sweeps.run_counterfactuals` writes ``counterfactual.json``; the investigation reads it back
with :meth:`CounterfactualResult.from_json`, so what the report draws has one documented shape and a
missing key has one default, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from data.labels import THRESHOLD


@dataclass(frozen=True)
class CounterfactualVerdict:
    """:func:`xai.sweeps.verdict`: the pre-declared headline and the exploratory inside-vs-outside rows.

    Attributes:
        status: ``outside`` | ``lungs`` | ``equivalent`` | ``inconclusive`` | ``not tested``.
        headline: the headline comparison in one sentence.
        statements: one exploratory sentence per row.
        rows: the strongest strength per intervention and class (:func:`xai.sweeps.region_comparison` rows).
    """

    status: str = "not tested"
    headline: str = "not tested"
    statements: tuple[str, ...] = ()
    rows: tuple[Mapping, ...] = ()


@dataclass(frozen=True)
class TextureShape:
    """:func:`xai.sweeps.texture_vs_shape`: one row per class and strength pair, and what it can show."""

    rows: tuple[Mapping, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class CounterfactualResult:
    """What the report states about the counterfactual sweeps.

    Attributes:
        out_dir: the sweeps' folder (figures are read from it).
        split: the split whose correct images were edited.
        n_images: edited images per true class.
        n_variants_per_image: edits per image ("?" when not recorded).
        threshold: P(pneumonia) threshold of a flip.
        min_effect: material mean |change in P(pneumonia)|.
        warnings: what limits the sweeps (e.g. few images).
        verdict: the headline and the inside-vs-outside rows.
        texture_shape: texture kept vs layout kept inside the lungs.
        summary: every intervention x strength x region x class (:func:`xai.sweeps.summarise` rows).
        notes: ``regions`` and ``texture_shape`` notes.
        figures: figure key -> file name under ``out_dir`` (empty: drawn by the report).
    """

    out_dir: Path
    split: str = "?"
    n_images: Mapping[str, int] = field(default_factory=dict)
    n_variants_per_image: int | str = "?"
    threshold: float = THRESHOLD
    min_effect: float = 0.05
    warnings: tuple[str, ...] = ()
    verdict: CounterfactualVerdict = CounterfactualVerdict()
    texture_shape: TextureShape = TextureShape()
    summary: tuple[Mapping, ...] = ()
    notes: Mapping[str, str] = field(default_factory=dict)
    figures: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, record: Mapping) -> CounterfactualResult:
        """Parse ``counterfactual.json`` (or the dict :func:`xai.sweeps.run_counterfactuals` returns)."""
        judged = record.get("verdict") or {}
        texture = record.get("texture_shape") or {}
        return cls(
            out_dir=Path(record.get("out_dir", ".")), split=str(record.get("split", "?")),
            n_images=dict(record.get("n_images", {})), n_variants_per_image=record.get("n_variants_per_image", "?"),
            threshold=record.get("threshold", THRESHOLD), min_effect=record.get("min_effect", 0.05),
            warnings=tuple(record.get("warnings") or ()),
            verdict=CounterfactualVerdict(status=judged.get("status", "not tested"),
                                          headline=judged.get("headline", "not tested"),
                                          statements=tuple(judged.get("statements", ())),
                                          rows=tuple(judged.get("rows", ()))),
            texture_shape=TextureShape(rows=tuple(texture.get("rows", ())), note=texture.get("note")),
            summary=tuple(record.get("summary") or ()), notes=dict(record.get("notes") or {}),
            figures=dict(record.get("figures") or {}))
