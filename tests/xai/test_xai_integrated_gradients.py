"""Integrated Gradients: exactness, completeness, adaptive node placement, the cap flag, determinism, Captum."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients
from torch import nn

from data.errors import ConfigError
from xai.integrated_gradients import (KINK_MARGIN, IGResult, _Path, _Segments, black_baseline, blur_baseline,
                                      integrated_gradients, make_baseline, split_points)
from xai.models_util import IMAGENET_MEAN, IMAGENET_STD


class KinkModel(nn.Module):
    """Piecewise-linear ReLU net of the mean pixel s: f = s + k (relu(s - c) - relu(s - c - w)); logits (-f, f).

    From a zero baseline to a constant image of value 1, s = alpha along the path,
    so F(alpha) rises with slope 1 except on the narrow interval [c, c + w], where
    the slope is 1 + k: the whole difficulty of the integral sits there.
    F(1) - F(0) = 1 + k w.
    """

    def __init__(self, c: float = 0.3712, w: float = 0.004, k: float = 250.0) -> None:
        super().__init__()
        self.c, self.w, self.k = c, w, k

    def g(self, s: torch.Tensor) -> torch.Tensor:
        """F along the path as a function of the mean pixel s (slope 1, and 1 + k on [c, c + w])."""
        return s + self.k * (torch.relu(s - self.c) - torch.relu(s - self.c - self.w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.g(x.mean(dim=(1, 2, 3)))
        return torch.stack([-f, f], dim=1)


def _ones(n: int = 1) -> torch.Tensor:
    return torch.ones(n, 3, 8, 8)


def _uniform(model, x, base, steps: int) -> IGResult:
    """The toolkit's trapezoid rule with a fixed uniform grid of ``steps`` segments."""
    return integrated_gradients(model, x, 1, baseline=base, tol=1e9, start_steps=steps, max_steps=steps)


def _completeness(model, x, base, targets, attributions) -> np.ndarray:
    """Relative completeness error recomputed independently from the maps."""
    with torch.no_grad():
        scores = (model(x) - model(base.expand_as(x)))[torch.arange(len(x)), torch.as_tensor(targets)].double()
    sums = torch.as_tensor(attributions).double().flatten(1).sum(1)
    return ((sums - scores).abs() / scores.abs().clamp_min(0.1)).numpy()


def test_black_baseline_is_black_in_pixel_space():
    x = torch.randn(2, 3, 16, 16)
    base = black_baseline(x, IMAGENET_MEAN, IMAGENET_STD)
    assert base.shape == x.shape and base.dtype == x.dtype
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    pixels = base * std + mean
    assert torch.allclose(pixels, torch.zeros_like(pixels), atol=1e-6)
    # A zero tensor in normalised space is mean-grey, not black.
    assert not torch.allclose(base, torch.zeros_like(base))
    assert black_baseline(x[0]).shape == (3, 16, 16)


def test_black_baseline_rejects_wrong_channel_count():
    with pytest.raises(ConfigError, match="3 values"):
        black_baseline(torch.zeros(1, 3, 8, 8), mean=(0.5,), std=(0.5,))


def test_blur_baseline_keeps_constants_and_removes_fine_structure():
    torch.manual_seed(0)
    const = torch.full((1, 3, 32, 32), 0.7)
    assert torch.allclose(blur_baseline(const), const, atol=1e-6)
    x = torch.randn(2, 3, 32, 32)
    blurred = blur_baseline(x, sigma=2.0)
    assert blurred.shape == x.shape and blurred.dtype == x.dtype
    # Blur only mixes pixels within a channel and image, keeps each mean, and shrinks pixel noise.
    torch.testing.assert_close(blurred.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=1e-5, rtol=0)
    assert blurred.std() < 0.3 * x.std()
    swapped = blur_baseline(x.flip(0), sigma=2.0)
    torch.testing.assert_close(swapped, blurred.flip(0))


def test_make_baseline_by_name():
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(make_baseline("black", x), black_baseline(x))
    torch.testing.assert_close(make_baseline("blur", x), blur_baseline(x))
    with pytest.raises(ConfigError, match="black, blur"):
        make_baseline("grey", x)
    with pytest.raises(ConfigError, match="sigma"):
        blur_baseline(x, sigma=0)


def test_linear_model_attributions_are_exact():
    """For f(x) = w . x, IG = w * (x - b), reached by the first uniform grid."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 6, 2)).eval()
    x = torch.randn(2, 3, 6, 6)
    base = black_baseline(x)
    result = integrated_gradients(model, x, 1, baseline=base, sum_channels=False, start_steps=4)
    assert isinstance(result, IGResult)
    w = model[1].weight[1].detach().view(3, 6, 6)
    expected = (w * (x - base)).numpy()
    np.testing.assert_allclose(result.attributions, expected, rtol=1e-4, atol=1e-5)
    assert result.evaluations.tolist() == [5, 5]  # start grid only: 4 segments, 5 nodes
    assert np.all(result.completeness_error < 1e-5) and result.converged.all()


def test_completeness_on_tiny_cnn(tiny_cnn, tiny_batch):
    x_before = tiny_batch.clone()
    base = black_baseline(tiny_batch)
    res = integrated_gradients(tiny_cnn, tiny_batch, [0, 1, 1], baseline=base)
    assert torch.equal(tiny_batch, x_before)
    assert res.attributions.shape == (3, 32, 32) and res.attributions.dtype == np.float32
    assert res.completeness_error.shape == (3,) and res.evaluations.dtype == np.int64
    assert res.converged.dtype == bool and res.converged.all()
    assert np.all(res.completeness_error <= 0.01)
    independent = _completeness(tiny_cnn, tiny_batch, base, [0, 1, 1], res.attributions)
    np.testing.assert_allclose(independent, res.completeness_error, atol=1e-5)


def test_agrees_with_captum_where_both_converge(tiny_cnn, tiny_batch):
    """Captum's IntegratedGradients (Gauss-Legendre, 256 steps) is the reference.

    Completeness bounds the error of the *sum* of the map; per pixel the two
    quadratures agree to a few percent of the map's largest magnitude.
    """
    base = black_baseline(tiny_batch)
    targets = [0, 1, 1]
    ours = integrated_gradients(tiny_cnn, tiny_batch, targets, baseline=base, tol=1e-4, max_steps=1024)
    ref, delta = IntegratedGradients(tiny_cnn).attribute(tiny_batch, baselines=base, target=targets, n_steps=256,
                                                          return_convergence_delta=True)
    assert ours.converged.all()
    assert np.all(_completeness(tiny_cnn, tiny_batch, base, targets, ref.sum(1).detach().numpy()) < 1e-3)
    ref = ref.sum(1).detach().numpy()
    scale = np.abs(ref).max(axis=(1, 2), keepdims=True)
    assert np.all(np.abs(ours.attributions - ref) <= 0.05 * scale)
    corr = [np.corrcoef(o.ravel(), r.ravel())[0, 1] for o, r in zip(ours.attributions, ref)]
    assert min(corr) > 0.995


def test_kink_gets_the_nodes_and_beats_uniform_rules():
    model, x, base = KinkModel(), _ones(), torch.zeros(3, 8, 8)
    res = integrated_gradients(model, x, 1, baseline=base, tol=0.01, start_steps=16, max_steps=512)
    assert res.converged[0] and res.completeness_error[0] <= 0.01
    assert np.all(_completeness(model, x, base, [1], res.attributions) <= 0.01)
    nodes = res.nodes[0]
    assert nodes.size == res.evaluations[0] and nodes[0] == 0.0 and nodes[-1] == 1.0
    added = np.setdiff1d(nodes, np.linspace(0, 1, 17))
    near = (added > model.c - 1 / 16) & (added < model.c + model.w + 1 / 16)
    assert added.size > 0 and near.all()  # every refinement went to the segment holding the kink
    assert ((nodes >= model.c - 0.01) & (nodes <= model.c + model.w + 0.01)).sum() >= 6
    # Uniform rules with the same number of evaluations or many more miss the tolerance.
    n_eval = int(res.evaluations[0])
    for steps in (n_eval - 1, 128, 256, 512):
        uniform = _uniform(model, x, base, steps)
        assert uniform.completeness_error[0] > 0.01, steps
    for steps in (n_eval, 256, 512):
        ref, delta = IntegratedGradients(model).attribute(x, baselines=base[None], target=1, n_steps=steps,
                                                          return_convergence_delta=True)
        assert abs(float(delta)) / (1 + model.k * model.w) > 0.01, steps


def test_split_at_the_estimated_kink_recovers_a_single_kink():
    """F' = s_a on [a, c), s_b on (c, b]: the split point is c (within the margin), else the midpoint."""
    rng = np.random.default_rng(0)
    a, b = np.sort(rng.uniform(0, 1, (2, 200)), axis=0)
    keep = b - a > 1e-3
    a, b = a[keep], b[keep]
    c = a + rng.uniform(KINK_MARGIN, 1 - KINK_MARGIN, a.size) * (b - a)
    sa, sb = rng.normal(0, 5, (2, a.size))
    rise = sa * (c - a) + sb * (b - c)
    residual = rise - (b - a) * (sa + sb) / 2
    np.testing.assert_allclose(split_points(_Segments(a, b, sa, sb, residual)), c, rtol=0, atol=1e-9)
    # Equal end slopes (no single jump explains the residual) or an estimate outside: the midpoint.
    flat = split_points(_Segments(a, b, sa, sa, residual))
    np.testing.assert_allclose(flat, (a + b) / 2)
    outside = split_points(_Segments(a, b, sa, sb, 10 * np.abs(sa - sb) * (b - a) * np.sign(sa - sb)))
    np.testing.assert_allclose(outside, (a + b) / 2)
    # Close to an end: kept KINK_MARGIN of the length inside.
    near = split_points(_Segments(np.array([0.0]), np.array([1.0]), np.array([1.0]), np.array([0.0]),
                                  np.array([0.499])))
    assert near[0] == pytest.approx(1 - KINK_MARGIN)


def test_kink_split_needs_fewer_evaluations_than_bisection():
    model, x, base = KinkModel(), _ones(), torch.zeros(3, 8, 8)
    kink = integrated_gradients(model, x, 1, baseline=base, tol=0.01, split="kink")
    bisect = integrated_gradients(model, x, 1, baseline=base, tol=0.01, split="midpoint")
    assert kink.converged[0] and bisect.converged[0]
    assert kink.evaluations[0] < bisect.evaluations[0]
    with pytest.raises(ConfigError, match="split"):
        integrated_gradients(model, x, 1, baseline=base, split="golden")


def test_cap_reached_is_flagged_and_maps_are_the_finest_run():
    model, x, base = KinkModel(), _ones(2), torch.zeros(3, 8, 8)
    x[0] = 0.2  # easy: s stays below the kink, F is linear
    # One refinement round: the kink's segment (two kinks, equal end slopes) is split once, at its midpoint.
    capped = integrated_gradients(model, x, 1, baseline=base, tol=0.01, start_steps=16, max_steps=17)
    assert capped.converged.tolist() == [True, False]
    assert capped.completeness_error[1] > 0.01
    assert capped.evaluations.tolist() == [17, 18]  # the hard image used its whole cap, no more
    # The maps returned are those of all 18 nodes, not of a coarser pass with a luckier error.
    finest = integrated_gradients(model, x[1:], 1, baseline=base, tol=1e-9, start_steps=16, max_steps=17)
    np.testing.assert_array_equal(finest.nodes[0], capped.nodes[1])
    np.testing.assert_allclose(capped.attributions[1], finest.attributions[0], rtol=1e-6)
    independent = _completeness(model, x, base, [1, 1], capped.attributions)
    np.testing.assert_allclose(independent, capped.completeness_error, rtol=1e-4, atol=1e-6)
    # Downstream, the flag as written to saliency.csv excludes the capped image's IG summaries.
    import io

    import pandas as pd

    from xai.exclusions import blank_unconverged_ig, ig_not_converged

    table = pd.DataFrame({"image_id": ["easy", "hard"], "ig_converged": capped.converged,
                          "ig_completeness_error": capped.completeness_error, "ig_lung_share": [0.5, 0.7]})
    assert ig_not_converged(table, tol=0.01).tolist() == [False, True]
    assert ig_not_converged(pd.read_csv(io.StringIO(table.to_csv(index=False))), 0.01).tolist() == [
        False, True]
    blanked = blank_unconverged_ig(table, tol=0.01)
    assert blanked["ig_lung_share"].isna().tolist() == [False, True]


def test_deterministic_and_independent_of_batch_companions(tiny_cnn, tiny_batch):
    base = black_baseline(tiny_batch)
    kw = dict(baseline=base, tol=1e-3, batch_size=5)
    first = integrated_gradients(tiny_cnn, tiny_batch, [0, 1, 1], **kw)
    second = integrated_gradients(tiny_cnn, tiny_batch, [0, 1, 1], **kw)
    np.testing.assert_array_equal(first.attributions, second.attributions)
    np.testing.assert_array_equal(first.completeness_error, second.completeness_error)
    for a, b in zip(first.nodes, second.nodes):
        np.testing.assert_array_equal(a, b)
    alone = integrated_gradients(tiny_cnn, tiny_batch[2:], 1, baseline=base[2:], tol=1e-3, batch_size=5)
    np.testing.assert_array_equal(alone.nodes[0], first.nodes[2])
    np.testing.assert_allclose(alone.attributions[0], first.attributions[2], rtol=1e-4, atol=1e-7)


def test_maps_are_bit_identical_whichever_images_share_the_call():
    """A real backbone picks kernels by batch size; the padded batches keep an image's maps bit-identical."""
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=2).eval()
    x = torch.randn(3, 3, 64, 64)
    base = black_baseline(x)
    kw = dict(tol=1e-2, batch_size=8, max_steps=64)
    together = integrated_gradients(model, x, [0, 1, 1], baseline=base, **kw)
    alone = integrated_gradients(model, x[2:], 1, baseline=base[2:], **kw)
    np.testing.assert_array_equal(alone.nodes[0], together.nodes[2])
    np.testing.assert_array_equal(alone.attributions[0], together.attributions[2])
    np.testing.assert_array_equal(alone.completeness_error[0], together.completeness_error[2])


class _RowRecorder(nn.Module):
    """Wraps a model and keeps every input row it is asked to evaluate."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.rows = model, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += [r.detach().clone() for r in x]
        return self.model(x)


def test_a_common_baseline_is_evaluated_once_per_target_with_the_same_maps(tiny_cnn, tiny_batch, monkeypatch):
    """Black is one point for every image: one pass per target class there, and not a bit of any map changes."""
    import xai.integrated_gradients as ig

    base = black_baseline(tiny_batch)
    kw = dict(baseline=base, tol=1e-3, batch_size=1)
    shared_model = _RowRecorder(tiny_cnn)
    shared = integrated_gradients(shared_model, tiny_batch, [0, 1, 1], **kw)
    monkeypatch.setattr(ig, "_shared_starts", lambda base, targets: {})
    own_model = _RowRecorder(tiny_cnn)
    own = integrated_gradients(own_model, tiny_batch, [0, 1, 1], **kw)

    def at_baseline(rows):
        return sum(torch.equal(r, base[0]) for r in rows)

    assert at_baseline(own_model.rows) == 3 and at_baseline(shared_model.rows) == 2  # targets 0 and 1
    assert len(shared_model.rows) == len(own_model.rows) - 1
    np.testing.assert_array_equal(shared.attributions, own.attributions)
    np.testing.assert_array_equal(shared.completeness_error, own.completeness_error)
    np.testing.assert_array_equal(shared.evaluations, own.evaluations)
    monkeypatch.undo()  # a baseline of its own per image (blur) is not shared
    blurred_model = _RowRecorder(tiny_cnn)
    integrated_gradients(blurred_model, tiny_batch, [0, 1, 1], baseline=blur_baseline(tiny_batch), tol=1e9,
                         start_steps=2, max_steps=2, batch_size=1)
    assert len(blurred_model.rows) == 9


def test_equal_scores_give_finite_error():
    """f(x) == f(baseline): the error falls back to |delta| / min_denominator."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).eval()
    x = torch.randn(1, 3, 4, 4)
    result = integrated_gradients(model, x, 0, baseline=x.clone())
    assert np.isfinite(result.completeness_error).all()
    assert result.completeness_error[0] < 1e-4
    np.testing.assert_allclose(result.attributions, 0.0, atol=1e-7)


def test_empty_batch():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).eval()
    res = integrated_gradients(model, torch.zeros(0, 3, 4, 4), 1, baseline=torch.zeros(3, 4, 4))
    assert res.attributions.shape == (0, 4, 4) and res.evaluations.shape == (0,)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tol": 0}, "tol"),
        ({"start_steps": 0}, "start_steps"),
        ({"start_steps": 64, "max_steps": 32}, "start_steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"min_denominator": 0}, "min_denominator"),
    ],
)
def test_bad_parameters_raise_config_error(tiny_cnn, tiny_batch, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        integrated_gradients(tiny_cnn, tiny_batch, 1, baseline=black_baseline(tiny_batch), **kwargs)


def test_bad_targets_and_baseline_raise(tiny_cnn, tiny_batch):
    base = black_baseline(tiny_batch)
    with pytest.raises(ConfigError, match="out of range"):
        integrated_gradients(tiny_cnn, tiny_batch, 2, baseline=base)
    with pytest.raises(ConfigError, match="targets"):
        integrated_gradients(tiny_cnn, tiny_batch, [0, 1], baseline=base)
    with pytest.raises(ConfigError, match="baseline shape"):
        integrated_gradients(tiny_cnn, tiny_batch, 1, baseline=base[:, :, :16])


class SmoothModel(nn.Module):
    """A smooth (tanh) scorer: its IG integrand is smooth along the path, so quadrature converges."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(4)
        self.w = nn.Parameter(torch.randn(5, 3 * 8 * 8, generator=gen) * 0.4, requires_grad=False)
        self.v = nn.Parameter(torch.randn(5, generator=gen) * 2, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = torch.tanh(x.flatten(1) @ self.w.T) @ self.v
        return torch.stack([-f, f], dim=1)


def test_half_rule_change_is_zero_when_exact_and_tracks_the_per_pixel_error():
    """Linear: every rule is exact, the estimate is 0. Smooth: it shrinks with nodes and is above the true error."""
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    base = torch.zeros_like(x)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2)).eval()
    assert _uniform(linear, x, base, 8).half_rule_change[0] < 1e-6
    model = SmoothModel().eval()
    reference = _uniform(model, x, base, 1024).attributions[0].astype(np.float64)
    changes = []
    for steps in (4, 8, 16):
        result = _uniform(model, x, base, steps)
        true_error = np.linalg.norm(result.attributions[0] - reference) / np.linalg.norm(reference)
        assert true_error <= result.half_rule_change[0]
        changes.append(result.half_rule_change[0])
    assert changes[0] > changes[1] > changes[2] > 0


def _path(alphas, maps) -> _Path:
    path = _Path()
    for a, g in zip(alphas, maps):
        path.add(float(a), 0.0, 0.0, np.asarray(g, dtype=np.float32))
    return path


def test_map_bends_vanish_where_the_map_is_linear_and_are_the_half_rule_terms():
    rng = np.random.default_rng(0)
    g0, slope, kick = rng.normal(size=(3, 4, 4))
    alphas = [0.0, 0.3, 0.5, 1.0]
    linear = _path(alphas, [g0 + a * slope for a in alphas])
    assert np.allclose(linear.map_bends(), 0.0, atol=1e-5)  # the trapezoid rule is exact there
    # one node off the line by `kick`: the two segments at its ends get (h1 + h2) / 2 * ||kick||
    bent = _path(alphas, [g0 + a * slope + (kick if a == 0.3 else 0) for a in alphas])
    bends = bent.map_bends()
    assert bends[0] == pytest.approx(0.25 * np.linalg.norm(kick), rel=1e-5) and bends[1] == bends[0]
    # with three nodes the half rule drops the middle one: its change is that node's term exactly
    three = _path([0.0, 0.4, 1.0], [g0, g0 + kick, g0])
    change = np.linalg.norm(three.attributions() - three.attributions(every_other=True).astype(np.float64))
    assert three.map_bends()[0] == pytest.approx(change, rel=1e-5)


class CancellingModel(nn.Module):
    """f = g(left-half mean) - g(right-half mean), g the narrow kink of :class:`KinkModel`.

    From a zero baseline to a constant image both halves follow the same path, so
    F(alpha) = 0 and every quadrature rule sums to exactly 0: completeness holds at
    any node count while the left half's attributions should sum to g(1) - g(0) =
    1 + k w and the right half's to -(1 + k w). Only a per-pixel check sees the
    difference between a coarse map and the right one.
    """

    def __init__(self) -> None:
        super().__init__()
        self.kink = KinkModel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        f = self.kink.g(x[..., :half].mean(dim=(1, 2, 3))) - self.kink.g(x[..., half:].mean(dim=(1, 2, 3)))
        return torch.stack([-f, f], dim=1)


def test_completeness_by_cancellation_is_caught_by_the_per_pixel_tolerance():
    model, x, base = CancellingModel(), _ones(), torch.zeros(3, 8, 8)
    exact = 1 + model.kink.k * model.kink.w

    def left_sum(res: IGResult) -> float:
        return float(res.attributions[0][:, :4].sum())

    sum_only = integrated_gradients(model, x, 1, baseline=base, tol=0.01)
    assert sum_only.converged[0] and sum_only.completeness_error[0] < 1e-6
    assert sum_only.evaluations[0] == 9  # stopped at the first check...
    assert abs(left_sum(sum_only) - exact) / exact > 0.5  # ...with each half's map far off
    assert sum_only.half_rule_change[0] > 0.5  # the per-pixel estimate says so

    pixels = integrated_gradients(model, x, 1, baseline=base, tol=0.01, pixel_tol=0.01)
    assert pixels.converged[0] and pixels.half_rule_change[0] <= 0.01
    assert pixels.completeness_error[0] <= 0.01
    assert abs(left_sum(pixels) - exact) / exact <= 0.02
    assert abs(float(pixels.attributions[0][:, 4:].sum()) + exact) / exact <= 0.02
    # The nodes went to the kink, not everywhere.
    added = np.setdiff1d(pixels.nodes[0], np.linspace(0, 1, 9))
    assert added.size > 0 and np.mean(np.abs(added - model.kink.c) < 1 / 8) > 0.9
    assert pixels.evaluations[0] < 129


def test_per_pixel_tolerance_missed_at_the_cap_is_flagged():
    model, x, base = CancellingModel(), _ones(), torch.zeros(3, 8, 8)
    capped = integrated_gradients(model, x, 1, baseline=base, tol=0.01, pixel_tol=1e-4, max_steps=24)
    assert capped.completeness_error[0] <= 0.01 and capped.half_rule_change[0] > 1e-4
    assert not capped.converged[0] and capped.evaluations[0] == 25
    with pytest.raises(ConfigError, match="pixel_tol"):
        integrated_gradients(model, x, 1, baseline=base, pixel_tol=0.0)


def test_per_pixel_tolerance_on_a_smooth_model_bounds_the_true_error():
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    base = torch.zeros_like(x)
    model = SmoothModel().eval()
    reference = _uniform(model, x, base, 1024).attributions.astype(np.float64)
    res = integrated_gradients(model, x, 1, baseline=base, tol=0.01, pixel_tol=0.02)
    assert res.converged.all() and (res.half_rule_change <= 0.02).all()
    for i in range(2):
        true_error = np.linalg.norm(res.attributions[i] - reference[i]) / np.linalg.norm(reference[i])
        assert true_error <= 0.02
    again = integrated_gradients(model, x, 1, baseline=base, tol=0.01, pixel_tol=0.02)
    np.testing.assert_array_equal(again.attributions, res.attributions)
