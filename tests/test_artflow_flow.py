"""The projection flow of ArtFlow: every layer and the whole flow invert exactly, and the
log-determinant matches the Jacobian's."""

from __future__ import annotations

import pytest
import torch

from painterly.models.artflow import (
    ActNorm,
    AdditiveCoupling,
    InvertibleConv1x1,
    ProjectionFlow,
    squeeze,
    unsqueeze,
)


def _randomise(module: torch.nn.Module, scale: float = 0.2, seed: int = 1) -> None:
    """Move every parameter by random values (the zero-initialised ones too), so that no
    layer is the identity and an inverse that ignored a parameter would show; a whole flow
    takes a smaller ``scale``, or sixteen random steps blow its values up."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
            parameter.add_(noise * (scale / 4 if "log" in name else scale))


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def test_squeeze_moves_each_two_by_two_patch_into_four_channels():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    y = squeeze(x)
    assert y.shape == (1, 4, 2, 2)
    # The top-left patch holds pixels 0, 1, 4, 5: one in each of the four channels.
    assert y[0, :, 0, 0].tolist() == [0.0, 1.0, 4.0, 5.0]
    assert torch.equal(unsqueeze(y), x)


def test_actnorm_initialises_to_zero_mean_unit_variance_per_channel():
    layer = ActNorm(3).train()
    x = torch.randn(4, 3, 8, 8) * torch.tensor([2.0, 0.5, 7.0])[:, None, None] + 3.0
    y = layer(x)
    assert bool(layer.initialised)
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-4, rtol=0)
    # Initialised once: a second batch with other statistics leaves the parameters alone.
    before = layer.log_scale.clone()
    layer(x * 10)
    assert torch.equal(layer.log_scale, before)


def test_actnorm_log_det_is_the_positions_times_the_log_scales():
    layer = ActNorm(2)
    with torch.no_grad():
        layer.log_scale.copy_(torch.tensor([0.3, -0.1]).reshape(1, 2, 1, 1))
    # Hand computation: 5 × 4 positions, each scaled by e^0.3 and e^-0.1.
    assert layer.log_det(20).item() == pytest.approx(20 * (0.3 - 0.1))


@pytest.mark.parametrize(
    "layer",
    [
        pytest.param(lambda: ActNorm(12), id="actnorm"),
        pytest.param(lambda: InvertibleConv1x1(12, torch.Generator().manual_seed(3)), id="1x1"),
        pytest.param(lambda: AdditiveCoupling(12, 16), id="coupling"),
    ],
)
def test_every_layer_inverts_exactly(layer):
    module = layer().eval()
    _randomise(module)
    x = torch.randn(2, 12, 6, 10)
    y = module(x)
    assert _relative_error(y, x) > 1e-2, "the randomised layer is not the identity"
    assert _relative_error(module.reverse(y), x) <= 1e-5


def test_inverse_1x1_convolution_starts_as_a_rotation():
    layer = InvertibleConv1x1(12, torch.Generator().manual_seed(0))
    weight = layer.weight()
    torch.testing.assert_close(weight @ weight.T, torch.eye(12), atol=1e-5, rtol=0)
    assert layer.log_det(1).abs().item() < 1e-5


def test_the_flow_maps_an_image_to_a_48_channel_quarter_size_latent_and_back():
    flow = ProjectionFlow(width=16).train()
    x = torch.rand(2, 3, 32, 24)
    flow(x)  # ActNorm's data initialisation
    flow.eval()
    _randomise(flow, 0.02)
    z = flow(x)
    assert z.shape == (2, 48, 8, 6)
    assert _relative_error(flow.reverse(z), x) <= 1e-5


def test_a_new_flow_without_data_initialisation_is_invertible_too():
    flow = ProjectionFlow(width=8).eval()
    x = torch.rand(1, 3, 16, 16)
    assert _relative_error(flow.reverse(flow(x)), x) <= 1e-5


def test_log_det_matches_the_jacobian():
    flow = ProjectionFlow(width=8, steps=2).double().eval()
    _randomise(flow)
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(flow, x).reshape(48, 48)
    _, expected = torch.linalg.slogdet(jacobian)
    assert flow.log_det(4, 4).item() == pytest.approx(expected.item(), rel=1e-9, abs=1e-9)


def test_the_seed_sets_the_rotations():
    a, b, c = ProjectionFlow(8, seed=0), ProjectionFlow(8, seed=0), ProjectionFlow(8, seed=1)
    first = a.blocks[0][0].invconv.weight()
    assert torch.equal(first, b.blocks[0][0].invconv.weight())
    assert not torch.equal(first, c.blocks[0][0].invconv.weight())


def test_the_shipped_flow_inverts_exactly_on_a_photograph(content_image):
    from painterly.io.images import to_tensor
    from painterly.models.weights import trained_file
    from painterly.train.store import load_flow

    flow = load_flow(trained_file("artflow"))
    x = to_tensor(content_image.resize((64, 48)))
    z = flow(x)
    assert z.shape == (1, 48, 12, 16)
    assert _relative_error(flow.reverse(z), x) <= 1e-5
    last = [step.coupling.net[4].weight for block in flow.blocks for step in block]
    assert all(w.abs().max() > 0 for w in last), "trained: no coupling is still at its zeros"
