"""Every file of a run folder and of an explain folder, named once.

A run folder (``runs/<name>/``) is written by ``python -m training.train``; an
explain folder (``runs/<name>/explain/<split>/``) by ``python -m xai.explain``,
with the counterfactual sweeps in its ``counterfactual/`` sub-folder. Writers
and readers both go through these objects, so a renamed file cannot leave a
reader looking in the wrong place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from data.labels import safe_name


def _file(name: str, doc: str | None = None) -> property:
    """A read-only attribute: ``root / name``."""
    return property(lambda self: self.root / name, doc=doc or f"``{name}``")


@dataclass(frozen=True)
class CounterfactualLayout:
    """``<explain>/counterfactual/``: the intervention sweeps."""

    root: Path

    config = _file("config.json")
    per_image = _file("per_image.csv")
    summary = _file("summary.csv")
    comparison = _file("comparison.csv")
    texture_shape = _file("texture_shape.csv")
    result = _file("counterfactual.json", "``counterfactual.json``: every statistic and verdict of the sweeps")
    natural_dose = _file("natural_dose.json", "``natural_dose.json``: the sweeps' doses in natural units")
    figures = _file("figures")


@dataclass(frozen=True)
class ExplainLayout:
    """``<run>/explain/<split>/``: maps, tables, panels, figures and the report of one split."""

    root: Path

    config = _file("config.json", "``config.json``: the resolved explain configuration")
    table = _file("table.csv", "``table.csv``: one row per image, the spine every statistic reads")
    saliency = _file("saliency.csv")
    quality = _file("quality.csv")
    explain_info = _file("explain.json", "``explain.json``: timings and warnings of the explain step")
    maps_dir = _file("maps")
    panels_dir = _file("panels")
    figures_dir = _file("figures")
    gallery = _file("index.html")
    sanity = _file("sanity.csv")
    sanity_excluded = _file("sanity_excluded.json")
    sanity_maps = _file("sanity_maps.npz")
    faithfulness = _file("faithfulness.csv")
    faithfulness_excluded = _file("faithfulness_excluded.json")
    faithfulness_curves = _file("faithfulness_curves.npz")

    def maps(self, image_id: str) -> Path:
        """``maps/<safe name>.npz`` of one image."""
        return self.maps_dir / f"{safe_name(image_id)}.npz"

    def panel(self, image_id: str) -> Path:
        """``panels/<safe name>.png`` of one image."""
        return self.panels_dir / f"{safe_name(image_id)}.png"

    def figure(self, name: str) -> Path:
        """``figures/<name>.png``."""
        return self.figures_dir / f"{name}.png"

    def report(self, kind: str) -> Path:
        """``report.<kind>`` for kind in md, json, html."""
        if kind not in ("md", "json", "html"):
            raise ValueError(f"report kind must be md, json or html, got {kind!r}")
        return self.root / f"report.{kind}"

    @property
    def counterfactual(self) -> CounterfactualLayout:
        return CounterfactualLayout(self.root / "counterfactual")


@dataclass(frozen=True)
class RunLayout:
    """``runs/<name>/``: a trained model and everything recorded about it."""

    root: Path

    model = _file("model.pth")
    run_info = _file("run.json", "``run.json``: resolved configuration, weights provenance, device, versions")
    predictions = _file("predictions.csv")
    metrics = _file("metrics.json")

    def confusion(self, split: str) -> Path:
        """Figure 1 of one split: ``confusion_<split>.png``."""
        return self.root / f"confusion_{split}.png"

    @property
    def latest(self) -> Path:
        """``<runs>/latest``: a link (or a file naming the run) beside the run folder."""
        return self.root.parent / "latest"

    def explain(self, split: str) -> ExplainLayout:
        return ExplainLayout(self.root / "explain" / split)


def run_layout(root: str | Path) -> RunLayout:
    return RunLayout(Path(root))


def explain_layout(root: str | Path) -> ExplainLayout:
    return ExplainLayout(Path(root))
