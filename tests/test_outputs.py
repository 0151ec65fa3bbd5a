"""Outputs: where a command may write (no links, folders, inputs), checked before any work;
temporary files that never outlive a writer; SIGTERM and Ctrl-C at any moment; and names
shown escaped, so that every message is one line."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import unicodedata
from pathlib import Path

import pytest
from cli_helpers import refused, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import painterly.api
from painterly.config.options import Options
from painterly.controls.inputs import prepare_inputs
from painterly.engine import runtime
from painterly.engine.plan import resolve, working_sizes
from painterly.errors import PainterlyError, printable
from painterly.io import files, images
from painterly.methods import gatys

FAST = ["--size", "32", "--iterations", "2", "-q"]
TEMP = re.compile(r"\..*\.painterly-tmp-\d+-\w+", re.DOTALL)


def _temps(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if TEMP.fullmatch(p.name)]


@pytest.fixture()
def no_work(monkeypatch):
    """Every run fails the test: what is refused must be refused before any work."""

    def ran(*args, **kwargs):
        raise AssertionError("the run started before the outputs were checked")

    monkeypatch.setattr(painterly.api, "run", ran)
    monkeypatch.setattr("painterly.commands.sweep.sweep", ran)
    monkeypatch.setattr("painterly.commands.reproduce.reproduce", ran)


# --- where an output may go ----------------------------------------------------------------


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_dangling_symlink_as_output_is_refused_and_nothing_is_written_at_its_target(
    capsys, tmp_path, image_files, no_work, overwrite
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "r.png"
    link.symlink_to(elsewhere / "target.png")
    code, _, err = run_cli(capsys, *image_files, "-o", link, *FAST, *overwrite)
    refused(code, err, "symbolic link", "even with --overwrite")
    assert link.is_symlink() and os.listdir(elsewhere) == []


def test_an_empty_output_name_is_refused():
    with pytest.raises(PainterlyError, match="The output path is empty"):
        images.check_output_path("")


def test_a_symlink_to_an_existing_file_is_refused_even_with_overwrite(tmp_path):
    real = tmp_path / "real.png"
    real.write_bytes(b"precious")
    (tmp_path / "link.png").symlink_to(real)
    with pytest.raises(PainterlyError, match="is a symbolic link"):
        images.save_image(Image.new("RGB", (16, 16)), tmp_path / "link.png", overwrite=True)
    assert real.read_bytes() == b"precious"


def test_a_folder_that_is_a_symlink_loop_is_refused_in_one_sentence(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(PainterlyError, match="symbolic link loop"):
        images.check_output_path(tmp_path / "loop" / "out.png")


def test_a_folder_reached_through_a_symlink_is_fine(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "real")
    saved = images.save_image(Image.new("RGB", (16, 16)), tmp_path / "via" / "out.png")
    assert saved == (tmp_path / "real" / "out.png").resolve()
    assert os.listdir(tmp_path / "real") == ["out.png"]


@pytest.mark.parametrize("ending", [os.sep, os.sep + "."])
def test_an_output_name_ending_in_a_separator_is_refused(
    capsys, tmp_path, image_files, no_work, ending
):
    code, _, err = run_cli(capsys, *image_files, "-o", f"{tmp_path / 'out.png'}{ending}", *FAST)
    refused(code, err, "names a folder")
    assert not (tmp_path / "out.png").exists()


def _inputs_case(tmp_path, image_files, role):
    """(argv before -o, the input that is also the output) for each kind of input."""
    content, style = image_files
    size = Image.open(content).size
    mask = tmp_path / "mask.png"
    Image.new("L", size, 255).save(mask)
    init = tmp_path / "init.png"
    Image.open(content).save(init)
    link = tmp_path / "content-link.png"
    link.symlink_to(content)
    (tmp_path / "sub").mkdir()
    return {
        "content": ([content, style], content),
        "style": ([content, style], style),
        "--init image": ([content, style, "--init", init], init),
        "mask": ([content, "--mask", f"{mask}:{style}"], mask),
        "mask's style": ([content, "--mask", f"{mask}:{style}"], style),
        "content through a link": ([link, style], content),
        "content spelt otherwise": ([f"{tmp_path}/sub/../{content.name}", style], content),
    }[role]


@pytest.mark.parametrize(
    "role",
    [
        "content",
        "style",
        "--init image",
        "mask",
        "mask's style",
        "content through a link",
        "content spelt otherwise",
    ],
)
def test_an_input_as_the_output_is_refused_even_with_overwrite(
    capsys, tmp_path, image_files, no_work, role
):
    argv, victim = _inputs_case(tmp_path, image_files, role)
    before = victim.read_bytes()
    code, _, err = run_cli(capsys, *argv, "-o", victim, "--overwrite", *FAST)
    refused(code, err, "never writes over an input")
    assert victim.read_bytes() == before


@pytest.mark.parametrize("overwrite", [False, True])
def test_save_every_checks_the_iteration_files_already_there(
    capsys, tmp_path, image_files, no_work, overwrite
):
    # A name with glob characters: its iteration files must still be found.
    content, style = image_files
    out = tmp_path / "a[1].png"
    existing = tmp_path / "a[1].iter0001.png"
    Image.open(content).save(existing)
    argv = [existing if overwrite else content, style, "-o", out, "--save-every", "1", *FAST]
    code, _, err = run_cli(capsys, *argv, *(["--overwrite"] if overwrite else []))
    refused(code, err, "never writes over an input" if overwrite else "already exists")


def test_an_interrupted_runs_image_never_goes_over_an_input_or_a_link(tmp_path):
    from painterly.commands.stylize import _interrupted_path

    out = tmp_path / "r.png"
    photo, link = tmp_path / "r.interrupted.png", tmp_path / "r.interrupted-2.png"
    photo.write_bytes(b"photo")
    link.symlink_to(tmp_path / "elsewhere.png")
    chosen = _interrupted_path(out, True, [("content image", str(photo))])
    assert chosen == tmp_path.resolve() / "r.interrupted-3.png"


def test_sweep_refuses_an_input_as_its_grid(capsys, image_files, no_work):
    content, style = image_files
    before = content.read_bytes()
    code, _, err = run_cli(capsys, "sweep", content, style, "-o", content, "--overwrite", "-q")
    refused(code, err, "is the content image")
    assert content.read_bytes() == before


def test_leak_refuses_an_input_among_its_outputs(capsys, tmp_path, image_files, no_work):
    out = tmp_path / "leak"
    out.mkdir()
    photo = out / "adain-leak-sheet.jpg"
    Image.open(image_files[0]).save(photo)
    before = photo.read_bytes()
    argv = ["leak", photo, image_files[1], "--method", "adain", "-o", out, "--overwrite"]
    code, _, err = run_cli(capsys, *argv)
    refused(code, err, "is the content image")
    assert photo.read_bytes() == before


@pytest.mark.parametrize("case", ["dangling link", "the source"])
def test_weights_normalize_refuses_a_link_or_its_source_as_output(
    capsys, tmp_path, image_files, case
):
    source = tmp_path / "mine.safetensors"
    source.write_bytes(b"not read: refused before")
    out = source
    if case == "dangling link":
        out = tmp_path / "link.safetensors"
        out.symlink_to(tmp_path / "elsewhere.safetensors")
    argv = ["weights", "normalize", "--source", source, "--images", *image_files, "-o", out]
    code, _, err = run_cli(capsys, *argv, "--overwrite")
    refused(code, err, "symbolic link" if case == "dangling link" else "is the source weights")
    assert not (tmp_path / "elsewhere.safetensors").exists()
    assert source.read_bytes() == b"not read: refused before"


def test_reproduce_refuses_to_write_into_its_examples_folder(capsys, tmp_path, no_work):
    examples = tmp_path / "examples"
    examples.mkdir()
    argv = ["reproduce", "--examples", examples, "-o", examples, "--overwrite", "-q"]
    code, _, err = run_cli(capsys, *argv)
    refused(code, err, "is the examples folder")


# --- every command checks its outputs before it works --------------------------------------


def _leak_case(tmp_path, case):
    out = tmp_path / "leak"
    if case == "existing output":
        out.mkdir()
        (out / "adain-leak.json").write_text("{}")
        return out, [], "already exists"
    if case == "output is a folder":
        (out / "adain-leak-curve.png").mkdir(parents=True)
        return out, ["--overwrite"], "is a directory"
    if case == "folder under a file":
        (tmp_path / "notes.txt").write_text("x")
        return tmp_path / "notes.txt" / "leak", [], "a file, not a folder"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["existing output", "output is a folder", "folder under a file"])
def test_leak_checks_its_outputs_before_the_first_round(
    capsys, tmp_path, image_files, no_work, case
):
    out, flags, words = _leak_case(tmp_path, case)
    argv = ["leak", *image_files, "--method", "adain", "--rounds", "1", "-o", out, *flags]
    code, _, err = run_cli(capsys, *argv)
    refused(code, err, words)  # one line: no round was run (nor started, see no_work)


@pytest.mark.parametrize(
    "command",
    [[], ["sweep"], ["reproduce", "--only", "fig3"]],
    ids=["stylize", "sweep", "reproduce"],
)
def test_every_command_checks_its_output_folder_before_it_works(
    capsys, tmp_path, image_files, no_work, command
):
    (tmp_path / "notes.txt").write_text("x")
    under_a_file = tmp_path / "notes.txt" / "out"
    if command and command[0] == "reproduce":
        argv = [*command, "-o", under_a_file]
    else:
        argv = [*command, *image_files, "-o", f"{under_a_file}.png"]
    code, _, err = run_cli(capsys, *argv)
    refused(code, err, "notes.txt")


# --- temporary files -----------------------------------------------------------------------


def test_temporary_files_carry_the_mark_and_the_writers_pid(tmp_path):
    seen = []

    def write(temp):
        seen.append(Path(temp).name)
        Path(temp).write_bytes(b"x")

    files.write_atomically(tmp_path / "out.png", write)
    assert re.fullmatch(rf"\.out\.png\.painterly-tmp-{os.getpid()}-\w+", seen[0])
    assert os.listdir(tmp_path) == ["out.png"]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_temporary_file_left_by_a_dead_process_is_removed_at_the_next_write(tmp_path):
    dead = tmp_path / f".out.png.painterly-tmp-{_dead_pid()}-abc123"
    live = tmp_path / f".out.png.painterly-tmp-{os.getppid()}-abc123"
    ours = tmp_path / f".other.png.painterly-tmp-{os.getpid()}-abc123"
    unrelated = [tmp_path / ".out.png.abc123", tmp_path / "notes.painterly-tmp-1-x.txt"]
    for path in [dead, live, ours, *unrelated]:
        path.write_bytes(b"partial")
    images.save_image(Image.new("RGB", (16, 16)), tmp_path / "next.png")
    assert not dead.exists()
    assert all(p.exists() for p in [live, ours, *unrelated])


_SIGTERM_IN_SAVE = """
    import signal, sys
    from PIL import Image
    from painterly.commands import main

    real_save = Image.Image.save

    def save_then_sigterm(self, fp, *args, **kwargs):
        fp.write(b"half an image")
        fp.flush()
        signal.raise_signal(signal.SIGTERM)  # as if sent now, with the temporary file there
        return real_save(self, fp, *args, **kwargs)

    Image.Image.save = save_then_sigterm
    sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_during_the_final_save_exits_143_in_one_line_leaving_no_file(tmp_path, image_files):
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(_SIGTERM_IN_SAVE))
    out = tmp_path / "out" / "r.png"
    out.parent.mkdir()
    argv = [sys.executable, str(driver), *map(str, image_files), "-o", str(out), *FAST]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 143, done.stderr
    assert done.stderr == "painterly: terminated\n"
    assert os.listdir(out.parent) == []


def test_sigterm_mid_run_exits_143_in_one_line_leaving_no_temporary_file(tmp_path, image_files):
    out = tmp_path / "r.png"
    argv = [sys.executable, "-m", "painterly", *map(str, image_files), "-o", str(out)]
    argv += ["--size", "32", "--iterations", "100000", "--save-every", "1"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "1/100000" in proc.stderr.readline()  # the first evaluation is done: stop it now
    proc.send_signal(signal.SIGTERM)
    stdout, err = proc.communicate(timeout=120)
    assert proc.returncode == 143
    assert err.splitlines() == ["painterly: terminated"] and stdout == ""
    assert _temps(tmp_path) == [] and not out.exists()


# --- Ctrl-C ----------------------------------------------------------------------------------


@pytest.fixture()
def ctrl_c_raises():
    """Ctrl-C as at a terminal, also where the tests run as a background job that ignores it."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_during_the_final_save_finishes_the_image_then_reports_it(
    capsys, tmp_path, image_files, monkeypatch, ctrl_c_raises
):
    real_save = Image.Image.save

    def save_under_ctrl_c(self, fp, *args, **kwargs):
        signal.raise_signal(signal.SIGINT)  # the key is pressed while the encoder runs
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save_under_ctrl_c)
    out = tmp_path / "r.png"
    code, stdout, err = run_cli(capsys, *image_files, "-o", out, *FAST)
    assert code == 130 and stdout == ""
    assert err.splitlines() == [
        f"painterly: interrupted after the run had finished; its image is saved in {out.resolve()}"
    ]
    with Image.open(out) as saved:
        assert max(saved.size) == 32
    assert _temps(tmp_path) == []


def test_interrupts_deferred_hands_a_held_ctrl_c_on_at_the_end(ctrl_c_raises):
    with pytest.raises(KeyboardInterrupt), files.interrupts_deferred():
        signal.raise_signal(signal.SIGINT)
        finished = True  # reached: the interrupt waited for the block
    assert finished
    with files.interrupts_deferred(redeliver=False) as held:
        signal.raise_signal(signal.SIGINT)
    assert held == [signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


_CTRL_C_AT_TORCH = """
    import sys

    class CtrlCWhileTorchLoads:
        def find_spec(self, name, path=None, target=None):
            if name == "torch":
                raise KeyboardInterrupt
            return None

    sys.meta_path.insert(0, CtrlCWhileTorchLoads())
"""
_ENTRY_POINTS = {
    # What the ``painterly`` console script runs, and ``python -m painterly``.
    "console script": "from painterly.commands import main\nsys.exit(main())\n",
    "python -m": "import runpy\nrunpy.run_module('painterly', run_name='__main__')\n",
}


@pytest.mark.parametrize("entry", list(_ENTRY_POINTS))
def test_ctrl_c_while_torch_loads_prints_one_line_and_exits_130(tmp_path, image_files, entry):
    script = tmp_path / "start.py"
    script.write_text(textwrap.dedent(_CTRL_C_AT_TORCH) + _ENTRY_POINTS[entry])
    argv = [sys.executable, str(script), *map(str, image_files), "-o", str(tmp_path / "r.png")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (130, "painterly: interrupted\n")


# --- names in messages -----------------------------------------------------------------------

HOSTILE = "no\nsuch\x1b[31m\u2028dir"


@pytest.mark.parametrize("where", ["output folder", "content", "style", "existing output"])
def test_a_name_with_a_newline_and_an_escape_gives_one_line_without_raw_controls(
    capsys, tmp_path, image_files, where
):
    content, style = image_files
    out = tmp_path / "r.png"
    if where == "output folder":
        out = tmp_path / HOSTILE / "r.png"
    elif where == "content":
        content = tmp_path / f"{HOSTILE}.png"
    elif where == "style":
        style = tmp_path / f"{HOSTILE}.png"
    else:
        out = tmp_path / f"{HOSTILE}.png"
        out.write_bytes(b"old")
    code, _, err = run_cli(capsys, content, style, "-o", out, *FAST)
    line = refused(code, err)
    assert "\u2028" not in line and r"no\nsuch\x1b[31m\u2028dir" in line


def test_the_printed_output_path_is_escaped(capsys, tmp_path, image_files):
    out = tmp_path / "r\x1b[31m.png"
    code, stdout, _ = run_cli(capsys, *image_files, "-o", out, *FAST)
    assert code == 0 and out.exists()
    assert stdout == f"{tmp_path.resolve()}/r\\x1b[31m.png\n"


def test_printable_escapes_controls_and_keeps_other_text():
    assert printable("a\tb\nc\x1b[0m\x7f\x9b\u2028\u202e\udcff") == (
        r"a\tb\nc\x1b[0m\x7f\x9b\u2028\u202e\udcff"
    )
    assert printable("Tübingen – Nachtcafé 夜.png") == "Tübingen – Nachtcafé 夜.png"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_printable_text_is_one_line_without_controls(text):
    shown = printable(text)
    assert len(shown.splitlines()) <= 1
    assert not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in shown)
    if all(unicodedata.category(c) not in ("Cc", "Cs", "Zl", "Zp", "Cf") for c in text):
        assert shown == text


# --- memory advice -------------------------------------------------------------------------


def _plan_error(content_size, size, style_scale, free, monkeypatch, tile="auto"):
    monkeypatch.setattr(runtime, "available_bytes", lambda device: free)
    options = Options.build(
        size=size, iterations=1, style_scale=style_scale, device="cpu", tile=tile
    )
    content = Image.new("RGB", content_size)
    inputs = prepare_inputs(content, [Image.new("RGB", (64, 64))], options)
    try:
        resolve(options, inputs, gatys.network(options))
    except PainterlyError as error:
        return str(error)
    return None


def test_a_huge_style_scale_is_advised_down_and_following_the_advice_fits(monkeypatch):
    # Untiled, the 8192-px style does not fit and is what to lower; tiled (the default
    # auto), its targets are computed tile by tile and the run fits as it is.
    message = _plan_error((64, 48), 512, 16, 8 * 2**30, monkeypatch, tile="off")
    assert message and "--size" not in message
    advised = float(re.search(r"lower --style-scale to about (\S+)$", message)[1])
    assert 1 < advised < 16
    assert _plan_error((64, 48), 512, advised, 8 * 2**30, monkeypatch, tile="off") is None
    assert _plan_error((64, 48), 512, 16, 8 * 2**30, monkeypatch) is None


def _smallest_size(content_size, style_scale, min_side):
    """The smallest --size at which every image keeps ``min_side`` px, by plain search."""
    for size in range(1, 100_000):
        try:
            working_sizes(content_size, [(64, 64)], size, "long", style_scale, min_side)
        except PainterlyError:
            continue
        return size
    raise AssertionError("no size fits")


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(16, 64),
    height=st.integers(16, 64),
    size=st.floats(6, 15.3).map(lambda e: int(2**e)),
    style_scale=st.floats(-0.5, 1.2).map(lambda e: 10**e),  # up to MAX_STYLE_SCALE
    free=st.floats(28, 40).map(lambda e: int(2**e)),
)
def test_the_memory_advice_never_names_a_size_below_the_smallest_the_images_allow(
    width, height, size, style_scale, free
):
    with pytest.MonkeyPatch.context() as patch:
        message = _plan_error((width, height), size, style_scale, free, patch)
        if message is None or "network needs" in message:
            return
        smallest = _smallest_size((width, height), style_scale, 16)
        sizes = re.findall(r"--size (\d+)|(?:stage|than) (\d+) px", message)
        assert all(int(a or b) >= smallest for a, b in sizes), message
        style = re.search(r"lower --style-scale to about (\S+)$", message)
        if style:
            assert _plan_error((width, height), size, float(style[1]), free, patch) is None
        assert sizes or style or message.endswith("lower --style-scale first"), message
