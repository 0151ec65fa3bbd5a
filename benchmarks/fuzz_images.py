"""Coverage-guided fuzzing of the image readers with atheris (outside CI; see docs/reliability.md).

    pip install atheris
    nice python benchmarks/fuzz_images.py -max_total_time=300 corpus_dir
    python benchmarks/fuzz_images.py -runs=100000 corpus_dir

Each input is written to a file and read by :func:`painterly.io.images.load_image`, and the
same bytes are given to :func:`painterly.studio.uploads.decode_upload`. Either must return
an 8-bit RGB image within the limits or refuse it with one sentence (PainterlyError,
UploadRejected), and no warning may escape; anything else is a crash, which libFuzzer saves
as ``crash-*`` for a regression test (an input that takes over 10 s, as ``slow-unit-*``;
``-report_slow_units=N`` changes that). An empty ``corpus_dir`` is first seeded with
:func:`seed_images`, which the property tests (tests/test_images_fuzz.py) share.

atheris is imported only when this file runs, so that importing :func:`seed_images` (as the
tests do) needs neither atheris nor its instrumentation.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used, so that atheris can instrument it first
    from PIL import Image

SEED_SIDE = 24
"""Side of the seed images: over the 16 px minimum, small enough that mutations hit headers."""


def _picture() -> Image.Image:
    """Noise with a block of one colour: real entropy-coded data for every format (a flat
    image compresses to almost nothing and exercises less of the decoder)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (SEED_SIDE - 4, SEED_SIDE, 3), dtype=np.uint8)
    rgb[: SEED_SIDE // 2, : SEED_SIDE // 2] = (200, 40, 10)
    return Image.fromarray(rgb)


def _encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _exif_rotated() -> Image.Exif:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    return exif


def seed_images() -> dict[str, bytes]:
    """Small valid files of every format and mode painterly reads, by a descriptive name.

    They cover the branches of the readers and of :func:`~painterly.io.images.to_rgb`:
    palettes and transparency, 16-bit and float samples, CMYK, ICC profiles, EXIF
    orientation, text chunks, several frames, and each TIFF compression.
    """
    import numpy as np
    from PIL import Image, ImageCms, PngImagePlugin, features

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = _picture()
    grey = np.asarray(rgb.convert("L"))
    grey16 = Image.fromarray(grey.astype(np.uint16) * 257)  # mode I;16
    grey_float = Image.fromarray(grey.astype(np.float32) / 255.0)  # mode F
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    second = rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    png_text = PngImagePlugin.PngInfo()
    png_text.add_text("Comment", "painterly " * 20, zip=True)
    png_text.add_text("Title", "seed")
    seeds = {
        "rgb.jpg": _encode(rgb, "JPEG", quality=80),
        "grey.jpg": _encode(rgb.convert("L"), "JPEG"),
        "cmyk.jpg": _encode(rgb.convert("CMYK"), "JPEG"),
        "progressive.jpg": _encode(rgb, "JPEG", progressive=True, subsampling=2),
        "rotated-icc.jpg": _encode(rgb, "JPEG", exif=_exif_rotated(), icc_profile=srgb),
        "bilevel.png": _encode(rgb.convert("1"), "PNG"),
        "grey.png": _encode(rgb.convert("L"), "PNG"),
        "grey-alpha.png": _encode(rgb.convert("LA"), "PNG"),
        "palette.png": _encode(palette, "PNG", transparency=0),
        "rgb-text-icc.png": _encode(rgb, "PNG", pnginfo=png_text, icc_profile=srgb),
        "rgba.png": _encode(rgba, "PNG"),
        "16bit.png": _encode(grey16, "PNG"),
        "rotated.png": _encode(rgb, "PNG", exif=_exif_rotated()),
        "lossy.webp": _encode(rgb, "WEBP", quality=50),
        "lossless-alpha.webp": _encode(rgba, "WEBP", lossless=True),
        "animated.webp": _encode(rgb, "WEBP", save_all=True, append_images=[second]),
        "raw.tif": _encode(rgb, "TIFF"),
        "deflate-grey.tif": _encode(rgb.convert("L"), "TIFF", compression="tiff_deflate"),
        "lzw-rgba.tif": _encode(rgba, "TIFF", compression="tiff_lzw"),
        "packbits-bilevel.tif": _encode(rgb.convert("1"), "TIFF", compression="packbits"),
        "group4.tif": _encode(rgb.convert("1"), "TIFF", compression="group4"),
        "jpeg.tif": _encode(rgb, "TIFF", compression="jpeg"),
        "cmyk.tif": _encode(rgb.convert("CMYK"), "TIFF", exif=_exif_rotated()),
        "16bit.tif": _encode(grey16, "TIFF"),
        "float.tif": _encode(grey_float, "TIFF", compression="tiff_adobe_deflate"),
        "two-pages.tif": _encode(rgb, "TIFF", save_all=True, append_images=[second]),
        "rgb.bmp": _encode(rgb, "BMP"),
        "palette.bmp": _encode(palette, "BMP"),
        "bilevel.bmp": _encode(rgb.convert("1"), "BMP"),
        "palette.gif": _encode(palette, "GIF", transparency=0),
        "animated.gif": _encode(rgb, "GIF", save_all=True, append_images=[second]),
    }
    if features.check("avif"):
        seeds["rgb.avif"] = _encode(rgb, "AVIF", quality=50)
        seeds["rgba.avif"] = _encode(rgba, "AVIF", quality=50)
    return seeds


def check_input(data: bytes, folder: Path) -> None:
    """Read ``data`` as both front ends do; raise AssertionError for any broken promise.

    The promises: an RGB image within the limits, or a PainterlyError (for the file) or an
    UploadRejected (for the upload) whose message is one line; and no warning escapes.
    """
    from painterly.errors import PainterlyError
    from painterly.io.images import MAX_PIXELS, MIN_SIDE, load_image
    from painterly.studio.uploads import Limits, UploadRejected, decode_upload

    path = folder / "input"
    path.write_bytes(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for read, refusal, max_pixels in (
            (lambda: load_image(path, "image"), PainterlyError, MAX_PIXELS),
            (lambda: decode_upload(data, Limits()), UploadRejected, Limits().max_pixels),
        ):
            try:
                image = read()
            except refusal as error:
                message = str(error)
                assert message and "\n" not in message, f"not one sentence: {message!r}"
            else:
                assert image.mode == "RGB", image.mode
                assert min(image.size) >= MIN_SIDE, image.size
                assert image.width * image.height <= max_pixels, image.size
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]


def _seed_corpus(corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        for name, data in seed_images().items():
            (corpus / name).write_bytes(data)


def main(argv: list[str]) -> None:
    """Fuzz with libFuzzer's arguments; the first argument that is a folder is the corpus."""
    import atheris

    # Coverage is that of Pillow's Python plugins and of painterly's reading code; the C
    # decoders beneath are exercised but not measured.
    with atheris.instrument_imports(include=["PIL", "painterly"]):
        from PIL import Image

        Image.init()  # every plugin now, not on first use, so that all are instrumented
        from painterly.io import images  # noqa: F401
        from painterly.studio import uploads  # noqa: F401

    corpora = [Path(arg) for arg in argv[1:] if not arg.startswith("-")]
    for corpus in corpora[:1]:
        _seed_corpus(corpus)
    folder = Path(tempfile.mkdtemp(prefix="painterly-fuzz-"))
    atheris.Setup(argv, lambda data: check_input(data, folder))
    atheris.Fuzz()


if __name__ == "__main__":
    sys.path.insert(0, os.fspath(Path(__file__).resolve().parent.parent / "src"))
    main(sys.argv)
