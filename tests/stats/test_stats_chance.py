"""A model no better than chance is called out, and the report opens with it."""

from __future__ import annotations

import numpy as np

from stats.chance import chance_check
from stats.classification import binary_metrics


def _metrics(p, y, seed=0):
    return binary_metrics(np.asarray(y), np.asarray(p, float), n_boot=100, seed=seed)


def test_constant_prediction_is_no_better_than_chance():
    y = np.array([0, 1] * 60)
    check = chance_check({"test": _metrics(np.full(120, 0.8), y)})
    assert check.no_better_than_chance
    assert any("predicts PNEUMONIA for 100%" in r for r in check.reasons)
    assert any("reaches 0.5" in r for r in check.reasons)


def test_worse_than_chance_and_a_good_model():
    y = np.array([0, 1] * 60)
    bad = chance_check({"test": _metrics(np.where(y == 1, 0.3, 0.7) + np.linspace(0, 0.01, 120), y)})
    assert bad.no_better_than_chance and "worse than chance" in bad.reasons[0]
    rng = np.random.default_rng(0)
    good_p = np.clip(0.5 + 0.3 * (y - 0.5) * 2 + rng.normal(0, 0.15, 120), 0, 1)
    good = chance_check({"valid": _metrics(np.full(16, 0.9), [0, 1] * 8), "test": _metrics(good_p, y)})
    assert good.split == "test"  # judged on the largest split
    assert not good.no_better_than_chance and good.reasons == ()


def test_report_opens_with_the_warning_and_marks_every_verdict(tmp_path):
    from figures.report import write_report
    from helpers import not_tested_analysis
    from stats.context import PerErrorContext

    y = np.array([0, 1] * 8)
    metrics = _metrics(np.full(16, 0.9), y)
    check = chance_check({"valid": metrics})
    analysis = not_tested_analysis(16, small_split_warning="SMALL SPLIT: only 16 images",
                                   claims={"blur": "blur drives FPs"})
    context = PerErrorContext({"FP vs TN": "8 FP and 0 TN: each group needs at least 2", "FN vs TP": None})
    paths = write_report(tmp_path, analysis=analysis, run_info={"config": {"arch": "resnet18"}},
                         split_metrics=metrics, figures={}, gallery=None, tables={}, title="t",
                         model_check=check, context=context)
    md = paths["md"].read_text()
    warnings = [line for line in md.splitlines() if line.startswith("> **WARNING:**")]
    assert warnings[0].startswith("> **WARNING:** MODEL NO BETTER THAN CHANCE")
    # one warning per fact: the analysis and the metrics both warn about the small split
    assert sum("SMALL SPLIT" in w or "too small to support" in w for w in warnings) == 1
    assert any("WITHIN-CLASS TESTS NOT POSSIBLE" in w for w in warnings)
    assert "[rests on a model no better than chance] blur drives FPs" in md
    html = paths["html"].read_text()
    assert html.index("MODEL NO BETTER THAN CHANCE") < html.index("Classification metrics")
