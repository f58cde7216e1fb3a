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


@dataclass(frozen=True)
class CounterfactualLayout:
    """``<explain>/counterfactual/``: the intervention sweeps."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def per_image(self) -> Path:
        return self.root / "per_image.csv"

    @property
    def summary(self) -> Path:
        return self.root / "summary.csv"

    @property
    def comparison(self) -> Path:
        return self.root / "comparison.csv"

    @property
    def texture_shape(self) -> Path:
        return self.root / "texture_shape.csv"

    @property
    def result(self) -> Path:
        """``counterfactual.json``: every statistic and verdict of the sweeps."""
        return self.root / "counterfactual.json"

    @property
    def figures(self) -> Path:
        return self.root / "figures"


@dataclass(frozen=True)
class ExplainLayout:
    """``<run>/explain/<split>/``: maps, tables, panels, figures and the report of one split."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def table(self) -> Path:
        """``table.csv``: one row per image, the spine every statistic reads."""
        return self.root / "table.csv"

    @property
    def saliency(self) -> Path:
        return self.root / "saliency.csv"

    @property
    def quality(self) -> Path:
        return self.root / "quality.csv"

    @property
    def explain_info(self) -> Path:
        """``explain.json``: timings and warnings of the explain step."""
        return self.root / "explain.json"

    @property
    def maps_dir(self) -> Path:
        return self.root / "maps"

    def maps(self, image_id: str) -> Path:
        """``maps/<safe name>.npz`` of one image."""
        return self.maps_dir / f"{safe_name(image_id)}.npz"

    @property
    def panels_dir(self) -> Path:
        return self.root / "panels"

    def panel(self, image_id: str) -> Path:
        """``panels/<safe name>.png`` of one image."""
        return self.panels_dir / f"{safe_name(image_id)}.png"

    @property
    def figures_dir(self) -> Path:
        return self.root / "figures"

    def figure(self, name: str) -> Path:
        """``figures/<name>.png``."""
        return self.figures_dir / f"{name}.png"

    @property
    def gallery(self) -> Path:
        return self.root / "index.html"

    def report(self, kind: str) -> Path:
        """``report.<kind>`` for kind in md, json, html."""
        if kind not in ("md", "json", "html"):
            raise ValueError(f"report kind must be md, json or html, got {kind!r}")
        return self.root / f"report.{kind}"

    @property
    def sanity(self) -> Path:
        return self.root / "sanity.csv"

    @property
    def sanity_excluded(self) -> Path:
        return self.root / "sanity_excluded.json"

    @property
    def sanity_maps(self) -> Path:
        return self.root / "sanity_maps.npz"

    @property
    def faithfulness(self) -> Path:
        return self.root / "faithfulness.csv"

    @property
    def faithfulness_excluded(self) -> Path:
        return self.root / "faithfulness_excluded.json"

    @property
    def faithfulness_curves(self) -> Path:
        return self.root / "faithfulness_curves.npz"

    @property
    def counterfactual(self) -> CounterfactualLayout:
        return CounterfactualLayout(self.root / "counterfactual")


@dataclass(frozen=True)
class RunLayout:
    """``runs/<name>/``: a trained model and everything recorded about it."""

    root: Path

    @property
    def model(self) -> Path:
        return self.root / "model.pth"

    @property
    def run_info(self) -> Path:
        """``run.json``: resolved configuration, weights provenance, device, versions, timings."""
        return self.root / "run.json"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions.csv"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

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
