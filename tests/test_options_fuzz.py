"""Property tests: whatever values the API, the CLI or the studio hand to Options, the result
is valid Options or one PainterlyError sentence, never another exception.

The values are JSON-like (what a studio request or an API call can carry) plus texts that
look like numbers, and a pool of plausible option values, so that the examples get past the
first check of each field as well as fail it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from painterly.commands import main
from painterly.commands.common import option_flag
from painterly.config.options import (
    INITS,
    MAX_LEARNING_RATE,
    MAX_SEED,
    MAX_STYLE_SCALE,
    MAX_WEIGHT,
    METHODS,
    OPTIMIZERS,
    POOLINGS,
    PRECISIONS,
    SIZE_SIDES,
    Options,
    option_fields,
)
from painterly.config.presets import PRESETS
from painterly.config.schedule import MAX_ITERATIONS, MAX_SIZE, MIN_SIZE, Stage
from painterly.errors import PainterlyError

NAMES = [f.name for f in option_fields()] + ["ratio", "preset"]

PLAUSIBLE = [
    *METHODS, *SIZE_SIDES, *POOLINGS, *OPTIMIZERS, *INITS, *PRECISIONS, *PRESETS,
    "auto", "none", "cpu", "cuda:0", "cuda:128", "luminance", "paper", "vgg19-normalized",
    "256:10,512:5", [[64, 3]], [["128", "2"], "256:1"], "conv4_2", "conv1_1:0.5,relu2_1",
    {"conv4_2": 1}, {"conv3_2": None}, ["conv5_1:2"], "0.7,0.3", [0.5, "1"], "m.png:s.png",
    [["m.png", "s.png"]], 0, 1, 16, 64, 0.3, 1.0, 1e-3, 1e30, 1e31, 65535, 65536, 10**7,
    2**64 - 1, 2**64, -1, 1e308, 10**400, "1e308", "nan", "inf", "-0", "", " ", "\0",
]  # fmt: skip

number_texts = st.one_of(
    st.from_regex(r"\A[+-]?\d{1,30}\Z"),
    st.from_regex(r"\A[+-]?\d{0,4}\.?\d{0,4}(e[+-]?\d{1,4})?\Z"),
    st.integers(1, 5000).map(lambda n: "9" * n),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(10**400), 10**400),
    st.floats(),
    st.text(max_size=20),
    number_texts,
    st.sampled_from(PLAUSIBLE),
)
json_like = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


def _check_refusal(error: PainterlyError) -> None:
    message = str(error)
    assert message and "\n" not in message and "\r" not in message, message
    assert len(message) < 1000, message  # values are quoted cut short, not whole


def _check_valid(o: Options) -> None:
    """Every field has its type and lies within its documented bounds, and checking the
    normalised values again (as stored, or through JSON as the studio keeps them) gives
    the same Options."""
    whole = {"size": (MIN_SIZE, MAX_SIZE), "iterations": (1, MAX_ITERATIONS),
             "lbfgs_restart": (0, MAX_ITERATIONS), "seed": (0, MAX_SEED)}  # fmt: skip
    for name, (low, high) in whole.items():
        value = getattr(o, name)
        assert type(value) is int and low <= value <= high, (name, value)
    weights = [o.content_weight, o.style_weight, o.tv_weight, *o.style_blend]
    weights += [*o.content_layers.values(), *o.style_layers.values()]
    assert all(type(w) is float and 0 <= w <= MAX_WEIGHT for w in weights), weights
    assert 0 < o.style_scale <= MAX_STYLE_SCALE and 0 < o.learning_rate <= MAX_LEARNING_RATE
    assert o.strength is None or (type(o.strength) is float and 0 <= o.strength <= 1)
    assert all(type(k) is str for k in [*o.content_layers, *o.style_layers])
    assert o.scales == "auto" or all(
        type(s) is Stage and MIN_SIZE <= s.size <= MAX_SIZE and s.iterations >= 1 for s in o.scales
    )
    assert all(type(m) is str and type(s) is str for m, s in o.masks)
    assert all(type(getattr(o, n)) is str for n in ("init", "weights", "device", "method"))
    assert math.isfinite(o.ratio) or o.style_weight == 0
    assert dataclasses.replace(o) == o
    assert Options(**json.loads(json.dumps(dataclasses.asdict(o)))) == o


def _build(values: dict) -> None:
    try:
        result = Options.build(**values)
    except PainterlyError as error:
        _check_refusal(error)
    else:
        _check_valid(result)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(NAMES), value=json_like)
def test_any_single_value_gives_valid_options_or_one_sentence(name, value):
    _build({name: value})


@settings(max_examples=100, deadline=None)
@given(values=st.dictionaries(st.sampled_from(NAMES), json_like, max_size=6))
def test_any_combination_of_values_gives_valid_options_or_one_sentence(values):
    _build(values)


@settings(max_examples=100, deadline=None)
@given(values=st.dictionaries(st.sampled_from(NAMES), st.sampled_from(PLAUSIBLE), max_size=8))
def test_plausible_combinations_give_valid_options_or_one_sentence(values):
    _build(values)


@settings(max_examples=80, deadline=None)
@given(
    values=st.dictionaries(st.sampled_from(NAMES), json_like | st.sampled_from(PLAUSIBLE)),
    styles=st.integers(1, 3),
)
def test_the_studios_option_check_gives_valid_options_or_one_sentence(values, styles):
    from painterly.studio.service import MAX_SIZE as STUDIO_MAX_SIZE
    from painterly.studio.service import check_options

    try:
        options = check_options(values, styles)
    except PainterlyError as error:
        _check_refusal(error)
    else:
        _check_valid(options)
        assert max(size for size, _ in options.stages) <= STUDIO_MAX_SIZE


FLAGS = {option_flag(f): f for f in option_fields()}
FLAG_NAMES = sorted([*FLAGS, "--preset", "--ratio"])
cli_texts = st.one_of(
    st.text(max_size=30),
    number_texts,
    st.sampled_from([p for p in PLAUSIBLE if isinstance(p, str)]),
)


@pytest.fixture(scope="module")
def missing_output(tmp_path_factory):
    """An output path whose folder does not exist: ``painterly`` builds Options before it
    checks the output path and only then reads the inputs, so a valid option value ends
    there and no example ever runs a stylisation."""
    return str(tmp_path_factory.mktemp("cli") / "no-such-folder" / "out.png")


def _painterly(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(flag=st.sampled_from(FLAG_NAMES), text=cli_texts)
def test_any_flag_text_is_refused_in_one_line_or_reaches_the_output_check(
    missing_output, flag, text
):
    code, out, err = _painterly("no-such-content.png", "-o", missing_output, f"{flag}={text}")

    field = FLAGS.get(flag)
    assert code == 2 and out == ""
    assert "Traceback" not in err and err.count("\n") == 1, err
    if field and field.metadata.get("switch"):  # a switch takes no value at all
        assert err.startswith(f"painterly: error: argument {flag}: ignored explicit argument"), err
        return
    name = field.name if field else flag[2:]
    value = [text] if field and field.metadata.get("action") == "append" else text
    try:
        _check_valid(Options.build(**{name: value}))
    except PainterlyError as error:
        expected = f"painterly: error: {error}\n"
    else:
        expected = None
    assert code == 2 and out == ""
    assert "Traceback" not in err and err.count("\n") == 1, err
    if expected:
        assert err == expected
    else:
        assert err.startswith("painterly: error: The output directory '"), err
