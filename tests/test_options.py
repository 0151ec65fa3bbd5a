"""Options: parsing, validation and the α/β ratio."""

import math
from pathlib import Path

import pytest

from painterly.config.options import Options, option_fields, parse_layers
from painterly.config.presets import PRESETS
from painterly.errors import PainterlyError


def test_defaults_are_the_papers_layers_and_pooling():
    o = Options()
    assert o.content_layers == {"conv4_2": 1.0}
    assert o.style_layers == {f"conv{i}_1": 0.2 for i in range(1, 6)}
    assert o.pooling == "avg" and o.optimizer == "lbfgs"
    # The painterly preset's start; the paper's is noise (docs/quality.md).
    assert o.init == "content" and Options.build(preset="gatys2016").init == "noise"


def test_unweighted_style_layers_share_weight_equally_and_explicit_weights_stay():
    assert parse_layers("conv1_1,conv2_1", "equal") == {"conv1_1": 0.5, "conv2_1": 0.5}
    assert parse_layers("conv1_1:0.2, relu2_1:3", "equal") == {"conv1_1": 0.2, "conv2_1": 3.0}
    assert parse_layers("conv3_2,conv4_2", "one") == {"conv3_2": 1.0, "conv4_2": 1.0}


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("style_layers", "conv9_9", "unknown layer"),
        ("content_layers", "conv4_2:-1", "at least 0"),
        ("style_layers", "conv1_1:abc", "must be a number"),
        ("style_weight", "-5", "at least 0"),
        ("content_weight", "nan", "finite"),
        ("iterations", "0", "whole number"),
        ("iterations", "1.5", "whole number"),
        ("size", "ten", "whole number"),
        ("pooling", "median", "one of avg, max"),
        ("device", "tpu", "device"),
        ("style_scale", "0", "greater than 0"),
    ],
)
def test_bad_values_are_rejected_with_a_sentence(field, value, words):
    with pytest.raises(PainterlyError, match=words):
        Options.build(**{field: value})


def test_text_values_are_converted_like_the_cli_gives_them():
    o = Options.build(size="256", iterations="30", style_weight="1e4", seed="7")
    assert (o.size, o.iterations, o.style_weight, o.seed) == (256, 30, 1e4, 7)


def test_ratio_sets_beta_from_alpha():
    o = Options.build(content_weight=2.0, ratio=1e-3)
    assert o.style_weight == pytest.approx(2000.0)
    assert o.ratio == pytest.approx(1e-3)
    assert Options(style_weight=0).ratio == math.inf


def test_ratio_and_style_weight_together_are_refused():
    with pytest.raises(PainterlyError, match="not both"):
        Options.build(style_weight=10, ratio=1e-3)


def test_unknown_option_name_is_refused():
    with pytest.raises(PainterlyError, match="unknown option 'style_wieght'"):
        Options.build(style_wieght=1)


def test_replace_with_ratio_recomputes_beta():
    o = Options.build(style_weight=5.0).replace(ratio=0.5)
    assert o.style_weight == 2.0


@pytest.mark.parametrize(
    ("size", "iterations", "stages"),
    [
        (64, 30, ((64, 30),)),
        (255, 40, ((255, 40),)),
        (256, 300, ((128, 240), (256, 60))),
        (1024, 500, ((256, 200), (512, 200), (1024, 100))),
        (2048, 7, ((512, 3), (1024, 3), (2048, 1))),
    ],
)
def test_auto_scales_end_at_the_size_and_spend_the_whole_budget(size, iterations, stages):
    options = Options(size=size, iterations=iterations, scales="auto")
    assert options.stages == stages
    assert sum(n for _, n in options.stages) == iterations


def test_scales_none_means_one_stage_and_explicit_stages_are_kept():
    assert Options(scales="none", size=512).stages == ((512, 500),)
    assert Options(scales="auto", size=512).stages == Options(size=512).stages  # the default
    assert Options(scales="300:10,600:5").stages == ((300, 10), (600, 5))


@pytest.mark.parametrize("preset", list(PRESETS))
def test_ratio_after_any_preset_replaces_its_style_weight(preset):
    alpha = Options.build(preset=preset).content_weight
    o = Options.build(preset=preset, ratio=1e-2)
    assert o.style_weight == pytest.approx(alpha / 1e-2)
    assert o.ratio == pytest.approx(1e-2)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_strength_after_any_preset_replaces_its_style_weight(preset):
    o = Options.build(preset=preset, strength=0.3)
    assert o.strength == 0.3
    assert o.style_weight == Options().style_weight  # the preset's β is not kept aside
    # α is no part of the balance
    assert o.content_weight == PRESETS[preset].get("content_weight", Options().content_weight)


@pytest.mark.parametrize(
    ("values", "sentence"),
    [
        (
            {"strength": 0.3, "ratio": 1e-3},
            "--strength chooses α/β for the image pair; give it or --ratio, not both",
        ),
        (
            {"strength": 0.3, "style_weight": 10},
            "--strength chooses α/β for the image pair; give it or --style-weight, not both",
        ),
        (
            {"style_weight": 10, "ratio": 1e-3},
            "give either the style weight or the ratio α/β, not both",
        ),
    ],
)
def test_two_explicit_ways_of_setting_beta_are_refused_with_a_sentence(values, sentence):
    for preset in (None, *PRESETS):
        with pytest.raises(PainterlyError) as refused:
            Options.build(preset=preset, **values)
        assert str(refused.value) == sentence
    with pytest.raises(PainterlyError) as refused:
        Options.build(strength=0.5).replace(**values)
    assert str(refused.value) == sentence


def test_replace_with_a_style_weight_drops_the_strength():
    o = Options.build(strength=0.3).replace(style_weight=5.0)
    assert (o.strength, o.style_weight) == (None, 5.0)


def test_replace_with_a_strength_on_options_with_a_style_weight_works():
    o = Options.build(style_weight=5.0).replace(strength=0.4)
    assert o.strength == 0.4
    assert o.style_weight == Options().style_weight


def test_replace_of_other_options_keeps_the_balance_and_the_schedule():
    weighted = Options.build(preset="gatys-notebook", ratio=1e-2).replace(seed=3, size_side="long")
    assert weighted.style_weight == pytest.approx(100.0) and weighted.strength is None
    assert weighted.stages == ((512, 500), (800, 200))
    strong = Options.build(strength=0.3, scales="auto").replace(iterations=50)
    assert strong.strength == 0.3 and strong.stages == ((128, 20), (256, 20), (512, 10))


def test_replace_takes_option_values_not_a_preset():
    with pytest.raises(PainterlyError, match="unknown option 'preset'"):
        Options().replace(preset="gatys2016")


# --- every value of the wrong type or out of range is one sentence ---------------------------


def _refusal(**values) -> str:
    with pytest.raises(PainterlyError) as refused:
        Options.build(**values)
    message = str(refused.value)
    assert "\n" not in message and len(message) < 300, message
    return message


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("content_layers", 5, "content layers must be layer names"),
        ("style_layers", None, "style layers must be layer names"),
        ("style_layers", [1, 2], "is a layer name such as conv4_2, not 1"),
        ("style_layers", {1: 0.5}, "is a layer name such as conv4_2, not 1"),
        ("style_blend", 5, "--style-blend is weights"),
        ("style_blend", None, "--style-blend is weights"),
        ("scales", 5, "--scales is auto, none or stages"),
        ("scales", None, "--scales is auto, none or stages"),
        ("scales", {"256": 10}, "--scales is auto, none or stages"),
        ("scales", [5], "each stage of --scales is SIZE:ITERATIONS, not 5"),
        ("masks", None, "--mask is MASK:STYLE texts or (mask, style) pairs"),
        ("masks", {"a.png": "b.png"}, "--mask is MASK:STYLE texts or (mask, style) pairs"),
        ("masks", [5], "each mask is a pair"),
        ("masks", [["a.png", 5]], "each mask's style image must be a name or a file path"),
        ("preset", ["gatys2016"], "unknown preset ['gatys2016']"),
        ("preset", {}, "unknown preset {}"),
        ("method", 5, "method must be one of gatys, adain, wct, artflow, not 5"),
        ("pooling", ["avg"], "pooling must be one of avg, max"),
        ("weights", 5, "weights must be a name or a file path, not 5"),
        ("init", None, "init must be a name or a file path, not None"),
        ("init", "", "init is empty"),
        ("weights", "vgg\0.pth", "NUL character"),
        ("masks", ["m\0.png:s.png"], "NUL character"),
        ("device", 0, "device must be auto, cpu, cuda, cuda:N"),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused_with_a_sentence(field, value, words):
    assert words in _refusal(**{field: value})


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"content_weight": True}, "content weight must be a number, not True"),
        ({"style_weight": False}, "style weight must be a number, not False"),
        ({"tv_weight": True}, "tv weight must be a number, not True"),
        ({"ratio": True}, "ratio α/β must be a number, not True"),
        ({"strength": True}, "strength must be a number, not True"),
        ({"style_scale": True}, "style scale must be a number, not True"),
        ({"learning_rate": True}, "learning rate must be a number, not True"),
        ({"style_blend": [True, 1]}, "each --style-blend weight must be a number, not True"),
        ({"content_layers": {"conv4_2": True}}, "weight of layer conv4_2 must be a number"),
        ({"size": True}, "size must be a whole number, not True"),
        ({"iterations": True}, "iterations must be a whole number, not True"),
        ({"seed": False}, "seed must be a whole number, not False"),
        ({"lbfgs_restart": True}, "lbfgs restart must be a whole number, not True"),
        ({"scales": [[True, 5]]}, "stage size must be a whole number, not True"),
        ({"style_layers": [True]}, "is a layer name such as conv4_2, not True"),
    ],
)
def test_a_boolean_is_not_a_number(values, words):
    assert words in _refusal(**values)


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ("content_weight", "content weight must be at most 1e+30"),
        ("style_weight", "style weight must be at most 1e+30"),
        ("tv_weight", "tv weight must be at most 1e+30"),
        ("ratio", "ratio α/β must be at most 1e+30"),
        ("strength", "strength must be a finite number"),
        ("style_scale", "style scale must be at most 16"),
        ("learning_rate", "learning rate must be at most 1"),
        ("size", "size must be a whole number ≤ 65535"),
        ("iterations", "iterations must be a whole number ≤ 10000000"),
        ("seed", "seed must be a whole number ≤ 18446744073709551615"),
        ("lbfgs_restart", "lbfgs restart must be a whole number ≤ 10000000"),
    ],
)
def test_an_integer_beyond_float_range_is_refused_and_shown_short(field, words):
    assert _refusal(**{field: 10**400}) == f"{words}, not a number of about 401 digits"
    message = _refusal(**{field: "1" + "0" * 5000})
    assert message.startswith(f"{words}, not '1000") and message.endswith("000'"), message


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"seed": 2**64}, "seed must be a whole number ≤ 18446744073709551615"),
        ({"seed": -1}, "seed must be a whole number ≥ 0"),
        ({"style_scale": 1e308}, "style scale must be at most 16, not 1e+308"),
        ({"size": 65536}, "size must be a whole number ≤ 65535"),
        ({"scales": "256:10,70000:5"}, "stage size must be a whole number ≤ 65535"),
        ({"scales": "256:9000000,512:9000000"}, "add up to 18,000,000 evaluations"),
        ({"iterations": 10**7 + 1}, "iterations must be a whole number ≤ 10000000"),
        ({"content_weight": 1e31}, "content weight must be at most 1e+30"),
        ({"style_layers": "conv1_1:1e31"}, "weight of layer conv1_1 must be at most 1e+30"),
        ({"style_blend": "1e31,1"}, "each --style-blend weight must be at most 1e+30"),
        ({"ratio": 1e-300}, "makes the style weight β = α / ratio = 1e+300"),
        ({"learning_rate": 1.5}, "learning rate must be at most 1"),
        ({"device": "cuda:128"}, "N at most 127"),
        ({"device": "cuda:99999999999999999999"}, "N at most 127"),
        ({"strength": "1e400"}, "strength must be a finite number"),
    ],
)
def test_values_beyond_the_documented_bounds_are_refused(values, words):
    assert words in _refusal(**values)


def test_the_bounds_themselves_are_accepted():
    o = Options.build(
        seed=2**64 - 1, style_scale=16, size=65535, iterations=10**7, lbfgs_restart=10**7,
        content_weight=1e30, ratio=1, learning_rate=1, device="cuda:127",
    )  # fmt: skip
    assert (o.seed, o.style_scale, o.size, o.iterations) == (2**64 - 1, 16.0, 65535, 10**7)
    assert (o.style_weight, o.device, o.learning_rate) == (1e30, "cuda:127", 1.0)
    assert Options.build(strength=1).strength == 1.0


@pytest.mark.parametrize(
    ("field", "bound"),
    [
        ("size", "16 to 65535"),
        ("scales", "ITERATIONS at most 10,000,000 in all"),
        ("style_scale", "at most 16"),
        ("content_weight", "0 to 1e+30"),
        ("style_weight", "0 to 1e+30"),
        ("tv_weight", "0 to 1e+30"),
        ("style_layers", "weights 0 to 1e+30"),
        ("style_blend", "each 0 to 1e+30"),
        ("iterations", "1 to 10,000,000"),
        ("lbfgs_restart", "at most 10,000,000"),
        ("learning_rate", "at most 1"),
        ("seed", "0 to 2^64 - 1"),
        ("device", "N at most 127"),
    ],
)
def test_each_bound_is_in_the_fields_help(field, bound):
    assert bound in {f.name: f.metadata["help"] for f in option_fields()}[field]


def test_a_long_or_multiline_value_is_quoted_short_on_one_line():
    message = _refusal(size="ten\n" * 1000)
    assert message.startswith("size must be a whole number, not 'ten\\nten")


def test_paths_and_number_texts_of_every_form_still_read():
    o = Options.build(
        init=Path("start.png"), weights=Path("w.pth"), masks=[(Path("m.png"), "s.png")],
        scales=["128:5", (256, "3")],
    )  # fmt: skip
    assert (o.init, o.weights, o.masks) == ("start.png", "w.pth", (("m.png", "s.png"),))
    assert o.stages == ((128, 5), (256, 3))
    o = Options.build(size=" +2_56 ", seed="0007", style_blend=[1, "0.5"], strength="1e-1")
    assert (o.size, o.seed, o.style_blend, o.strength) == (256, 7, (1.0, 0.5), 0.1)
