"""Content leak: the similarity measures, the rounds on cases with known answers, the command."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES
from PIL import Image, ImageFilter

from painterly.commands import main
from painterly.report import leak
from painterly.report.similarity import edge_agreement, sobel_magnitude, ssim


def _noisy(image: Image.Image, amount: float, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    x = np.asarray(image, float) + rng.normal(0, 255 * amount, (image.height, image.width, 3))
    return Image.fromarray(np.clip(x, 0, 255).round().astype(np.uint8))


# --- the measures ---------------------------------------------------------------------------


def test_ssim_of_an_image_with_itself_is_one(content_image):
    assert ssim(content_image, content_image) == pytest.approx(1.0, abs=1e-12)


def test_ssim_falls_as_noise_grows(content_image):
    values = [ssim(content_image, _noisy(content_image, a)) for a in (0.02, 0.05, 0.1, 0.3)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False)), values
    assert values[0] < 1.0 and values[-1] < 0.3


def test_ssim_is_symmetric_and_ignores_colour_at_equal_luminance(content_image):
    noisy = _noisy(content_image, 0.1)
    assert ssim(content_image, noisy) == pytest.approx(ssim(noisy, content_image), abs=1e-12)
    grey = np.full((40, 40), 0.5)
    assert ssim(grey, grey) == pytest.approx(1.0)
    assert ssim(grey, np.full((40, 40), 0.3)) < 0.9  # a change of mean brightness counts


def test_ssim_agrees_with_a_hand_computed_uniform_case():
    """Two flat images: σ = 0, so SSIM = (2 μa μb + C1) / (μa² + μb² + C1)."""
    a, b = np.full((20, 20), 0.2), np.full((20, 20), 0.6)
    c1 = 0.01**2
    assert ssim(a, b) == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1), rel=1e-9)


def test_sobel_finds_a_vertical_edge_where_it_is():
    step = np.zeros((10, 10))
    step[:, 5:] = 1.0
    magnitude = sobel_magnitude(step)
    assert np.all(magnitude[:, 4:6] == 4.0)  # the Sobel x kernel sums to 4 across a unit step
    assert np.all(magnitude[:, :3] == 0.0) and np.all(magnitude[:, 7:] == 0.0)


def test_edge_agreement_is_one_for_itself_and_falls_with_blur_and_shift(content_image):
    assert edge_agreement(content_image, content_image) == pytest.approx(1.0)
    blurred = [content_image.filter(ImageFilter.GaussianBlur(r)) for r in (1, 2, 4)]
    values = [edge_agreement(content_image, b) for b in blurred]
    assert all(a > b for a, b in zip(values, values[1:], strict=False)), values
    mirrored = content_image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert edge_agreement(content_image, mirrored) < 0.5 * values[0]
    flat = np.full((20, 20), 0.5)
    assert edge_agreement(flat, flat) == 1.0
    assert (
        edge_agreement(flat, np.asarray(content_image.convert("L").crop((0, 0, 20, 20))) / 255)
        == 0.0
    )


# --- rounds with known answers ----------------------------------------------------------------


def test_identity_method_leaks_nothing(content_image, style_image):
    outputs, records = leak.continuous_rounds(
        content_image, [style_image], lambda c, s: c, rounds=5
    )
    assert len(outputs) == 5
    for record in records:
        assert record["ssim"] == pytest.approx(1.0) and record["edges"] == pytest.approx(1.0)
    _, back, trip = leak.round_trip(content_image, style_image, lambda c, s: c)
    assert trip["ssim"] == pytest.approx(1.0) and trip["edges"] == pytest.approx(1.0)


def test_an_output_that_is_its_resized_input_scores_one():
    # A method working at a smaller size than the photograph's gets it resized; giving that
    # back exactly (a reversible method's round trip) must score 1, not what resampling the
    # photograph straight to the comparison size instead differs by.
    photo = Image.open(EXAMPLES / "tubingen.jpg").convert("RGB")
    received = photo.resize((192, 144), Image.Resampling.LANCZOS)
    assert leak.compare(received, photo) == {"ssim": 1.0, "edges": 1.0}


def test_a_method_that_returns_the_style_keeps_no_more_than_the_style_does(
    content_image, style_image
):
    def paint_over(content: Image.Image, style: Image.Image) -> Image.Image:
        return style.resize(content.size)

    _, records = leak.continuous_rounds(content_image, [style_image], paint_over, rounds=3)
    unrelated = leak.compare(style_image.resize(content_image.size), content_image)
    for record in records:
        assert record["ssim"] == pytest.approx(unrelated["ssim"])
        assert record["ssim"] < 0.5 and record["edges"] < 0.5


def test_a_lossy_method_loses_more_each_round(content_image, style_image):
    def blur(content: Image.Image, style: Image.Image) -> Image.Image:
        return content.filter(ImageFilter.GaussianBlur(1))

    _, records = leak.continuous_rounds(content_image, [style_image], blur, rounds=4)
    ssims = [r["ssim"] for r in records]
    assert all(a > b for a, b in zip(ssims, ssims[1:], strict=False)), ssims


def test_styles_are_taken_in_turn(content_image, style_image):
    seen = []

    def record_style(content: Image.Image, style: Image.Image) -> Image.Image:
        seen.append(style)
        return content

    styles = [style_image, content_image, style_image.rotate(90)]
    _, records = leak.continuous_rounds(content_image, styles, record_style, rounds=5)
    assert [r["style"] for r in records] == [0, 1, 2, 0, 1]
    assert [id(s) for s in seen] == [id(styles[i]) for i in (0, 1, 2, 0, 1)]


def test_round_trip_stylises_with_the_photograph_as_the_second_style(content_image, style_image):
    calls = []

    def note(content: Image.Image, style: Image.Image) -> Image.Image:
        calls.append((content, style))
        return style.resize(content.size)

    there, back, _ = leak.round_trip(content_image, style_image, note)
    assert calls[0] == (content_image, style_image)
    assert calls[1][0] is there and calls[1][1] is content_image
    assert np.array_equal(np.asarray(back), np.asarray(content_image))


def test_sheet_rounds():
    assert leak.sheet_rounds(20) == [1, 5, 10, 20]
    assert leak.sheet_rounds(7) == [1, 5, 7]
    assert leak.sheet_rounds(1) == [1]


# --- the command ------------------------------------------------------------------------------


def test_leak_command_writes_json_curve_and_sheet(capsys, tmp_path, image_files, one_thread):
    out = tmp_path / "leak"
    code = main(["leak", *map(str, image_files), "--method", "adain", "--size", "64",
                 "--rounds", "3", "-o", str(out), "-q"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "adain-leak.json").read_text())
    assert [r["round"] for r in report["rounds"]] == [1, 2, 3]
    assert all(0 < r["ssim"] < 1 and -1 <= r["edges"] < 1 for r in report["rounds"])
    assert report["round_trip"]["ssim"] > 0
    assert report["size"] == [64, 48]
    with Image.open(out / "adain-leak-sheet.jpg") as sheet:
        assert sheet.format == "JPEG"
    assert (out / "adain-leak-curve.png").stat().st_size > 1000
    assert capsys.readouterr().out.strip() == str(out / "adain-leak.json")


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--rounds", "0"], "--rounds must be between 1 and 1000"),
        (["--rounds", "x"], "--rounds must be a whole number"),
        (["--method", "johnson"], "method must be one of gatys, adain, wct, artflow"),
        (["--style-blend", "1,1"], "no --style-blend"),
        (["--method", "adain", "--scales", "64:10"], "--scales belongs to the optimisation"),
    ],
)
def test_leak_refuses_bad_input_in_one_sentence_writing_nothing(
    capsys, tmp_path, image_files, flags, words
):
    out = tmp_path / "leak"
    code = main(["leak", *map(str, image_files), "-o", str(out), *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert not out.exists()


def test_leak_refuses_existing_outputs_without_overwrite(capsys, tmp_path, image_files):
    out = tmp_path / "leak"
    out.mkdir()
    (out / "wct-leak.json").write_text("{}")
    code = main(["leak", *map(str, image_files), "--method", "wct", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "already exists; pass --overwrite" in err
    assert sorted(p.name for p in Path(out).iterdir()) == ["wct-leak.json"]
