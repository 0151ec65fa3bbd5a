"""Output for print: 16-bit PNG and TIFF at the result's full precision, the sRGB profile in
every file, the content's EXIF carried over upright, --dpi written, and 16-bit content read
at its precision; every refusal one sentence before any work, with nothing written."""

import io

import cv2
import numpy as np
import pytest
import tifffile
import torch
from cli_helpers import refused, run_cli
from PIL import ExifTags, Image, ImageCms

import painterly
import painterly.api
from painterly.errors import PainterlyError
from painterly.io import deep, images

FAST = ["--size", "32", "--iterations", "2", "-q"]
MAKE, MODEL = "Painterly Camera Co.", "PX-1"


def _samples16(path):
    """The file's 16-bit RGB samples, read by a library other than the one that wrote them."""
    if path.suffix == ".png":
        return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]
    return tifffile.imread(path)


def _gradient(height=48, width=64):
    """16-bit RGB with every sample different: 9216 levels, far more than 8 bits hold."""
    ramp = np.linspace(0, 65535, height * width * 3).round().astype(np.uint16)
    return ramp.reshape(height, width, 3)


def _write16(path, samples):
    if path.suffix == ".png":
        assert cv2.imwrite(str(path), np.ascontiguousarray(samples[..., ::-1]))
    else:
        tifffile.imwrite(path, samples, photometric="rgb")


@pytest.fixture()
def no_work(monkeypatch):
    def ran(*args, **kwargs):
        raise AssertionError("the run started before the refusal")

    monkeypatch.setattr(painterly.api, "run", ran)


@pytest.fixture()
def turned_content(tmp_path, content_image):
    """A JPEG stored landscape with EXIF Orientation 6 (shown turned 90° clockwise), a Make
    and a Model; returns its path and the image as a viewer shows it (portrait)."""
    stored = content_image.resize((64, 48))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = MAKE
    exif[ExifTags.Base.Model] = MODEL
    exif[ExifTags.Base.Orientation] = 6
    path = tmp_path / "turned.jpg"
    stored.save(path, quality=95, exif=exif.tobytes())
    return path, stored.transpose(Image.Transpose.ROTATE_270)


# --- 16-bit output ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_a_16_bit_file_holds_the_tensor_to_one_level_in_65535(tmp_path, suffix):
    tensor = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(1))
    path = images.save_image(images.to_image(tensor, 16), tmp_path / f"out{suffix}", bit_depth=16)
    samples = _samples16(path)
    assert samples.dtype == np.uint16 and samples.shape == (40, 56, 3)
    assert len(np.unique(samples)) > 256
    error = np.abs(samples / 65535.0 - tensor[0].permute(1, 2, 0).double().numpy())
    assert error.max() <= 0.5 / 65535 + 1e-9
    assert np.any(samples % 257), "an 8-bit image scaled up is all multiples of 257"


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_the_cli_writes_16_bit_from_the_run_not_from_its_8_bit_image(
    capsys, tmp_path, image_files, suffix
):
    out = tmp_path / f"r{suffix}"
    code, _, err = run_cli(capsys, *image_files, "-o", out, *FAST, "--bit-depth", "16")
    assert code == 0, err
    samples = _samples16(out)
    assert samples.dtype == np.uint16 and len(np.unique(samples)) > 256
    with Image.open(out) as eight_bit:  # Pillow reads 16-bit RGB as 8 bits: the same picture
        view = np.asarray(eight_bit.convert("RGB"), dtype=np.float64)
    assert np.abs(samples / 257.0 - view).max() <= 1.0
    assert np.any(samples % 257)


def test_the_api_result_saves_what_its_deep_image_holds(tmp_path, content_image, style_image):
    result = painterly.run(
        content_image, style_image, painterly.Options(size=32, iterations=2, bit_depth=16)
    )
    assert isinstance(result.image, deep.DeepImage)
    saved = result.save(tmp_path / "api.tif")
    assert np.array_equal(tifffile.imread(saved), result.image.samples)
    assert isinstance(
        painterly.stylize(content_image, style_image, size=32, iterations=1, bit_depth=16),
        deep.DeepImage,
    )


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".webp", ".bmp"])
def test_16_bit_to_an_8_bit_format_is_refused_before_any_work(
    capsys, tmp_path, image_files, no_work, suffix
):
    out = tmp_path / f"r{suffix}"
    code, _, err = run_cli(capsys, *image_files, "-o", out, *FAST, "--bit-depth", "16")
    refused(code, err, "8 bits a channel", ".png or .tif")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "content.png",
        "style.png",
    ]


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--bit-depth", "12"], "bit depth must be 8 or 16"),
        (["--bit-depth", "sixteen"], "bit depth must be 8 or 16"),
        (["--dpi", "0"], "dpi"),
        (["--dpi", "-300"], "dpi"),
        (["--dpi", "1000000"], "dpi"),
        (["--dpi", "72.5"], "dpi"),
        (["--bit-depth", "16", "--preserve-color", "luminance"], "finishes the result in 8 bits"),
        (["--bit-depth", "16", "--photo-smooth", "fast"], "finishes the result in 8 bits"),
    ],
)
def test_a_bad_bit_depth_or_dpi_is_one_sentence_and_nothing_is_written(
    capsys, tmp_path, image_files, no_work, flags, words
):
    out = tmp_path / "r.png"
    code, _, err = run_cli(capsys, *image_files, "-o", out, *FAST, *flags)
    refused(code, err, words)
    assert not out.exists()


def test_the_api_refuses_a_bad_bit_depth_and_dpi():
    with pytest.raises(PainterlyError, match="bit depth must be 8 or 16"):
        painterly.Options.build(bit_depth=24)
    with pytest.raises(PainterlyError, match="dpi"):
        painterly.Options.build(dpi=0)
    assert painterly.Options.build(bit_depth="16", dpi="300").dpi == 300


# --- the sRGB profile, EXIF and resolution -------------------------------------------------


CASES = [(".png", 8), (".jpg", 8), (".tif", 8), (".webp", 8), (".png", 16), (".tif", 16)]


@pytest.mark.parametrize("suffix, depth", CASES)
def test_every_output_embeds_the_srgb_profile(tmp_path, content_image, suffix, depth):
    path = images.save_image(content_image, tmp_path / f"out{suffix}", bit_depth=depth)
    with Image.open(path) as saved:
        icc = saved.info.get("icc_profile")
    assert icc == deep.srgb_profile()
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    assert "sRGB" in ImageCms.getProfileDescription(profile)


@pytest.mark.parametrize("suffix, depth", CASES)
def test_dpi_is_written_in_the_file(tmp_path, content_image, suffix, depth):
    path = images.save_image(content_image, tmp_path / f"o{suffix}", bit_depth=depth, dpi=300)
    with Image.open(path) as saved:
        exif = saved.getexif()
        if suffix == ".webp":  # WebP has no density field of its own: EXIF's resolution
            assert (exif[ExifTags.Base.XResolution], exif[ExifTags.Base.ResolutionUnit]) == (
                300,
                2,
            )
        else:  # PNG pHYs (in pixels a metre, so 300 dpi is 11811 and reads back 299.9994)
            assert saved.info["dpi"] == pytest.approx((300, 300), abs=1e-3)
    if suffix == ".png":
        assert b"pHYs" in path.read_bytes()


@pytest.mark.parametrize("suffix, depth", CASES)
def test_the_contents_exif_reaches_the_output_upright(
    capsys, tmp_path, turned_content, style_image, suffix, depth
):
    content, upright = turned_content
    style = tmp_path / "style.png"
    style_image.save(style)
    out = tmp_path / f"r{suffix}"
    # No style weight and a content start: the output is the content, upright or not.
    argv = [content, style, "-o", out, "--size", "64", "--iterations", "2", "-q"]
    code, _, err = run_cli(
        capsys, *argv, "--style-weight", "0", "--init", "content", "--bit-depth", str(depth)
    )
    assert code == 0, err
    with Image.open(out) as saved:
        exif = saved.getexif()
        assert saved.size == (48, 64), "the output is portrait, as the photograph is shown"
        pixels = np.asarray(saved.convert("RGB"), dtype=np.float64)
    assert exif.get(ExifTags.Base.Make) == MAKE and exif.get(ExifTags.Base.Model) == MODEL
    assert exif.get(ExifTags.Base.Orientation, 1) == 1
    shown = np.asarray(upright, dtype=np.float64)
    turned_back = np.asarray(upright.transpose(Image.Transpose.ROTATE_180), dtype=np.float64)
    assert np.abs(pixels - shown).mean() < 10 < np.abs(pixels - turned_back).mean()


def test_a_16_bit_tiff_carries_the_exif_texts_as_tiff_tags(tmp_path, content_image):
    exif = Image.Exif()
    exif[ExifTags.Base.Make], exif[ExifTags.Base.Orientation] = MAKE, 8
    path = images.save_image(
        content_image, tmp_path / "o.tif", bit_depth=16, exif=exif.tobytes(), dpi=600
    )
    with tifffile.TiffFile(path) as tiff:
        tags = tiff.pages[0].tags
        assert tags["Make"].value == MAKE and "Orientation" not in tags
        assert tags["XResolution"].value == (600, 1) and 34675 in tags


# --- 16-bit content ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["c.png", "c.tif"])
def test_16_bit_rgb_content_reaches_the_tensor_at_its_precision(tmp_path, name):
    path, samples = tmp_path / name, _gradient()
    _write16(path, samples)
    loaded = images.load_image(path, "content image")
    tensor = images.to_tensor(loaded)[0].permute(1, 2, 0).double().numpy()
    assert len(np.unique(tensor)) > 256
    assert np.abs(tensor - samples / 65535.0).max() < 1e-7
    # The 8-bit image the rest of the pipeline sees (Pillow keeps the high bytes) agrees.
    assert np.abs(np.asarray(loaded, dtype=np.float64) - samples / 257.0).max() < 1


def test_16_bit_grey_content_reaches_the_tensor_at_its_precision(tmp_path):
    grey = _gradient()[..., 0]
    path = tmp_path / "g.png"
    Image.fromarray(grey).save(path)  # Pillow writes a 2-D uint16 array as 16-bit grey
    tensor = images.to_tensor(images.load_image(path))[0].double().numpy()
    assert len(np.unique(tensor)) > 256
    for channel in tensor:
        assert np.abs(channel - grey / 65535.0).max() < 1e-7


def test_16_bit_content_stays_16_bit_when_resized_for_a_stage(tmp_path):
    path = tmp_path / "c.png"
    _write16(path, _gradient())
    loaded = images.load_image(path)
    assert np.array_equal(images.to_tensor(loaded.resize(loaded.size)), images.to_tensor(loaded))
    half = loaded.resize((32, 24), Image.Resampling.LANCZOS)
    assert isinstance(half, deep.DeepImage) and half.samples.shape == (24, 32, 3)
    assert len(np.unique(images.to_tensor(half))) > 256
    # Any other operation gives the plain 8-bit image: no samples of other pixels.
    assert not isinstance(loaded.crop((0, 0, 16, 16)), deep.DeepImage)


def test_16_bit_content_with_an_orientation_is_read_upright(tmp_path):
    samples = _gradient()
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    path = tmp_path / "c.png"
    _write16(path, samples)
    data = path.read_bytes()
    chunk = io.BytesIO()
    from PIL import PngImagePlugin

    PngImagePlugin.putchunk(chunk, b"eXIf", exif.tobytes()[6:])
    path.write_bytes(data[:33] + chunk.getvalue() + data[33:])
    loaded = images.load_image(path)
    assert loaded.size == (48, 64)
    turned = np.rot90(samples, -1)  # Orientation 6: shown turned 90° clockwise
    assert np.array_equal(loaded.samples, turned)
    assert np.abs(np.asarray(loaded, dtype=np.float64) - turned / 257.0).max() < 1
