"""Several styles, style scale and strength: options, targets and whole runs."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import Options, run, stylize
from painterly.controls.inputs import prepare_inputs
from painterly.controls.strength import (
    MAX_STEP,
    RATIO_RANGE,
    next_ratio,
    retention,
    target_retention,
)
from painterly.engine.targets import compute_targets
from painterly.errors import PainterlyError
from painterly.io.images import to_tensor
from painterly.methods import gatys
from painterly.models import load_encoder

pytestmark = pytest.mark.usefixtures("one_thread")
CPU = torch.device("cpu")


def _pixels(img):
    return np.asarray(img, dtype=np.int16)


# --- several styles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blend", "words"),
    [("0.5,-0.5", "at least 0"), ("0,0", "all 0"), ("a,b", "must be a number")],
)
def test_bad_blend_weights_are_refused(blend, words):
    with pytest.raises(PainterlyError, match=words):
        Options.build(style_blend=blend)


def test_blend_weights_must_match_the_number_of_styles(content_image, style_image):
    with pytest.raises(PainterlyError, match="2 weights but 3 style images"):
        prepare_inputs(content_image, [style_image] * 3, Options.build(style_blend="1,2"))


def test_blended_targets_are_the_weighted_sum_of_each_styles_grams(content_image, style_image):
    other = Image.open("examples/the_scream.jpg").convert("RGB").resize((60, 76))
    encoder = load_encoder("vgg19-normalized", "avg", "zeros", "conv2_1", CPU)
    layers = ["conv1_1", "conv2_1"]

    def grams(styles, sizes, blend=()):
        inputs = prepare_inputs(content_image, styles, Options.build(style_blend=blend))
        targets = compute_targets(
            encoder, inputs, (64, 48), sizes, [], layers, CPU, torch.float32, style_loss="gram",
            seed=0,
        )  # fmt: skip
        return targets.styles[0].grams

    a, b = grams([style_image], [(64, 40)]), grams([other], [(50, 64)])
    mixed = grams([style_image, other], [(64, 40), (50, 64)], "7,3")  # i.e. 0.7, 0.3
    for layer in layers:
        torch.testing.assert_close(mixed[layer], 0.7 * a[layer] + 0.3 * b[layer])


def test_targets_keep_only_the_content_layers_features_and_grams_scaled_to_the_output(
    content_image, style_image
):
    # Keeping the style layers' content features too cost 1.5 GB at 2048 px for nothing.
    encoder = load_encoder("vgg19-normalized", "avg", "zeros", "conv4_2", CPU)
    inputs = prepare_inputs(content_image, [style_image], Options.build())
    targets = compute_targets(
        encoder, inputs, (64, 48), [(32, 24)], ["conv4_2"], ["conv1_1", "conv4_1"], CPU,
        torch.float32, style_loss="gram", seed=0,
    )  # fmt: skip
    assert set(targets.content) == {"conv4_2"}
    # A style at half the output's side has a quarter of its positions: its Grams count ×4.
    style = to_tensor(style_image.resize((32, 24), Image.Resampling.LANCZOS))
    with torch.inference_mode():
        f = encoder(style, ["conv1_1"])["conv1_1"]
    expected = torch.einsum("bnhw,bmhw->bnm", f, f) * 4
    torch.testing.assert_close(targets.styles[0].grams["conv1_1"], expected)


def test_a_blend_of_one_and_zero_paints_exactly_like_the_first_style_alone(
    content_image, style_image
):
    other = Image.open("examples/the_scream.jpg").convert("RGB")
    options = Options(size=40, iterations=10)
    alone = run(content_image, style_image, options).image
    first = run(content_image, [style_image, other], options.replace(style_blend="1,0")).image
    even = run(content_image, [style_image, other], options).image
    assert np.array_equal(_pixels(first), _pixels(alone))
    assert np.abs(_pixels(even) - _pixels(alone)).mean() > 1


# --- style scale ---------------------------------------------------------------------------


def _stripes(period: int, side: int = 256) -> Image.Image:
    column = ((np.arange(side) % period < period // 2) * 255).astype(np.uint8)
    return Image.fromarray(np.tile(column, (side, 1))).convert("RGB")


def _dominant_period(img: Image.Image) -> float:
    """Period in pixels of the strongest horizontal frequency."""
    grey = np.asarray(img.convert("L"), dtype=float)
    spectrum = np.abs(np.fft.rfft(grey - grey.mean(), axis=1)).mean(axis=0)
    return img.width / (spectrum[1:].argmax() + 1)


def test_style_scale_sets_the_size_of_the_strokes():
    # Stripes 16 px apart in a 256 px style image: brought to a 64 px output at scale 1
    # they are 4 px apart; at scale 2 the style image is 128 px, so 8 px apart.
    texture = Options.build(
        size=64,
        iterations=30,
        content_layers="",
        style_layers="conv1_1,conv2_1,conv3_1",
        style_weight=1,
        # Texture synthesis as the paper does it: from noise, on the pixels, zero padding,
        # no TV (the default's pyramid favours broad strokes in so few evaluations).
        init="noise",
        padding="zeros",
        pyramid=1,
        finish_tv=0,
    )
    grey = Image.new("RGB", (64, 64), (128, 128, 128))
    periods = [
        _dominant_period(run(grey, _stripes(16), texture.replace(style_scale=scale)).image)
        for scale in (1.0, 2.0)
    ]
    assert periods == [4.0, 8.0]


# --- strength ------------------------------------------------------------------------------


def test_strength_asks_for_one_minus_s_of_the_contents_structure():
    assert [target_retention(s) for s in (0.0, 0.25, 1.0)] == [1.0, 0.75, 0.0]
    # Retention rescales the cosine similarity: the content is 1, the style image 0.
    assert retention(1.0, 0.4) == 1.0 and retention(0.4, 0.4) == 0.0
    assert retention(0.7, 0.4) == pytest.approx(0.5)


def test_next_ratio_steps_a_decade_then_interpolates_log_ratio_against_retention():
    assert next_ratio([(1e-3, 0.3)], 0.5) == pytest.approx(1e-2)
    assert next_ratio([(1e-3, 0.7)], 0.5) == pytest.approx(1e-4)
    # Retention linear in log10(α/β): 0.2 at 1e-4, 0.6 at 1e-3 → 0.5 at 10^-3.25.
    assert next_ratio([(1e-4, 0.2), (1e-3, 0.6)], 0.5) == pytest.approx(10**-3.25)
    # Of three pilots, the two that bracket the target are used.
    samples = [(1e-5, 0.0), (1e-4, 0.2), (1e-3, 0.6)]
    assert next_ratio(samples, 0.5) == pytest.approx(10**-3.25)
    # Extrapolation moves at most MAX_STEP decades from the nearest pilot, within bounds.
    assert next_ratio([(1e-3, 0.50), (1e-2, 0.51)], 0.99) == pytest.approx(10 ** (-2 + MAX_STEP))
    assert next_ratio([(1e-6, 0.3), (1e-7, 0.2)], 0.0) == RATIO_RANGE[0]


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"strength": 1.5}, "between 0 and 1"),
        ({"strength": -0.1}, "at least 0"),
        ({"strength": 0.5, "ratio": 1e-3}, "not both"),
        ({"strength": 0.5, "style_weight": 10}, "not both"),
        ({"strength": 0.5, "style_layers": ""}, "needs both content and style layers"),
    ],
)
def test_bad_strength_is_refused(values, words):
    with pytest.raises(PainterlyError, match=words):
        Options.build(**values)


def test_strength_survives_replace_and_explicit_weights_replace_it():
    o = Options.build(strength=0.3)
    assert o.replace(size=64).strength == 0.3
    assert o.replace(ratio=1e-4).strength is None
    assert Options.build(preset="gatys2016", strength=0.3).strength == 0.3


@pytest.fixture()
def short_pilots(monkeypatch):
    monkeypatch.setattr(gatys, "PILOT_ITERATIONS", 15)


def test_strength_calibrates_alpha_beta_for_each_pair_and_strength(
    short_pilots, content_image, style_image
):
    other = Image.open("examples/composition_vii.jpg").convert("RGB")

    def ratio(style, strength):
        options = Options.build(size=48, iterations=15, strength=strength)
        result = run(content_image, style, options)
        assert result.options.strength == strength and result.options.content_weight == 1.0
        return result.options.ratio

    starry = {s: ratio(style_image, s) for s in (0.25, 0.75)}
    assert starry[0.25] > 3 * starry[0.75]  # less strength, more weight on the content
    assert ratio(other, 0.25) != pytest.approx(starry[0.25], rel=0.05)  # another pair, another α/β
    assert ratio(style_image, 0.0) == math.inf  # β = 0: the photograph


def test_strength_starts_from_noise_where_the_default_would_start_from_the_photograph(
    short_pilots, content_image, style_image
):
    # From the photograph a pilot keeps all of it at any α/β (retention 1 throughout), so
    # the pilots and the run start from noise, and say so.
    with pytest.warns(UserWarning, match="--strength starts from noise"):
        result = run(content_image, style_image, Options.build(size=48, iterations=6, strength=0.5))
    assert Options().init == "content" and result.options.init == "noise"
    kept = run(
        content_image, style_image, Options.build(size=48, iterations=6, strength=0.5, init="style")
    )
    assert kept.options.init == "style"


def test_more_strength_keeps_less_of_the_contents_structure(
    short_pilots, content_image, style_image
):
    def similarity(strength):
        options = Options.build(size=48, iterations=20, strength=strength)
        image = run(content_image, style_image, options).image
        content = content_image.resize(image.size, Image.Resampling.LANCZOS)
        encoder = load_encoder("vgg19-normalized", "avg", "zeros", "conv4_2", CPU)
        with torch.no_grad():
            a, b = (
                encoder(to_tensor(x), ["conv4_2"])["conv4_2"].flatten() for x in (image, content)
            )
        return torch.nn.functional.cosine_similarity(a, b, dim=0).item()

    assert similarity(0.2) > similarity(0.8) + 0.05


def test_every_control_is_a_keyword_of_the_api(content_image, style_image):
    other = Image.open("examples/the_scream.jpg").convert("RGB")
    image = stylize(
        content_image,
        [style_image, other],
        size=32,
        iterations=1,
        style_blend=(0.6, 0.4),
        strength=0.5,
        style_scale=1.5,
        preserve_color="luminance",
    )
    assert max(image.size) == 32
