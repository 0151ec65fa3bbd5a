"""Each loss of Gatys et al. (2016) against a computation done by hand."""

import pytest
import torch

from painterly.engine import losses


def test_gram_matrix_is_sum_over_positions_of_feature_products():
    # Two maps over three positions: F = [[1, 2, 3], [0, 1, -1]].
    f = torch.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, -1.0]]).reshape(1, 2, 1, 3)
    g = losses.gram_matrix(f)
    # G_00 = 1+4+9, G_01 = 0+2-3, G_11 = 0+1+1
    assert g.shape == (1, 2, 2)
    assert g[0].tolist() == [[14.0, -1.0], [-1.0, 2.0]]


def test_gram_matrix_accumulates_low_precision_features_in_float32():
    f = torch.full((1, 1, 64, 64), 3.0, dtype=torch.bfloat16)
    g = losses.gram_matrix(f)
    assert g.dtype == torch.float32
    assert g.item() == 9.0 * 64 * 64


def test_channels_last_features_give_the_same_gram_and_moments_without_a_copy():
    f = torch.randn(2, 5, 6, 7, generator=torch.Generator().manual_seed(0))
    nhwc = f.contiguous(memory_format=torch.channels_last)
    flat = losses.flat_channels(nhwc)
    assert flat.data_ptr() == nhwc.data_ptr()  # a view of the channels-last storage
    torch.testing.assert_close(flat, f.reshape(2, 5, 42))
    torch.testing.assert_close(losses.gram_matrix(nhwc), losses.gram_matrix(f))
    for a, b in zip(losses.feature_moments(nhwc), losses.feature_moments(f), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_a_bf16_gram_is_summed_in_float32_across_chunks_and_its_gradient_is_the_exact_one(layout):
    # More positions than one chunk, so the partial products are exercised; the reference
    # is float64 arithmetic on the same bf16 values.
    gen = torch.Generator().manual_seed(1)
    side = int((losses.GRAM_CHUNK * 1.5) ** 0.5) + 1
    f = torch.rand(1, 4, side, side, generator=gen).bfloat16().contiguous(memory_format=layout)
    weight = torch.randn(1, 4, 4, generator=gen)
    exact_f = f.double().requires_grad_(True)
    exact = exact_f.reshape(1, 4, -1) @ exact_f.reshape(1, 4, -1).transpose(1, 2)
    (exact * weight.double()).sum().backward()
    f.requires_grad_(True)
    gram = losses.gram_matrix(f)
    assert gram.dtype == torch.float32
    # float32 sums of ~24 000 terms carry ~1e-5 relative rounding, depending on the order the
    # CPU's kernel adds in; bf16 sums would be off by ~1e-2.
    torch.testing.assert_close(gram.double(), exact.detach(), rtol=1e-4, atol=0)
    (gram * weight).sum().backward()
    assert f.grad.dtype == torch.bfloat16 and f.grad.is_contiguous(memory_format=layout)
    torch.testing.assert_close(f.grad.double(), exact_f.grad, rtol=1e-2, atol=1e-2)


def test_content_loss_is_half_the_sum_of_squared_differences():
    f = torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 2, 2)
    p = torch.tensor([0.0, 2.0, 5.0, 4.0]).reshape(1, 1, 2, 2)
    # ½ (1² + 0² + 2² + 0²) = 2.5
    assert losses.content_loss(f, p).item() == 2.5


def test_style_layer_loss_divides_by_four_n_squared_m_squared():
    g = torch.tensor([[[3.0, 1.0], [1.0, 2.0]]])
    a = torch.tensor([[[1.0, 1.0], [1.0, 0.0]]])
    # Σ (G − A)² = 4 + 4 = 8; N = 2, M = 5 → 8 / (4 · 4 · 25) = 0.02
    assert abs(losses.style_layer_loss(g, a, n=2, m=5).item() - 0.02) < 1e-9


def test_style_loss_weights_each_layer_and_uses_that_layers_size():
    torch.manual_seed(0)
    feats = {"conv1_1": torch.rand(1, 2, 2, 3), "conv2_1": torch.rand(1, 3, 1, 2)}
    targets = {"conv1_1": torch.zeros(1, 2, 2), "conv2_1": torch.ones(1, 3, 3)}
    weights = {"conv1_1": 0.25, "conv2_1": 0.75}
    expected = 0.0
    for name, w in weights.items():
        f = feats[name][0].reshape(feats[name].shape[1], -1)
        n, m = f.shape
        g = f @ f.T
        expected += w * ((g - targets[name][0]) ** 2).sum().item() / (4 * n**2 * m**2)
    got = losses.style_loss(feats, targets, weights).item()
    assert abs(got - expected) < 1e-6 * max(1.0, expected)


def test_style_loss_ignores_layers_without_weight_entry():
    feats = {"conv1_1": torch.ones(1, 1, 1, 1), "conv2_1": torch.ones(1, 1, 1, 1)}
    targets = {"conv1_1": torch.ones(1, 1, 1), "conv2_1": torch.zeros(1, 1, 1)}
    assert losses.style_loss(feats, targets, {"conv1_1": 1.0}).item() == 0.0
    assert losses.style_loss(feats, targets, {"conv2_1": 1.0}).item() == 0.25


def test_total_variation_sums_squared_neighbour_differences():
    x = torch.tensor([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]]).reshape(1, 1, 2, 3)
    # Positions (0,0) and (0,1): dx = 1, 2; dy = 2, 1 → 1 + 4 + 4 + 1 = 10
    assert losses.total_variation(x).item() == 10.0
    # With exponent 2.5: (1+4)^1.25 + (4+1)^1.25
    assert abs(losses.total_variation(x, 2.5).item() - 2 * 5**1.25) < 1e-5


def test_total_variation_of_flat_image_is_zero():
    assert losses.total_variation(torch.full((1, 3, 8, 8), 0.4)).item() == 0.0
