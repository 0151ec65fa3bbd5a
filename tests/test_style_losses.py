"""--style-loss wasserstein and sliced: the distances against hand computations, their
gradients, their blends, and short real runs with the genuine VGG-19."""

import math

import pytest
import torch
from PIL import Image

import painterly
from painterly.commands import main
from painterly.config.options import Options
from painterly.controls.inputs import prepare_inputs
from painterly.engine import losses
from painterly.engine.objective import Objective
from painterly.engine.targets import compute_targets, slice_directions
from painterly.errors import PainterlyError
from painterly.models import load_encoder

CPU = torch.device("cpu")
LAYERS = ["conv1_1", "conv2_1"]


def _features(seed: int, channels: int = 6, side: int = 5) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, channels, side, side + 1, generator=generator, dtype=torch.float64)


def _gaussian(features: torch.Tensor) -> losses.Gaussian:
    return losses.Gaussian.from_moments(*losses.feature_moments(features))


def _slices(features: torch.Tensor, seed: int = 0) -> losses.Slices:
    directions = losses.random_directions(features.shape[1], torch.Generator().manual_seed(seed))
    return losses.Slices(directions, losses.sorted_projections(features, directions))


def _sinusoids(means: list[float], stds: list[float], positions: int = 12) -> torch.Tensor:
    """Channels μ_i + σ_i √2 cos(2π (i+1) k / M): zero-mean cosines of distinct
    frequencies are orthogonal, so the covariance is exactly diag(σ_i²)."""
    k = torch.arange(positions, dtype=torch.float64)
    rows = [
        m + s * math.sqrt(2) * torch.cos(2 * math.pi * (i + 1) * k / positions)
        for i, (m, s) in enumerate(zip(means, stds, strict=True))
    ]
    return torch.stack(rows).reshape(1, len(means), 3, positions // 3)


def test_wasserstein_is_zero_for_identical_features():
    f = _features(0).float()
    assert abs(losses.wasserstein_layer_loss(f, _gaussian(f)).item()) < 1e-5
    assert losses.wasserstein_layer_loss(f, _gaussian(_features(1).float())).item() > 1e-3


def test_wasserstein_equals_the_closed_form_for_diagonal_covariances():
    mu, sigma = [0.5, 1.0, 2.0], [0.3, 1.5, 0.7]
    nu, tau = [1.0, 0.2, 2.5], [1.1, 0.4, 0.7]
    loss = losses.wasserstein_layer_loss(_sinusoids(mu, sigma), _gaussian(_sinusoids(nu, tau)))
    # W2² of diagonal Gaussians: Σ (μ_i − ν_i)² + Σ (√a_i − √b_i)², both variances ridged.
    eps = losses.COVARIANCE_EPS
    expected = sum((m - n) ** 2 for m, n in zip(mu, nu, strict=True)) + sum(
        (math.sqrt(s * s + eps) - math.sqrt(t * t + eps)) ** 2
        for s, t in zip(sigma, tau, strict=True)
    )
    assert loss.item() == pytest.approx(expected / 3, rel=1e-6)


def test_trace_sqrtm_has_the_gradient_of_its_definition():
    a = torch.randn(5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    spd = (a @ a.T + 0.5 * torch.eye(5, dtype=torch.float64)).requires_grad_()
    assert losses.trace_sqrtm(spd).item() == pytest.approx(
        torch.linalg.eigvalsh(spd).sqrt().sum().item()
    )
    # Perturb symmetrically, as covariances only ever move.
    assert torch.autograd.gradcheck(lambda m: losses.trace_sqrtm(0.5 * (m + m.T)), (spd,))


def test_sliced_ignores_where_the_features_are():
    f = _features(0).float()
    order = torch.randperm(30, generator=torch.Generator().manual_seed(1))
    shuffled = f.reshape(1, 6, 30)[..., order].reshape(f.shape)
    assert not torch.equal(shuffled, f)
    assert losses.sliced_layer_loss(shuffled, _slices(f)).item() == pytest.approx(0, abs=1e-10)
    assert losses.sliced_layer_loss(_features(1).float(), _slices(f)).item() > 1e-3


def test_sliced_compares_a_smaller_style_quantile_by_quantile():
    # Each of the style's positions repeated 4 times has the same distribution; the
    # resampled quantiles must see almost no difference (interpolation only).
    f = _features(0).float()
    repeated = f.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    target = _slices(f)
    resampled = losses.Slices(
        target.directions, losses.resample_quantiles(target.sorted, repeated[0, 0].numel())
    )
    near = losses.sliced_layer_loss(repeated, resampled).item()
    other = losses.sliced_layer_loss(_features(1).float().repeat(1, 1, 2, 2), resampled).item()
    assert near < 0.05 * other


@pytest.mark.parametrize("loss", ["wasserstein", "sliced"])
def test_gradients_are_finite_even_with_a_channel_that_never_fires(loss):
    style, output = _features(0).float(), _features(1).float()
    style[:, 2] = 0  # a dead ReLU channel: Σ_s is singular without the ridge
    output[:, 2] = 0
    target = _gaussian(style) if loss == "wasserstein" else _slices(style)
    output.requires_grad_()
    losses.DISTRIBUTION_LOSSES[loss].layer_loss(output, target).backward()
    assert torch.isfinite(output.grad).all()
    assert output.grad.abs().sum() > 0


@pytest.mark.parametrize("loss", ["wasserstein", "sliced"])
def test_losses_of_bf16_features_are_float32(loss):
    style, output = _features(0).float(), _features(1).float()
    target = _gaussian(style) if loss == "wasserstein" else _slices(style)
    layer_loss = losses.DISTRIBUTION_LOSSES[loss].layer_loss
    low = layer_loss(output.bfloat16(), target)
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(layer_loss(output.bfloat16().float(), target).item())


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("vgg19-normalized", "avg", "zeros", "conv2_1", CPU)


def _targets(encoder, content, styles, loss, blend=(), seed=0):
    inputs = prepare_inputs(content, styles, Options.build(style_blend=blend))
    # Each style at its own working size; the style image at a size of its own.
    sizes = [(48, 30) if style.size == (96, 60) else (40, 50) for style in styles]
    return compute_targets(
        encoder, inputs, (64, 48), sizes, [], LAYERS, CPU, torch.float32, style_loss=loss,
        seed=seed,
    )  # fmt: skip


def test_blending_a_style_with_itself_is_that_style(
    encoder, content_image, style_image, one_thread
):
    for loss in ("wasserstein", "sliced"):
        one = _targets(encoder, content_image, [style_image], loss).styles[0].distributions
        two = _targets(encoder, content_image, [style_image, style_image], loss, "1,1")
        for layer in LAYERS:
            for name in ("mean", "cov", "cov_sqrt") if loss == "wasserstein" else ("sorted",):
                torch.testing.assert_close(
                    getattr(two.styles[0].distributions[layer], name),
                    getattr(one[layer], name),
                    rtol=1e-4,
                    atol=1e-5,
                )


def test_blends_mix_the_moments_and_the_quantile_functions(
    encoder, content_image, style_image, one_thread
):
    other = Image.open("examples/the_scream.jpg").convert("RGB").resize((60, 76))
    for loss in ("wasserstein", "sliced"):
        a = _targets(encoder, content_image, [style_image], loss).styles[0].distributions
        b = _targets(encoder, content_image, [other, style_image], loss, "1,0").styles[0]
        mixed = _targets(encoder, content_image, [style_image, other], loss, "7,3").styles[0]
        for layer in LAYERS:
            pa, pb, pm = a[layer], b.distributions[layer], mixed.distributions[layer]
            if loss == "sliced":
                torch.testing.assert_close(pm.sorted, 0.7 * pa.sorted + 0.3 * pb.sorted)
                assert torch.all(pm.sorted.diff(dim=-1) >= 0), "a blend of quantiles is one"
            else:
                torch.testing.assert_close(pm.mean, 0.7 * pa.mean + 0.3 * pb.mean)
                # The blended covariance is not the blend of covariances: it adds the spread
                # of the two means, as the mixture of the two distributions has it.
                spread = 0.21 * torch.outer(pa.mean[0] - pb.mean[0], pa.mean[0] - pb.mean[0])
                torch.testing.assert_close(
                    pm.cov, 0.7 * pa.cov + 0.3 * pb.cov + spread, rtol=1e-4, atol=1e-4
                )


def test_sliced_directions_come_from_the_seed_and_change_with_the_stage():
    first = slice_directions(LAYERS, 7, (64, 48), CPU)
    torch.testing.assert_close(first, slice_directions(LAYERS, 7, (64, 48), CPU))
    assert not torch.allclose(
        first["conv2_1"], slice_directions(LAYERS, 8, (64, 48), CPU)["conv2_1"]
    )
    assert not torch.allclose(
        first["conv2_1"], slice_directions(LAYERS, 7, (32, 24), CPU)["conv2_1"]
    )
    assert first["conv2_1"].shape == (128, 128)
    torch.testing.assert_close(first["conv1_1"].norm(dim=0), torch.ones(64))


def test_an_objective_refuses_targets_of_another_style_loss(encoder, content_image, style_image):
    targets = _targets(encoder, content_image, [style_image], "gram")
    options = Options(style_loss="sliced", style_layers=LAYERS, content_layers={})
    objective = Objective(encoder, targets, options, torch.float32)
    with pytest.raises(ValueError, match="computed for style loss gram"):
        objective(torch.rand(1, 3, 48, 64))


@pytest.mark.parametrize("loss", ["wasserstein", "sliced"])
def test_a_short_real_run_lowers_its_loss(loss, content_image, style_image, one_thread):
    seen = []
    options = Options(size=64, iterations=10, style_loss=loss)
    result = painterly.run(content_image, style_image, options, seen.append)
    assert len(seen) == 10
    first, last = seen[0].losses, result.losses
    assert last["total"] < 0.7 * first["total"]
    assert last["style"] < first["style"]


def test_strength_pilots_a_distribution_loss(content_image, style_image, one_thread):
    options = Options(size=32, iterations=3, strength=0.5, style_loss="wasserstein")
    result = painterly.run(content_image, style_image, options)
    assert result.options.style_loss == "wasserstein"
    assert result.options.strength == 0.5
    # The pilots chose a balance of their own, not the default α/β = 1e-3.
    assert result.options.ratio != pytest.approx(1e-3)
    assert result.image.size == (32, 24)


def test_an_unknown_style_loss_is_one_sentence():
    with pytest.raises(PainterlyError) as refused:
        Options(style_loss="earth-mover")
    assert str(refused.value) == (
        "style loss must be one of gram, wasserstein, sliced, not 'earth-mover'"
    )
    assert Options(style_loss=" Sliced ").style_loss == "sliced"


def test_masks_with_a_distribution_loss_are_refused_in_one_sentence(capsys, image_files, tmp_path):
    content, style = image_files
    code = main([str(content), str(style), "-o", str(tmp_path / "r.png"), "--mask",
                 f"{content}:{style}", "--style-loss", "sliced"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("painterly: error: --mask regions")
    assert "--style-loss sliced" in err and len(err.splitlines()) == 1
    assert err.count(". ") == 0
    assert not (tmp_path / "r.png").exists()
