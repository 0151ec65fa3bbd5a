"""One-pass methods tile by tile (painterly.methods.tiled): the whole image's statistics, the
untiled pass's result, with the real VGG-19, AdaIN decoder and shipped ArtFlow."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

import painterly
from painterly.commands import main
from painterly.config.options import Options
from painterly.controls.inputs import prepare_inputs
from painterly.engine import plan as plans
from painterly.engine import runtime
from painterly.errors import PainterlyError
from painterly.io.images import to_tensor
from painterly.methods import adain, artflow, feedforward, wct
from painterly.methods.tiled import Affine, Moments, fitted_map, moments, pass_bytes

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def vgg():
    return feedforward.networks(CPU)


@pytest.fixture(scope="module")
def pair(content_image, style_image):
    # 120 × 88: not a multiple of 8 on either side, so the reflect-padding is tiled too.
    content = to_tensor(content_image.resize((120, 90), Image.Resampling.LANCZOS))
    style = to_tensor(style_image.resize((96, 60), Image.Resampling.LANCZOS))
    return content, style


@pytest.mark.parametrize("full", [False, True])
def test_moments_of_parts_add_up_to_the_moments_of_the_whole(full):
    x = torch.randn(1, 16, 9, 11, generator=torch.Generator().manual_seed(0)) * 3 + 5
    whole = Moments.of(x, full)
    parts = Moments.of(x[..., :4, :], full) + Moments.of(x[..., 4:, :7], full)
    parts = parts + Moments.of(x[..., 4:, 7:], full)
    assert parts.count == whole.count == 99
    # Each part's own mean and scatter are float32; their combination float64.
    torch.testing.assert_close(parts.mean, whole.mean, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(parts.scatter, whole.scatter, rtol=1e-5, atol=1e-3)
    flat = x.reshape(16, -1).double()
    expected = torch.cov(flat, correction=1)
    got = whole.variance(1)
    wanted = expected if full else torch.diag(expected)
    torch.testing.assert_close(got, wanted, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "transform, fit", [(adain.adaptive_instance_norm, adain.FIT), (wct.whiten_colour, wct.FIT)]
)
def test_a_fitted_map_is_the_transform(transform, fit):
    gen = torch.Generator().manual_seed(1)
    content = torch.rand(1, 24, 10, 12, generator=gen) * torch.rand(1, 24, 1, 1, generator=gen)
    style = torch.rand(1, 24, 7, 9, generator=gen) * 2
    mapping = fit.affine(Moments.of(content, fit.full), Moments.of(style, fit.full))
    torch.testing.assert_close(mapping(content), transform(content, style), atol=1e-4, rtol=1e-4)


def test_blends_and_strength_stay_affine():
    gen = torch.Generator().manual_seed(2)
    f = torch.randn(1, 5, 3, 4, generator=gen)
    diagonal = Affine(torch.rand(5, generator=gen).double(), torch.randn(5, generator=gen).double())
    full = Affine(torch.randn(5, 5, generator=gen).double(), torch.randn(5, generator=gen).double())
    mixed = diagonal * 0.25 + full * 0.75
    torch.testing.assert_close(mixed(f), 0.25 * diagonal(f) + 0.75 * full(f))
    eased = Affine.identity(mixed) * 0.4 + mixed * 0.6
    torch.testing.assert_close(eased(f), torch.lerp(f, mixed(f), 0.6))


def _tiled_and_whole(codec, whole_pass, content, styles, alpha, tile):
    return feedforward.tiled_pass(codec, tile)(content, styles, alpha), whole_pass(
        content, styles, alpha
    )


@pytest.mark.parametrize("tile", [32, 48, 64])
def test_a_tiled_pass_is_the_untiled_pass(vgg, pair, tile, one_thread):
    # AdaIN here; WCT's 512 × 512 covariance needs more than the 180 positions a test-sized
    # image has at relu4_1 to be well conditioned, so its tiled form is checked through its
    # statistics (below) and through ArtFlow-WCT's 48 channels.
    content, style = pair
    codec = feedforward.vgg_codec(*vgg, adain.FIT)
    styles = [(style, 0.7), (content, 0.3)]
    tiled, whole = _tiled_and_whole(
        codec, feedforward.decoder_pass(adain.adaptive_instance_norm, CPU), content, styles,
        0.8, tile,
    )  # fmt: skip
    assert tiled.shape == whole.shape == content.shape
    torch.testing.assert_close(tiled, whole, atol=2e-5, rtol=0)


def test_the_margin_is_both_reaches_and_no_less(vgg, pair, one_thread):
    content, style = pair
    codec = feedforward.vgg_codec(*vgg, adain.FIT)
    assert codec.margin == 64  # relu4_1's 30 px and the decoder's 30, in whole strides
    assert feedforward.network().reach == codec.margin
    whole = feedforward.decoder_pass(adain.adaptive_instance_norm, CPU)(content, [(style, 1)], 1)
    short = dataclasses.replace(codec, decode_reach=codec.decode_reach - 8)
    assert short.margin == 56
    cut = feedforward.tiled_pass(short, 32)(content, [(style, 1)], 1)
    exact = feedforward.tiled_pass(codec, 32)(content, [(style, 1)], 1)
    assert (cut - whole).abs().max() > 20 * (exact - whole).abs().max()


def test_the_statistics_are_the_whole_images(vgg, pair, one_thread):
    content, style = pair
    codec = feedforward.vgg_codec(*vgg, wct.FIT)
    padded = feedforward.pad_to_stride(content)
    tiled = moments(codec, padded, 32)
    whole = Moments.of(codec.encode(padded), True)
    assert tiled.count == whole.count == (96 // 8) * (120 // 8)
    torch.testing.assert_close(tiled.mean, whole.mean, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(tiled.scatter, whole.scatter, atol=1e-3, rtol=1e-5)
    codec = dataclasses.replace(codec, fit=adain.FIT)
    single = fitted_map(codec, padded, [(style, 1.0)], 1.0, 1024)
    split = fitted_map(codec, padded, [(style, 1.0)], 1.0, 32)
    torch.testing.assert_close(split.weight, single.weight, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(split.bias, single.bias, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("transform", ["adain", "wct"])
def test_a_tiled_artflow_pass_is_the_untiled_pass(pair, transform, one_thread):
    content, style = pair
    options = Options(method="artflow", transform=transform)
    flow = artflow.load(options, CPU)
    assert artflow.network().reach == 2 * flow.reach == 192
    styles = [(style, 1.0)]
    tiled = artflow.flow_tiles(options, CPU, 32)(content, styles, 1.0)
    whole = artflow.flow_pass(options, CPU)(content, styles, 1.0)
    torch.testing.assert_close(tiled, whole, atol=2e-5, rtol=0)


def _plan(content_image, style_image, method="adain", **values):
    options = Options.build(method=method, **values)
    inputs = prepare_inputs(content_image, [style_image], options)
    network = artflow.network() if method == "artflow" else feedforward.network()
    return plans.resolve(options, inputs, network)


def test_a_given_tile_tiles_a_larger_pass_only(content_image, style_image):
    assert _plan(content_image, style_image, size=200, tile=128).stages[0].tile == 128
    assert _plan(content_image, style_image, size=128, tile=128).stages[0].tile is None
    assert _plan(content_image, style_image, size=200).stages[0].tile is None  # auto: it fits


def test_auto_tiles_a_pass_only_when_it_would_not_fit(content_image, style_image, monkeypatch):
    output, styles = (1024, 768), ((1024, 640),)
    need = pass_bytes(output, styles, 512, 64)
    monkeypatch.setattr(runtime, "available_bytes", lambda device: need)
    stage = _plan(content_image, style_image, size=1024).stages[0]
    assert stage.output == output and 512 <= stage.tile < 1024
    assert pass_bytes(output, styles, stage.tile + 8, 64) > need
    monkeypatch.setattr(runtime, "available_bytes", lambda device: need // 20)
    with pytest.raises(PainterlyError, match="even in 128-px tiles") as error:
        _plan(content_image, style_image, size=1024)
    assert "\n" not in str(error.value)


def test_the_estimate_grows_with_the_tile_and_the_image():
    sizes = [pass_bytes((4096, 3072), ((4096, 2560),), tile, 64) for tile in (128, 512, 1024)]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3
    assert pass_bytes((8192, 6144), (), 512, 64) > pass_bytes((4096, 3072), (), 512, 64)


def test_the_cli_tiles_a_pass_and_says_so(image_files, tmp_path, capsys):
    content, style = image_files
    tiled, whole = tmp_path / "tiled.png", tmp_path / "whole.png"
    common = [str(content), str(style), "--method", "adain", "--size", "200"]
    assert main([*common, "-o", str(tiled), "--tile", "128"]) == 0
    assert "decoded in 4 tiles of at most 128 px" in capsys.readouterr().err
    assert main([*common, "-o", str(whole)]) == 0
    a = np.asarray(Image.open(tiled), dtype=int)
    b = np.asarray(Image.open(whole), dtype=int)
    assert a.shape == b.shape and np.abs(a - b).max() <= 1


def test_the_api_takes_a_tile_for_a_one_pass_method(content_image, style_image):
    values = {"method": "artflow", "transform": "wct", "size": 160}
    tiled = painterly.stylize(content_image, style_image, tile=128, **values)
    whole = painterly.stylize(content_image, style_image, **values)
    a, b = np.asarray(tiled, dtype=int), np.asarray(whole, dtype=int)
    assert a.shape == (120, 160, 3) and np.abs(a - b).max() <= 1
