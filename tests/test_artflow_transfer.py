"""ArtFlow's transfer in the flow's latent: the style's statistics arrive, the content's own
statistics give the content back, strength and blends act in the latent."""

from __future__ import annotations

import pytest
import torch

from painterly.methods.adain import mean_std
from painterly.methods.artflow import TRANSFORMS, crop_to_stride, transfer
from painterly.methods.wct import covariance
from painterly.models.artflow import ProjectionFlow


@pytest.fixture(scope="module")
def flow() -> ProjectionFlow:
    """A small flow with every coupling active and ActNorm initialised on images."""
    flow = ProjectionFlow(width=8, seed=2).train()
    flow(torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for step in (s for block in flow.blocks for s in block):
            last = step.coupling.net[4]
            last.weight.normal_(std=0.02, generator=generator)
    return flow.eval()


def _image(seed: int, low: float, high: float, h: int = 16, w: int = 16) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 3, h // 4, w // 4, generator=generator)
    smooth = torch.nn.functional.interpolate(noise, size=(h, w), mode="bilinear")
    return low + (high - low) * smooth


def test_adain_in_the_latent_gives_the_output_the_styles_latent_statistics(flow):
    content, style = _image(0, 0.35, 0.55), _image(1, 0.45, 0.65)
    out = transfer(flow, content, [(style, 1.0)], TRANSFORMS["adain"], 1.0)
    assert out.min() > 0.0 and out.max() < 1.0, "clamping would change the statistics"
    with torch.no_grad():
        mean, std = mean_std(flow(out))
        style_mean, style_std = mean_std(flow(style))
        content_mean, _ = mean_std(flow(content))
    torch.testing.assert_close(mean, style_mean, atol=1e-4, rtol=0)
    torch.testing.assert_close(std, style_std, atol=1e-4, rtol=1e-3)
    assert (content_mean - style_mean).abs().max() > 1e-2, "the test's images must differ"


def test_wct_in_the_latent_gives_the_output_the_styles_latent_covariance(flow):
    content, style = _image(2, 0.35, 0.55, 32, 32), _image(3, 0.45, 0.65, 32, 32)
    out = transfer(flow, content, [(style, 1.0)], TRANSFORMS["wct"], 1.0)
    assert out.min() > 0.0 and out.max() < 1.0
    with torch.no_grad():
        _, cov = covariance(flow(out)[0])
        _, style_cov = covariance(flow(style)[0])
    # 48 channels over 8 × 8 positions: the covariance has rank at most 63, which WCT keeps.
    assert torch.linalg.norm(cov - style_cov) / torch.linalg.norm(style_cov) < 1e-3


@pytest.mark.parametrize("name", ["adain", "wct"])
def test_the_contents_own_statistics_give_the_content_back(flow, name):
    content = _image(4, 0.2, 0.8)
    out = transfer(flow, content, [(content, 1.0)], TRANSFORMS[name], 1.0)
    torch.testing.assert_close(out, content, atol=2e-4, rtol=0)


def test_strength_zero_is_the_content_exactly_and_one_the_full_transfer(flow):
    content, style = _image(5, 0.3, 0.6), _image(6, 0.4, 0.7)
    adain = TRANSFORMS["adain"]
    assert (transfer(flow, content, [(style, 1.0)], adain, 0.0) - content).abs().max() < 1e-5
    full = transfer(flow, content, [(style, 1.0)], adain, 1.0)
    assert (full - content).abs().max() > 1e-2


def test_styles_are_blended_in_the_latent(flow):
    content, a, b = _image(7, 0.3, 0.6), _image(8, 0.4, 0.7), _image(9, 0.2, 0.5)
    adain = TRANSFORMS["adain"]
    blended = transfer(flow, content, [(a, 0.5), (b, 0.5)], adain, 1.0)
    with torch.no_grad():
        latent = flow(content)
        mixed = 0.5 * adain(latent, flow(a)) + 0.5 * adain(latent, flow(b))
        expected = flow.reverse(mixed).clamp(0, 1)
    torch.testing.assert_close(blended, expected, atol=1e-5, rtol=0)
    only_a = transfer(flow, content, [(a, 1.0), (b, 0.0)], adain, 1.0)
    torch.testing.assert_close(only_a, transfer(flow, content, [(a, 1.0)], adain, 1.0))


def test_any_size_comes_back_at_its_own_size(flow):
    content, style = _image(10, 0.3, 0.6, 30, 22), _image(11, 0.4, 0.7, 21, 19)
    out = transfer(flow, content, [(style, 1.0)], TRANSFORMS["adain"], 1.0)
    assert out.shape == (1, 3, 30, 22)
    assert crop_to_stride(style, 4).shape[-2:] == (20, 16)
