"""Several styles, style scale and strength: options, targets and whole runs."""

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import Options, run, stylize
from painterly.errors import PainterlyError
from painterly.losses import CALIBRATION, gram_matrix, style_layer_loss
from painterly.methods.inputs import prepare_inputs
from painterly.methods.targets import compute_targets
from painterly.models import load_encoder
from painterly.strength import strength_weights

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
        targets = compute_targets(encoder, inputs, (64, 48), sizes, [], layers, CPU)
        return targets.styles[0].grams

    a, b = grams([style_image], [(64, 40)]), grams([other], [(50, 64)])
    mixed = grams([style_image, other], [(64, 40), (50, 64)], "7,3")  # i.e. 0.7, 0.3
    for layer in layers:
        torch.testing.assert_close(mixed[layer], 0.7 * a[layer] + 0.3 * b[layer])


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
    )
    grey = Image.new("RGB", (64, 64), (128, 128, 128))
    periods = [
        _dominant_period(run(grey, _stripes(16), texture.replace(style_scale=scale)).image)
        for scale in (1.0, 2.0)
    ]
    assert periods == [4.0, 8.0]


# --- strength ------------------------------------------------------------------------------


def test_strength_maps_to_alpha_and_beta_by_the_documented_formula():
    assert strength_weights(0.25, 6.0, 2.0) == (0.75, 0.25 * 3.0)
    assert strength_weights(0.0, 6.0, 2.0) == (1.0, 0.0)
    assert strength_weights(1.0, 6.0, 2.0) == (0.0, 3.0)
    assert strength_weights(0.5, 6.0, 0.0) == (0.5, 0.5)  # content already has the style


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


def _reference_losses(content, style, size):
    """C₀ and S₀ computed here from scratch (calibrated convention, paper layers)."""
    encoder = load_encoder("vgg19-normalized", "avg", "zeros", "conv5_1", CPU)
    w = size
    h = round(content.height * size / content.width)

    def features(img, wh):
        tensor = torch.from_numpy(np.asarray(img.resize(wh, Image.LANCZOS), np.float32) / 255)
        return encoder(tensor.permute(2, 0, 1)[None], ["conv4_2", *layers])

    layers = [f"conv{i}_1" for i in range(1, 6)]
    style_wh = (
        round(style.width * size / max(style.size)),
        round(style.height * size / max(style.size)),
    )
    with torch.no_grad():
        fc, fs_out, fs = (
            features(content, (w, h)),
            features(style, (w, h)),
            features(style, style_wh),
        )
        c0 = CALIBRATION * 0.5 * (fs_out["conv4_2"] - fc["conv4_2"]).pow(2).mean().item()
        s0 = 0.0
        for name in layers:
            f, g = fs[name], fc[name]
            a = gram_matrix(f) * (g.shape[2] * g.shape[3] / (f.shape[2] * f.shape[3]))
            s0 += 0.2 * style_layer_loss(gram_matrix(g), a, g.shape[1], g.shape[2] * g.shape[3])
    return c0, float(s0)


def test_strength_sets_alpha_and_beta_from_the_pairs_own_losses(content_image, style_image):
    result = run(content_image, style_image, Options.build(size=64, iterations=1, strength=0.4))
    c0, s0 = _reference_losses(content_image, style_image, 64)
    assert result.options.content_weight == pytest.approx(0.6)
    assert result.options.style_weight == pytest.approx(0.4 * c0 / s0, rel=1e-4)
    assert result.options.strength == 0.4


def test_more_strength_paints_more(content_image, style_image):
    def unweighted(strength):
        r = run(
            content_image, style_image, Options.build(size=48, iterations=15, strength=strength)
        )
        o = r.options
        return r.losses["content"] / o.content_weight, r.losses["style"] / o.style_weight

    (content_lo, style_lo), (content_hi, style_hi) = unweighted(0.2), unweighted(0.8)
    assert content_hi > content_lo and style_hi < style_lo


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
