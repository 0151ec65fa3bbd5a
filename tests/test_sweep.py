"""``painterly sweep``: the grid, its labels, and commands that reproduce its cells."""

import contextlib
import io
import shlex

import numpy as np
import pytest
from PIL import Image

from painterly.commands import main
from painterly.config.options import Options
from painterly.report import sweep

pytestmark = pytest.mark.usefixtures("one_thread")
PREVIEW = ["--preview-size", "32", "--preview-iterations", "2"]


def _main(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_plan_labels_rows_by_layer_set_and_columns_by_strength():
    cells = sweep.plan(strengths=[0.2, 0.8], layer_sets=["conv1_1", "conv1_1,conv2_1"])
    assert [c.label for c in cells] == ["A1", "A2", "B1", "B2"]
    assert cells[3].settings == {"strength": 0.8, "style_layers": "conv1_1,conv2_1"}
    ratios = sweep.plan(ratios=[1e-3], layer_sets=["conv1_1"])
    assert ratios[0].settings == {"ratio": 1e-3, "style_layers": "conv1_1"}


def test_sweep_writes_a_grid_and_prints_a_command_per_cell(tmp_path, image_files):
    content, style = image_files
    out = tmp_path / "grid.png"
    code, stdout, stderr = _main(
        "sweep", content, style, "-o", out, *PREVIEW, "--strengths", "0.3,0.7",
        "--layer-set", "conv1_1,conv2_1", "--layer-set", "conv1_1", "--seed", "5",
    )  # fmt: skip
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0] == str(out.resolve())
    grid = Image.open(out)
    assert grid.width > 2 * 32 and grid.height > 2 * 32
    commands = dict(line.split("  ", 1) for line in lines[1:])
    assert list(commands) == ["A1", "A2", "B1", "B2"]
    argv = shlex.split(commands["B2"])
    assert argv[:4] == ["painterly", str(content), str(style), "-o"]
    assert argv[4].endswith("grid-B2.png")
    assert argv[5:] == ["--seed", "5", "--strength", "0.7", "--style-layers", "conv1_1"]
    assert "B2 strength 0.7, conv1_1" in stderr


def test_a_printed_command_renders_the_same_image_as_its_cell(tmp_path, image_files):
    content, style = image_files
    options = Options.build(seed=2)
    cells = sweep.plan(strengths=[0.6], layer_sets=["conv1_1,conv2_1"])
    images = sweep.sweep(Image.open(content), [Image.open(style)], options, cells, 32, 2)
    out = tmp_path / "grid.png"
    given = ["--seed", "2", "--size", "32", "--iterations", "2"]
    command = sweep.full_size_command([str(content), str(style)], given, cells[0], out)
    code, _, stderr = _main(*shlex.split(command)[1:], "-q")
    assert code == 0, stderr
    cell = np.asarray(Image.open(tmp_path / "grid-A1.png"), dtype=np.int16)
    assert np.array_equal(cell, np.asarray(images["A1"], dtype=np.int16))


def test_ratios_make_the_columns_and_strengths_with_them_are_refused(tmp_path, image_files):
    out = tmp_path / "grid.png"
    code, _, err = _main(
        "sweep", *image_files, "-o", out, *PREVIEW, "--strengths", "0.5", "--ratios", "1e-3"
    )
    assert code == 2 and "not both" in err and not out.exists()
    code, stdout, err = _main(
        "sweep", *image_files, "-o", out, *PREVIEW, "--ratios", "1e-3", "--layer-set", "conv1_1"
    )
    assert code == 0, err
    assert stdout.splitlines()[1].endswith("--ratio 0.001 --style-layers conv1_1")
