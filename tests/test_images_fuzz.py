"""Mutated images: whatever the bytes, reading them gives an RGB image within the limits or
one sentence, and no warning.

Small valid files of every format and mode (``benchmarks.fuzz_images.seed_images``, at most
24 px) are damaged the ways files are: bits flipped, bytes replaced, cut short, a stretch
repeated, a header field overwritten with a huge value. Each result is read as a file by
:func:`painterly.io.images.load_image` and as an upload by
:func:`painterly.studio.uploads.decode_upload` (``check_input``). The budgets are small, so
that the whole file runs in seconds; ``benchmarks/fuzz_images.py`` is the long,
coverage-guided search.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz_images import check_input, seed_images

SEEDS = seed_images()
FORMATS = sorted({name.rsplit(".", 1)[1] for name in SEEDS})
HUGE = [0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x10000, 0xFFFF, 0x8000, 0]

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _flip(data: bytearray, at: int, bit: int) -> bytearray:
    data[at % len(data)] ^= 1 << bit
    return data


def _replace(data: bytearray, at: int, value: int) -> bytearray:
    data[at % len(data)] = value
    return data


def _repeat(data: bytearray, at: int, length: int) -> bytearray:
    # A chunk or segment duplicated in place: PNG chunks, JPEG markers, TIFF entries twice.
    start = at % len(data)
    data[start:start] = data[start : start + length]
    return data


def _overwrite(data: bytearray, at: int, value: int, width: int, order: str) -> bytearray:
    # Headers sit in the first bytes: sizes, counts and offsets set to huge values.
    field = struct.pack(order + ("I" if width == 4 else "H"), value & (2 ** (8 * width) - 1))
    start = at % max(1, min(len(data), 128))
    data[start : start + width] = field
    return data


MUTATIONS = st.one_of(
    st.builds(lambda at, bit: lambda d: _flip(d, at, bit), st.integers(0, 4096), st.integers(0, 7)),
    st.builds(
        lambda at, value: lambda d: _replace(d, at, value),
        st.integers(0, 4096),
        st.integers(0, 255),
    ),
    st.builds(
        lambda at, length: lambda d: _repeat(d, at, length),
        st.integers(0, 4096),
        st.integers(1, 64),
    ),
    st.builds(
        lambda at, value, width, order: lambda d: _overwrite(d, at, value, width, order),
        st.integers(0, 127),
        st.sampled_from(HUGE),
        st.sampled_from([2, 4]),
        st.sampled_from([">", "<"]),
    ),
)


def _mutated(image_format: str) -> st.SearchStrategy[bytes]:
    names = sorted(name for name in SEEDS if name.endswith("." + image_format))

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = bytearray(SEEDS[draw(st.sampled_from(names))])
        for mutate in draw(st.lists(MUTATIONS, min_size=1, max_size=4)):
            data = mutate(data)
        return bytes(data)

    return build()


@pytest.mark.parametrize("image_format", FORMATS)
def test_a_mutated_file_is_an_image_or_one_sentence_and_never_warns(image_format, folder):
    @FUZZ
    @given(data=_mutated(image_format))
    def check(data: bytes) -> None:
        check_input(data, folder)

    check()


def test_the_seeds_cover_every_format_painterly_reads_and_are_readable(folder):
    assert {"jpg", "png", "webp", "tif", "bmp", "gif"} <= set(FORMATS)
    for data in SEEDS.values():
        check_input(data, folder)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_a_file_cut_short_at_any_length_is_one_sentence(name, folder):
    # Every length class: the signature, the first header, the first chunk or segment, and
    # the data at a few depths. A cut file may still decode (a GIF without its trailer).
    data = SEEDS[name]
    short = {0, 1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 100, 128, 200, 256}
    lengths = sorted({n for n in short if n < len(data)} | {len(data) * k // 8 for k in range(8)})
    for length in [*lengths, len(data) - 1]:
        check_input(data[:length], folder)
