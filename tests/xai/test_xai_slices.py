"""The slice step on a fake explain folder, its CLI errors, and the intervention check with planted models."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stats"))
from test_stats_slices import synthetic_table  # noqa: E402

from data.errors import ConfigError  # noqa: E402
from data.labels import safe_name  # noqa: E402
from figures.slices import slices_sections  # noqa: E402
from xai.checks import ChecksConfig  # noqa: E402
from xai.slice_counterfactual import move_property, natural_difference, slice_counterfactual  # noqa: E402
from xai.slice_step import SlicesStepConfig, run_slices
from xai.slices import main

MEAN, STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)


class DetailReader(nn.Module):
    """P(pneumonia) falls with fine detail: logit = bias - gain * mean |Laplacian| of channel 0."""

    def __init__(self, gain: float = 40.0, bias: float = 1.0):
        super().__init__()
        kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
        self.register_buffer("kernel", kernel)
        self.gain, self.bias = gain, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        detail = torch.nn.functional.conv2d(x[:, :1], self.kernel).abs().mean(dim=(1, 2, 3))
        logit = self.bias - self.gain * detail
        return torch.stack([torch.zeros_like(logit), logit], dim=1)


class Blind(nn.Module):
    """The same output whatever the film."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([[0.0, -1.0]]).repeat(len(x), 1)


def films(n: int = 12, size: int = 64) -> np.ndarray:
    """Smooth anatomy-like shading plus fine texture, float32 in [0, 1]."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        coarse = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), 6)
        coarse = (coarse - coarse.min()) / (np.ptp(coarse) + 1e-6)
        out.append(np.clip(0.2 + 0.5 * coarse + rng.normal(0, 0.05, (size, size)), 0, 1).astype(np.float32))
    return np.stack(out)


def test_moving_detail_down_raises_p_pneumonia_for_a_detail_reader():
    images = films()
    from quality.metrics import METRICS

    before = np.array([METRICS["q_laplacian_var"](im) for im in images])
    diff = -0.5 * float(np.median(before))
    _, strengths, changes = move_property(images, "q_laplacian_var", diff)
    assert np.all(strengths > 0) and abs(np.median(changes) - diff) < 0.35 * abs(diff)
    check = slice_counterfactual(DetailReader(), images, true_class="NORMAL", rank=1, prop="q_laplacian_var",
                                 difference=diff, mean=MEAN, std=STD, n_boot=500)
    assert check.tested and check.n_images == len(images)
    assert check.mean_delta > 0 and check.delta_low > 0
    blind = slice_counterfactual(Blind(), images, true_class="NORMAL", rank=1, prop="q_laplacian_var",
                                 difference=diff, mean=MEAN, std=STD, n_boot=500)
    assert blind.mean_delta == pytest.approx(0.0, abs=1e-12) and blind.flip_rate == 0.0


def test_properties_no_intervention_can_move_are_not_tested_with_a_reason():
    images = films(4)
    more_detail = slice_counterfactual(DetailReader(), images, true_class="NORMAL", rank=1, prop="q_laplacian_var",
                                       difference=+10.0, mean=MEAN, std=STD)
    assert not more_detail.tested and "other way" in more_detail.reason
    unknown = slice_counterfactual(DetailReader(), images, true_class="NORMAL", rank=1, prop="q_entropy",
                                   difference=-1.0, mean=MEAN, std=STD)
    assert not unknown.tested and "no existing intervention" in unknown.reason
    assert natural_difference(np.array([1.0, 2, 3, 10, 11, 12]), np.array([1, 1, 1, 0, 0, 0], bool)) == -9.0


def _explain_folder(tmp_path: Path, **config) -> Path:
    out = tmp_path / "run" / "explain" / "test"
    out.mkdir(parents=True)
    (tmp_path / "run" / "run.json").write_text("{}")
    synthetic_table(7).to_csv(out / "table.csv", index=False)
    (out / "config.json").write_text(json.dumps({"limit": None, "only_errors": True, "reference": True,
                                                 "resolved_run": str(tmp_path / "run"), **config}))
    return out


def test_run_slices_writes_tables_and_a_report_section(tmp_path):
    out = _explain_folder(tmp_path)
    (out / "panels").mkdir()
    record = run_slices(out, SlicesStepConfig(counterfactual=False))
    frame = pd.read_csv(out / "slices.csv")
    assert len(frame) == len(record["candidates"]) > 0
    assert {"description", "rate_confirm_low", "lift_confirm", "p_holm", "confirmed"} <= set(frame.columns)
    halves = pd.read_csv(out / "slices_halves.csv")
    assert len(halves) == 800 and set(halves["half"]) == {"discovery", "confirmation"}
    assert json.loads((out / "slices.json").read_text())["n_confirmed"] == int(frame["confirmed"].sum()) >= 1
    confirmed = frame[frame["confirmed"]].iloc[0]
    first = confirmed["typical_errors"].split(";")[0]
    (out / "panels" / f"{first.replace('/', '__')}.png").write_bytes(b"png")
    [(title, body)] = slices_sections(out)
    assert "Error slices" in title and record["headline"][:40] in body.replace("&#x27;", "'")
    assert "Confirmed:" in body and f'href="panels/{safe_name(first)}.png"' in body
    assert (out / "figures" / "slices.png").stat().st_size > 1000


def test_nothing_confirmed_is_said_plainly(tmp_path):
    out = _explain_folder(tmp_path)
    synthetic_table(8, planted=False, base_rate=0.3).to_csv(out / "table.csv", index=False)
    record = run_slices(out, SlicesStepConfig(counterfactual=False))
    assert record["n_confirmed"] == 0 and len(record["candidates"]) > 0
    assert record["headline"].startswith("Nothing confirmed")
    [(_, body)] = slices_sections(out)
    assert "Nothing confirmed" in body and "Confirmed:" not in body


def test_cli_refuses_incomplete_or_missing_tables(tmp_path, capsys):
    out = _explain_folder(tmp_path, limit=5)
    assert main(["--run", str(tmp_path / "run"), "--split", "test", "--no-counterfactual"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "--limit 5" in err[0]
    (out / "table.csv").unlink()
    assert main(["--run", str(tmp_path / "run"), "--split", "test"]) == 2
    assert "xai.explain" in capsys.readouterr().err
    assert main(["--run", str(tmp_path / "nowhere")]) == 2


@pytest.mark.slow  # the command end to end; run_slices has the fast test above
def test_cli_writes_the_figure_and_prints_the_headline(tmp_path, capsys):
    out = _explain_folder(tmp_path)
    assert main(["--run", str(tmp_path / "run"), "--split", "test", "--no-counterfactual"]) == 0
    text = capsys.readouterr().out
    assert "confirmed" in text and (out / "figures" / "slices.png").is_file()


def test_checks_config_validates_the_slices_switch():
    with pytest.raises(ConfigError):
        ChecksConfig(slices="sometimes")
    assert ChecksConfig().any  # auto: run_checks decides by the split's size
