"""``painterly reproduce --preview``: every sheet, its layout, its JSON, and its refusals.

The preview is shrunk further (32 px, 3 iterations) so the whole set runs in seconds.
"""

import contextlib
import dataclasses
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from painterly.commands import main
from painterly.config.options import Options
from painterly.errors import Interrupted
from painterly.report import reproduce, sheets

TINY = ((32, 3),)


def _main(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def preview(one_thread, tmp_path_factory):
    """One tiny preview of all the sheets, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("reproduce") / "sheets"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reproduce, "PREVIEW_STAGES", TINY)
        code, stdout, stderr = _main("reproduce", "--preview", "-o", out, "--device", "cpu")
    assert code == 0, stderr
    return out, stdout, stderr, json.loads((out / "reproduce.json").read_text())


@pytest.fixture()
def tiny(monkeypatch):
    monkeypatch.setattr(reproduce, "PREVIEW_STAGES", TINY)


def _pixels(img):
    return np.asarray(img.convert("RGB"), dtype=np.int16)


def test_preview_writes_every_sheet_as_png_and_small_jpeg(preview):
    out, stdout, stderr, _ = preview
    assert stdout.split() == [str(out.resolve() / f"{n}.png") for n in reproduce.SHEETS] + [
        str(out.resolve() / "reproduce.json")
    ]
    for name, sheet in reproduce.SHEETS.items():
        png, jpg = Image.open(out / f"{name}.png"), Image.open(out / f"{name}.jpg")
        assert (png.format, jpg.format) == ("PNG", "JPEG")
        assert (out / f"{name}.jpg").stat().st_size <= sheets.JPEG_MAX
        assert max(jpg.size) <= sheets.JPEG_SIDE
        assert abs(jpg.width / jpg.height - png.width / png.height) < 0.02
        assert sorted(p.name for p in (out / name).iterdir()) == sorted(
            f"{cell.id}.png" for cell in sheet.cells
        )
        # One progress line per cell, and the sheet's wall time.
        assert f"{name} {len(sheet.cells)}/{len(sheet.cells)} " in stderr
        assert f"{name}: {len(sheet.cells)} cells in " in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("name", list(reproduce.SHEETS))
def test_each_result_sits_in_its_row_and_column_of_the_sheet(preview, name):
    out, _, _, record = preview
    sheet = reproduce.SHEETS[name]
    canvas = _pixels(Image.open(out / f"{name}.png"))
    cells = record["sheets"][name]["cells"]
    n_rows = 1 + max(c.row for c in sheet.cells)
    n_cols = 1 + max(c.col for c in sheet.cells)
    assert len({c["box"][0] for c in cells}) == n_cols
    assert len({c["box"][1] for c in cells}) == n_rows
    if sheet.rows:
        assert n_rows == len(sheet.rows)
    if sheet.cols:
        assert n_cols == len(sheet.cols)
    for a in cells:
        for b in cells:  # later columns lie to the right, later rows below
            if a["col"] < b["col"]:
                assert a["box"][0] + a["box"][2] <= b["box"][0]
            if a["row"] < b["row"]:
                assert a["box"][1] + a["box"][3] <= b["box"][1]
    for cell in cells:
        x, y, w, h = cell["box"]
        assert x + w < canvas.shape[1] and y + h < canvas.shape[0]
        result = _pixels(Image.open(out / cell["image"]))
        assert result.shape[:2] == (h, w)  # the tiny results are shown at their own size
        shown = canvas[y : y + h, x : x + w].copy()
        if "inset" in cell:  # Figure 3: the style painting covers the lower-left corner
            ix, iy, iw, ih = cell["inset"]
            assert (ix, iy + ih) == (x, y + h) and 0 < iw < w and 0 < ih < h
            assert np.abs(shown[iy - y :, :iw] - result[iy - y :, :iw]).mean() > 5
            shown[iy - y :, :iw] = result[iy - y :, :iw]
        assert np.array_equal(shown, result)
    assert ("inset" in cells[0]) == (name in ("fig3", "calibration"))


def test_the_sheet_grows_with_its_rows_and_columns(preview):
    out, _, _, record = preview
    fig4 = Image.open(out / "fig4.png")
    boxes = [c["box"] for c in record["sheets"]["fig4"]["cells"]]
    assert len(boxes) == 5 * 4
    columns = sorted({x for x, *_ in boxes})
    rows = sorted({y for _, y, *_ in boxes})
    assert (len(columns), len(rows)) == (4, 5)
    pitch_x, pitch_y = columns[1] - columns[0], rows[1] - rows[0]
    assert np.diff(columns).tolist() == [pitch_x] * 3
    assert np.diff(rows).tolist() == [pitch_y] * 4
    _, _, w, h = boxes[-1]
    margin = sheets.MARGIN
    assert fig4.width >= 2 * margin + 4 * pitch_x - sheets.GAP
    assert fig4.width >= columns[-1] + w + margin and fig4.height >= rows[-1] + h + margin
    # Below the last row there is at most a caption and the margin.
    assert fig4.height - (rows[-1] + h) < pitch_y


def test_json_records_every_cell_with_its_options_and_finite_losses(preview):
    out, _, _, record = preview
    assert record["preview"] is True and record["preset"] == "gatys2016"
    fields = {f.name for f in dataclasses.fields(Options)}
    for name, sheet in reproduce.SHEETS.items():
        entry = record["sheets"][name]
        assert entry["seconds"] > 0 and entry["png"] == f"{name}.png"
        assert [c["id"] for c in entry["cells"]] == [c.id for c in sheet.cells]
        for cell, data in zip(sheet.cells, entry["cells"], strict=True):
            assert set(data["options"]) == fields
            options = Options(**data["options"])
            assert (options.size, options.iterations, options.scales) == (32, 3, ())
            assert (data["content"], data["style"]) == (cell.content, cell.style)
            assert data["iterations"] == 3
            assert set(data["losses"]) >= {"content", "style", "total"}
            assert all(math.isfinite(v) for v in data["losses"].values())
            assert max(Image.open(out / data["image"]).size) == 32
    fig3 = {c["style"]: c["options"] for c in record["sheets"]["fig3"]["cells"]}
    assert fig3["starry_night.jpg"]["style_weight"] == pytest.approx(1 / 8e-4)
    assert fig3["the_scream.jpg"]["style_weight"] == pytest.approx(1 / 5e-3)
    assert "wave.jpg" in fig3 and "Picasso" in record["sheets"]["fig3"]["note"]
    fig4 = record["sheets"]["fig4"]["cells"]
    assert [list(c["options"]["style_layers"]) for c in fig4[::4]] == [
        ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"][:n] for n in range(1, 6)
    ]
    assert fig4[-1]["options"]["style_layers"]["conv5_1"] == pytest.approx(0.2)
    layers = [c["options"]["content_layers"] for c in record["sheets"]["content-layer"]["cells"]]
    assert layers == [{"conv2_2": 1.0}, {"conv4_2": 1.0}]
    assert record["sheets"]["photo"]["cells"][0]["style"] == "rocket.jpg"


def test_noise_runs_differ_by_seed_and_image_inits_do_not(preview):
    out, _, _, record = preview
    entry = record["sheets"]["init"]
    cells = {c["id"]: c for c in entry["cells"]}
    differences = {tuple(d["cells"]): d["mean_abs_difference"] for d in entry["differences"]}
    for init in ("content", "style", "noise"):
        a, b = cells[f"{init}-seed1"], cells[f"{init}-seed2"]
        assert (a["options"]["seed"], b["options"]["seed"]) == (1, 2)
        assert a["options"]["init"] == b["options"]["init"] == init
        measured = np.abs(
            _pixels(Image.open(out / a["image"])) - _pixels(Image.open(out / b["image"]))
        ).mean()
        assert differences[(a["id"], b["id"])] == pytest.approx(measured)
        if init == "noise":
            assert measured > 1
        else:
            assert measured == 0


def test_a_folder_that_holds_files_is_refused_unless_overwrite(tmp_path, tiny):
    keep = tmp_path / "notes.txt"
    keep.write_text("keep me")
    code, stdout, stderr = _main("reproduce", "--preview", "--only", "photo", "-o", tmp_path)
    assert code == 2 and stdout == ""
    assert len(stderr.strip().splitlines()) == 1 and "--overwrite" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    code, _, stderr = _main(
        "reproduce", "--preview", "--only", "photo", "-o", tmp_path, "--overwrite", "-q"
    )
    assert code == 0, stderr
    assert keep.read_text() == "keep me" and (tmp_path / "photo.png").is_file()
    assert list(json.loads((tmp_path / "reproduce.json").read_text())["sheets"]) == ["photo"]


@pytest.mark.parametrize("only", ["fig3,fig5", "", "figure-4"])
def test_an_unknown_sheet_name_is_refused_in_one_line(tmp_path, only):
    out = tmp_path / "out"
    code, stdout, stderr = _main("reproduce", "--preview", "--only", only, "-o", out)
    assert code == 2 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("painterly: error: ")
    assert "fig3, fig4, calibration, content-layer, init, photo" in lines[0]
    assert not out.exists()


def test_missing_example_images_are_refused_before_any_run(tmp_path):
    examples = tmp_path / "examples"
    examples.mkdir()
    Image.new("RGB", (64, 48)).save(examples / "tubingen.jpg")
    out = tmp_path / "out"
    code, _, stderr = _main("reproduce", "--only", "photo", "--examples", examples, "-o", out)
    assert code == 2 and "rocket.jpg" in stderr and "--examples" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_ctrl_c_stops_and_names_the_completed_sheets(tmp_path, tiny, monkeypatch):
    real_run = reproduce.run

    def run(content, style, options, callback=None):
        if isinstance(style, Image.Image) and style.size == (640, 427):  # rocket.jpg: photo
            raise Interrupted(None, 1)
        return real_run(content, style, options, callback)

    monkeypatch.setattr(reproduce, "run", run)
    out = tmp_path / "out"
    code, stdout, stderr = _main("reproduce", "--preview", "--only", "photo,init", "-o", out)
    assert code == 130 and stdout == ""
    assert "interrupted; sheets completed: init " in stderr
    assert list(json.loads((out / "reproduce.json").read_text())["sheets"]) == ["init"]
    assert (out / "init.png").is_file() and not (out / "photo.png").exists()


def test_ratios_print_as_in_the_paper():
    assert [reproduce.ratio_text(r) for r in (8e-4, 1e-3, 5e-3, 1e-5)] == [
        "8e-4",
        "1e-3",
        "5e-3",
        "1e-5",
    ]
