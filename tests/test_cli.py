"""The command line: a real run, and every kind of bad input it must refuse cleanly."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from painterly.commands import main

FAST = ["--size", "48", "--iterations", "3"]


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_refused(code, err, out_path, *words):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("painterly: error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]
    assert not Path(out_path).exists()
    # No temporary files left behind either.
    assert not [p for p in Path(out_path).parent.glob(".*") if p.is_file()]


def test_a_run_writes_the_image_and_prints_its_path(capsys, tmp_path, image_files):
    out = tmp_path / "result.jpg"
    code, stdout, err = _run(capsys, *image_files, "-o", out, *FAST)
    assert code == 0
    assert stdout.strip() == str(out.resolve())
    assert Image.open(out).format == "JPEG" and max(Image.open(out).size) == 48
    assert "3/3" in err


def test_save_every_writes_intermediate_images(capsys, tmp_path, image_files):
    out = tmp_path / "r.png"
    code, _, _ = _run(capsys, *image_files, "-o", out, *FAST, "--save-every", "1", "-q")
    assert code == 0
    assert sorted(p.name for p in tmp_path.glob("r.iter*.png")) == [
        "r.iter0001.png",
        "r.iter0002.png",
        "r.iter0003.png",
    ]


def test_explicit_size_and_iterations_replace_a_presets_stages(
    capsys, tmp_path, image_files, one_thread
):
    # gatys-notebook's own schedule is 500 evaluations at 512 px, then 200 at 800 px.
    out = tmp_path / "r.png"
    argv = ["--preset", "gatys-notebook", "--size", "32", "--iterations", "2", "-q"]
    code, _, _ = _run(capsys, *image_files, "-o", out, *argv, "--save-every", "1")
    assert code == 0
    assert min(Image.open(out).size) == 32  # the preset sets the short side
    assert sorted(p.name for p in tmp_path.glob("r.iter*.png")) == [
        "r.iter0001.png",
        "r.iter0002.png",
    ]


def test_existing_output_is_refused_unless_overwrite(capsys, tmp_path, image_files):
    out = tmp_path / "r.png"
    out.write_bytes(b"keep me")
    code, _, err = _run(capsys, *image_files, "-o", out, *FAST)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"keep me"
    code, _, _ = _run(capsys, *image_files, "-o", out, *FAST, "--overwrite", "-q")
    assert code == 0 and Image.open(out).size[0] == 48


def _bad_files(tmp_path, image_files):
    content, style = image_files
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    truncated = tmp_path / "cut.jpg"
    Image.open(content).save(truncated, quality=90)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1)).save(tiny)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    return {
        "missing": (tmp_path / "nope.jpg", "nope.jpg"),
        "directory": (tmp_path, "directory"),
        "not an image": (text, "notes.png"),
        "truncated": (truncated, "cut.jpg"),
        "one pixel": (tiny, "1x1"),
        "zero bytes": (empty, "empty.png"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "directory", "not an image", "truncated", "one pixel", "zero bytes"]
)
@pytest.mark.parametrize("role", ["content", "style"])
def test_bad_image_inputs_are_refused(capsys, tmp_path, image_files, case, role):
    bad, word = _bad_files(tmp_path, image_files)[case]
    content, style = image_files
    argv = (bad, style) if role == "content" else (content, bad)
    out = tmp_path / "out" / "r.png"
    out.parent.mkdir()
    code, _, err = _run(capsys, *argv, "-o", out, *FAST)
    _assert_refused(code, err, out, word)


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--style-layers", "conv1_1,conv9_1"], ["unknown layer", "conv9_1"]),
        (["--content-layers", "fc7"], ["unknown layer"]),
        (["--style-weight", "-1"], ["style weight", "at least 0"]),
        (["--content-weight", "lots"], ["content weight", "number"]),
        (["--style-layers", "conv1_1:-0.5"], ["conv1_1", "at least 0"]),
        (["--iterations", "many"], ["iterations"]),
        (["--ratio", "0"], ["ratio"]),
        (["--size", "60000"], ["GiB", "largest size that fits", "--size"]),
        (["--size", "100000"], ["size", "≤ 65535"]),
        (["--size", "9" * 401], ["size must be a whole number ≤ 65535, not '999"]),
        (["--seed", "18446744073709551616"], ["seed", "≤ 18446744073709551615"]),
        (["--style-scale", "1e308"], ["style scale must be at most 16"]),
        (["--style-weight", "1" * 400], ["style weight must be at most 1e+30"]),
        (["--strength", "1.5"], ["strength", "between 0 and 1"]),
        (["--strength", "0.5", "--ratio", "1e-3"], ["--strength", "not both"]),
        (["--style-blend", "0.7,0.3"], ["--style-blend has 2 weights but 1 style image"]),
        (["--style-blend", "-1"], ["--style-blend weight", "at least 0"]),
        (["--preserve-color", "sepia"], ["preserve color", "luminance, histogram"]),
        (["--bogus-flag"], ["unrecognized arguments"]),
    ],
)
def test_bad_options_are_refused(capsys, tmp_path, image_files, flags, words):
    out = tmp_path / "r.png"
    code, _, err = _run(capsys, *image_files, "-o", out, "--iterations", "3", *flags)
    _assert_refused(code, err, out, *words)


def test_missing_output_directory_is_refused(capsys, tmp_path, image_files):
    out = tmp_path / "no" / "such" / "r.png"
    code, _, err = _run(capsys, *image_files, "-o", out, *FAST)
    _assert_refused(code, err, out, "does not exist")


@pytest.fixture()
def unwritable_dir(tmp_path):
    """A directory this process cannot create files in, even as root (immutable bit)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    immutable = False
    if os.geteuid() == 0:
        immutable = (
            subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode == 0
        )
        if not immutable:
            locked = Path("/sys")  # sysfs refuses new files, also to root
    yield locked
    if immutable:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    if locked != Path("/sys"):
        locked.chmod(0o700)


def test_unwritable_output_directory_is_refused(capsys, image_files, unwritable_dir):
    out = unwritable_dir / "r.png"
    code, _, err = _run(capsys, *image_files, "-o", out, *FAST)
    _assert_refused(code, err, out, "not writable")


def test_unsupported_output_extension_is_refused(capsys, tmp_path, image_files):
    out = tmp_path / "r.xyz"
    code, _, err = _run(capsys, *image_files, "-o", out, *FAST)
    _assert_refused(code, err, out, ".xyz")


def _mask_file(path, size, box):
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    mask.save(path)
    return path


@pytest.mark.parametrize("case", ["overlap", "not an image", "styles as well", "no style"])
def test_bad_masks_are_refused(capsys, tmp_path, image_files, case):
    content, style = image_files
    size = Image.open(content).size
    whole = _mask_file(tmp_path / "whole.png", size, (0, 0, *size))
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    argv, words = {
        "overlap": ([f"--mask={whole}:{style}", "--mask", f"{whole}:{style}"], ["overlap"]),
        "not an image": (["--mask", f"{text}:{style}"], ["mask", "notes.png", "not an image"]),
        "styles as well": ([style, "--mask", f"{whole}:{style}"], ["no STYLE images"]),
        "no style": ([], ["at least one style image"]),
    }[case]
    out = tmp_path / "r.png"
    code, _, err = _run(capsys, content, *argv, "-o", out, *FAST)
    _assert_refused(code, err, out, *words)


def test_a_mask_of_another_size_is_resized_with_a_one_line_note(capsys, tmp_path, image_files):
    content, style = image_files
    mask = _mask_file(tmp_path / "half.png", (20, 20), (0, 0, 10, 20))
    out = tmp_path / "r.png"
    code, _, err = _run(capsys, content, "-o", out, "--mask", f"{mask}:{style}", *FAST, "-q")
    assert code == 0 and out.exists()
    notes = [line for line in err.splitlines() if line.startswith("painterly: note: ")]
    assert len(notes) == 1 and "resized" in notes[0]


def test_several_styles_by_argument_and_by_flag(capsys, tmp_path, image_files):
    content, style = image_files
    out = tmp_path / "r.png"
    argv = [content, style, "--style", style, "--style-blend", "1,3", "-o", out, *FAST, "-q"]
    code, stdout, _ = _run(capsys, *argv)
    assert code == 0 and stdout.strip() == str(out.resolve())


def test_help_documents_every_option_with_its_default(capsys):
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    from painterly.commands.common import option_flag
    from painterly.config.options import option_fields

    for f in option_fields():
        assert option_flag(f) in text
    assert text.count("(default:") >= len(option_fields())
    assert "(default: conv4_2:1)" in text


def test_ctrl_c_saves_the_best_image_next_to_the_output(tmp_path, image_files):
    out = tmp_path / "r.png"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "painterly",
            *map(str, image_files),
            "-o",
            str(out),
            "--size",
            "48",
            "--iterations",
            "100000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job (as CI may be) ignores SIGINT and its children inherit
        # that; give the child a terminal's default so that Python turns it into Ctrl-C.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # The first progress line comes after the first evaluation: interrupt then.
    first = proc.stderr.readline()
    assert "1/100000" in first
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in err
    saved = tmp_path / "r.interrupted.png"
    assert str(saved) in err
    assert Image.open(saved).size[0] == 48
    assert not out.exists()
