"""The schedule: stages, what is left of it, where an iteration lies, and how presets and
explicit --size / --iterations / --scales make one schedule."""

import dataclasses

import pytest

from painterly.config.options import Options
from painterly.config.presets import PRESETS
from painterly.config.schedule import Stage, parse_scales, remaining, stage_at, total
from painterly.errors import PainterlyError

THREE = (Stage(128, 10), Stage(256, 20), Stage(512, 5))

# What each preset runs when the user gives nothing of the schedule, and the size and
# evaluations it stands for (gatys-notebook's stage list ends at 800 px after 700).
PRESET_SCHEDULES = {
    "painterly": {"stages": ((128, 200), (256, 200), (512, 100)), "size": 512, "iterations": 500},
    "gatys2016": {"stages": ((512, 500),), "size": 512, "iterations": 500},
    "gatys-notebook": {"stages": ((512, 500), (800, 200)), "size": 800, "iterations": 700},
    "keras-example": {"stages": ((400, 1000),), "size": 400, "iterations": 1000},
    "photo": {"stages": ((512, 1000),), "size": 512, "iterations": 1000},
}

# explicit schedule values → {preset: the stages the run must have}.
CASES = {
    "size": (
        {"size": 64},
        {
            "painterly": ((64, 500),),
            "gatys2016": ((64, 500),),
            "gatys-notebook": ((64, 700),),
            "keras-example": ((64, 1000),),
            "photo": ((64, 1000),),
        },
    ),
    "iterations": (
        {"iterations": 3},
        {
            "painterly": ((128, 1), (256, 1), (512, 1)),
            "gatys2016": ((512, 3),),
            "gatys-notebook": ((800, 3),),
            "keras-example": ((400, 3),),
            "photo": ((512, 3),),
        },
    ),
    "size and iterations": ({"size": "64", "iterations": "3"}, ((64, 3),)),
    "stage list": ({"scales": "96:4,192:2"}, ((96, 4), (192, 2))),
    "stage list as pairs": ({"scales": ((96, 4), (192, 2))}, ((96, 4), (192, 2))),
    "auto": (
        {"scales": "auto"},
        {
            "painterly": ((128, 200), (256, 200), (512, 100)),
            "gatys2016": ((128, 200), (256, 200), (512, 100)),
            "gatys-notebook": ((200, 280), (400, 280), (800, 140)),
            "keras-example": ((200, 800), (400, 200)),
            "photo": ((128, 400), (256, 400), (512, 200)),
        },
    ),
    "none": (
        {"scales": "none"},
        {
            "painterly": ((512, 500),),
            "gatys2016": ((512, 500),),
            "gatys-notebook": ((800, 700),),
            "keras-example": ((400, 1000),),
            "photo": ((512, 1000),),
        },
    ),
    "auto with size and iterations": (
        {"scales": "auto", "size": 256, "iterations": 10},
        ((128, 8), (256, 2)),
    ),
    "none with size": (
        {"scales": "none", "size": 64},
        {
            "painterly": ((64, 500),),
            "gatys2016": ((64, 500),),
            "gatys-notebook": ((64, 700),),
            "keras-example": ((64, 1000),),
            "photo": ((64, 1000),),
        },
    ),
    "stage list with the size and total it implies": (
        {"scales": "96:4,192:2", "size": 192, "iterations": 6},
        ((96, 4), (192, 2)),
    ),
}


def _expected(case: str, preset: str) -> tuple:
    stages = CASES[case][1]
    return stages[preset] if isinstance(stages, dict) else stages


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("preset", list(PRESETS))
def test_explicit_schedule_values_give_exactly_the_stages_asked_for(preset, case):
    options = Options.build(preset=preset, **CASES[case][0])
    assert options.stages == _expected(case, preset)
    assert (options.size, options.iterations) == (options.stages[-1][0], total(options.stages))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("preset", list(PRESETS))
def test_replace_merges_the_schedule_as_build_does(preset, case):
    options = Options.build(preset=preset).replace(**CASES[case][0])
    assert options.stages == _expected(case, preset)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_a_preset_alone_runs_its_own_schedule(preset):
    options = Options.build(preset=preset)
    expected = PRESET_SCHEDULES[preset]
    assert options.stages == expected["stages"]
    assert (options.size, options.iterations) == (expected["size"], expected["iterations"])


@pytest.mark.parametrize("other", [{"size": 64}, {"iterations": 3}, {"size": 64, "iterations": 3}])
@pytest.mark.parametrize("preset", [None, *PRESETS])
def test_a_stage_list_with_another_size_or_iterations_is_refused(preset, other):
    sentence = (
        "--scales gives each stage's size and evaluations; give it or --size/--iterations, not both"
    )
    with pytest.raises(PainterlyError) as refused:
        Options.build(preset=preset, scales="96:4,192:2", **other)
    assert str(refused.value) == sentence
    with pytest.raises(PainterlyError, match="give it or --size/--iterations"):
        Options.build(preset=preset).replace(scales="96:4,192:2", **other)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_options_written_out_whole_read_back_the_same(preset):
    options = Options.build(preset=preset)
    assert Options.build(**dataclasses.asdict(options)) == options


def test_a_stage_list_sets_size_and_iterations_to_what_the_run_does():
    options = Options(scales="300:10,600:5", size=999, iterations=1)
    assert (options.size, options.iterations) == (600, 15)
    assert options.scales == ((300, 10), (600, 5))


def test_other_options_of_a_preset_stay_when_the_schedule_is_given():
    options = Options.build(preset="gatys-notebook", size=64, iterations=3)
    assert (options.size_side, options.pooling, options.init) == ("short", "max", "content")


def test_stages_are_named_pairs():
    (first, second) = parse_scales("300:10, 600:5")
    assert (first.size, first.iterations) == (300, 10)
    size, iterations = second
    assert (size, iterations) == (600, 5)
    assert Options(size=64, iterations=3).stages[0].iterations == 3


@pytest.mark.parametrize(
    ("done", "left"),
    [
        (0, THREE),
        (4, ((128, 6), (256, 20), (512, 5))),
        (9, ((128, 1), (256, 20), (512, 5))),
        (10, ((256, 20), (512, 5))),
        (11, ((256, 19), (512, 5))),
        (30, ((512, 5),)),
        (34, ((512, 1),)),
        (35, ()),
        (99, ()),
    ],
)
def test_remaining_is_what_a_resumed_run_still_has_to_do(done, left):
    assert remaining(THREE, done) == left


def test_remaining_always_leaves_the_rest_of_the_budget():
    for done in range(total(THREE) + 1):
        assert total(remaining(THREE, done)) == total(THREE) - done


@pytest.mark.parametrize(
    ("iteration", "where"),
    [
        (1, (0, 1)),
        (10, (0, 10)),
        (11, (1, 1)),
        (29, (1, 19)),
        (30, (1, 20)),
        (31, (2, 1)),
        (35, (2, 5)),
    ],
)
def test_stage_at_counts_a_stages_last_evaluation_as_its_own(iteration, where):
    assert stage_at(THREE, iteration) == where


@pytest.mark.parametrize("iteration", [0, 36])
def test_stage_at_outside_the_schedule_is_a_programming_error(iteration):
    with pytest.raises(ValueError, match="outside"):
        stage_at(THREE, iteration)


def test_remaining_of_a_negative_count_is_a_programming_error():
    with pytest.raises(ValueError):
        remaining(THREE, -1)
