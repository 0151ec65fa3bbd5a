"""The geometry of tiled computation: receptive-field margins, the grid of tiles, features
of a whole image computed tile by tile, and the memory a tiled stage needs. The tiled
optimisation itself is :mod:`painterly.engine.tiling`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from painterly.config.options import MIN_TILE, Options
from painterly.engine import losses
from painterly.engine.runtime import PROCESS_BYTES, autocast, optimization_bytes
from painterly.errors import PainterlyError
from painterly.models.vgg import LAYER_NAMES, VGG19, layer_channels, layer_stride

TILED_HISTORY = 8
"""L-BFGS pairs kept in a tiled stage: the history is 2 × pairs image-sized vectors, 2.4 GB
at 4096 × 3072 with 8 pairs against 6 GB with the untiled runs' 20, and a tiled stage is
the last of a schedule, run for few evaluations from an upsampled result, where the longer
memory gains little."""


def layer_reach(name: str) -> int:
    """How many pixels beyond its own footprint (the stride × stride pixels a position
    stands for) a feature of layer ``name`` depends on, to either side.

    Each 3×3 convolution reads one more position of its input to either side, which is
    that input's stride in pixels; a 2×2 pooling of stride 2 reads only its own footprint.
    """
    reach, stride = 0, 1
    for layer in LAYER_NAMES[: LAYER_NAMES.index(name) + 1]:
        if layer.startswith("pool"):
            stride *= 2
        else:
            reach += stride
    return reach


def alignment(layers: Sequence[str]) -> int:
    """The stride of the deepest of ``layers``: tile borders on its multiples keep every
    tile's pooling grid on the whole image's."""
    return max(layer_stride(name) for name in layers)


def margin(layers: Sequence[str]) -> int:
    """The margin each tile is read with: the deepest layer's reach, rounded up to a whole
    number of its strides (80 px for conv5_1, 40 for conv4_2)."""
    step = alignment(layers)
    return -(-max(layer_reach(name) for name in layers) // step) * step


@dataclass(frozen=True)
class Window:
    """One tile: the rows and columns of its interior (``top:bottom``, ``left:right``),
    whose features it contributes, and of its window, the interior with the margin (cut
    at the image's edges), which the network reads."""

    top: int
    bottom: int
    left: int
    right: int
    margin: int
    height: int
    width: int

    @property
    def rows(self) -> slice:
        return slice(max(0, self.top - self.margin), min(self.height, self.bottom + self.margin))

    @property
    def columns(self) -> slice:
        return slice(max(0, self.left - self.margin), min(self.width, self.right + self.margin))

    def interior(self, stride: int) -> tuple[slice, slice]:
        """The interior's positions in a layer of ``stride``, within the window's features."""
        rows, columns = self.rows, self.columns
        return (
            slice((self.top - rows.start) // stride, _end(self.bottom, self.height, stride)
                  - rows.start // stride),
            slice((self.left - columns.start) // stride, _end(self.right, self.width, stride)
                  - columns.start // stride),
        )  # fmt: skip

    def positions(self, stride: int) -> tuple[slice, slice]:
        """The interior's positions in the whole image's features of a layer of ``stride``."""
        return (
            slice(self.top // stride, _end(self.bottom, self.height, stride)),
            slice(self.left // stride, _end(self.right, self.width, stride)),
        )


def _end(border: int, side: int, stride: int) -> int:
    # The image's last positions end where its floor division does; inner borders are
    # multiples of the stride.
    return side // stride if border == side else border // stride


def windows(
    height: int, width: int, tile: int, layers: Sequence[str], shift: tuple[float, float] = (0, 0)
) -> list[Window]:
    """The tiles covering a ``height`` × ``width`` image for the VGG ``layers``: the
    :func:`grid` aligned on their deepest stride and read with their :func:`margin`."""
    return grid(height, width, tile, alignment(layers), margin(layers), shift)


def grid(
    height: int,
    width: int,
    tile: int,
    step: int,
    edge: int,
    shift: tuple[float, float] = (0, 0),
) -> list[Window]:
    """The tiles covering a ``height`` × ``width`` image, borders on multiples of ``step``,
    each read with ``edge`` pixels of margin.

    Along each side, the fewest tiles of at most ``tile`` px (rounded down to ``step``)
    share it about equally; ``shift`` (dy, dx), each in −1 … 1, moves the inner borders
    together by that share of the room the tiles leave (so that no border stays at one
    place from evaluation to evaluation) without adding a tile.
    """
    size = max(step, tile // step * step)

    def borders(side: int, move: float) -> list[int]:
        count = -(-side // size)
        base = side / count
        room = max(0.0, min(size - base - step, base - step))
        inner = {int((k * base + move * room) // step * step) for k in range(1, count)}
        return [0, *sorted(b for b in inner if 0 < b < side), side]

    rows, columns = borders(height, shift[0]), borders(width, shift[1])
    return [
        Window(top, bottom, left, right, edge, height, width)
        for top, bottom in zip(rows, rows[1:], strict=False)
        for left, right in zip(columns, columns[1:], strict=False)
    ]


def tiled_features(
    encoder: VGG19,
    image: torch.Tensor,
    layers: Sequence[str],
    tile: int,
    dtype: torch.dtype,
    each: Callable[[Window, dict[str, torch.Tensor]], None],
) -> None:
    """Call ``each(window, features)`` for every tile of ``image`` with the features of
    its interior at ``layers`` (without gradients): the untiled network's features there."""
    h, w = image.shape[2:]
    for window in windows(h, w, tile, layers):
        piece = image[..., window.rows, window.columns]
        with torch.inference_mode(), autocast(image.device, dtype):
            features = encoder(piece, list(layers))
        each(window, {n: f[(..., *window.interior(layer_stride(n)))] for n, f in features.items()})


def tiled_gram(
    encoder: VGG19, image: torch.Tensor, layers: Sequence[str], tile: int, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """G^l of the whole ``image`` at ``layers``, summed from its tiles' (float32)."""
    grams: dict[str, torch.Tensor] = {}

    def add(_: Window, features: dict[str, torch.Tensor]) -> None:
        for name, f in features.items():
            g = losses.gram_matrix(f)
            grams[name] = g if name not in grams else grams[name] + g

    tiled_features(encoder, image, layers, tile, dtype, add)
    return grams


def layer_shape(height: int, width: int, name: str) -> tuple[int, int]:
    """H_l × W_l of a layer for a ``height`` × ``width`` input (floor pooling)."""
    stride = layer_stride(name)
    return height // stride, width // stride


def tiled_content(
    encoder: VGG19, image: torch.Tensor, layers: Sequence[str], tile: int, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """The whole ``image``'s features at ``layers``, assembled from its tiles' interiors,
    without the activations of the whole image ever being in memory at once."""
    h, w = image.shape[2:]
    out = {
        name: torch.empty(
            (1, layer_channels(name), *layer_shape(h, w, name)),
            dtype=dtype,
            device=image.device,
        )
        for name in layers
    }

    def place(window: Window, features: dict[str, torch.Tensor]) -> None:
        for name, f in features.items():
            out[name][(..., *window.positions(layer_stride(name)))] = f.to(out[name].dtype)

    tiled_features(encoder, image, layers, tile, dtype, place)
    return out


def tiled_bytes(
    output: tuple[int, int],
    tile: int,
    layers: Sequence[str],
    last_layer: str,
    content_layers: Sequence[str],
    history: int,
    style: tuple[int, int] = (0, 0),
    kept: int = 1,
) -> int:
    """Peak memory of a tiled stage at ``output`` (width, height), in bytes (an estimate):
    one window's backpropagation (:func:`painterly.engine.runtime.optimization_bytes` of a
    tile with its margins, no history) and the graphs of the ``kept`` − 1 further tiles
    that keep theirs (:func:`window_bytes` each), the image-sized vectors (L-BFGS's
    ``history`` pairs, the image, its gradient and working copies), the content targets
    and the largest ``style`` image (its Grams are read tile by tile, but the image is
    held whole)."""
    w, h = output
    window = window_bytes(output, tile, layers, last_layer)
    pixels = 3 * h * w
    targets = sum(layer_channels(n) * math.prod(layer_shape(h, w, n)) for n in content_layers)
    return (
        PROCESS_BYTES + kept * window + 4 * ((2 * history + 10) * pixels + targets)
        + STYLE_BYTES * math.prod(style)
    )  # fmt: skip


def window_bytes(output: tuple[int, int], tile: int, layers: Sequence[str], last_layer: str) -> int:
    """The memory of one window's backpropagation in ``tile``-px tiles of an ``output``
    (width, height) image, without the process's own share: what each tile that keeps its
    graph between the passes adds (counted whole, although a kept graph has no gradients
    yet, since the estimates run low in the middle of a schedule, docs/huge.md)."""
    w, h = output
    edge, step = margin(layers), alignment(layers)
    side = max(step, tile // step * step)
    window_h, window_w = min(h, side + 2 * edge), min(w, side + 2 * edge)
    return optimization_bytes(window_h, window_w, last_layer, 0) - PROCESS_BYTES


STYLE_BYTES = 16
"""Bytes a style pixel costs while its targets are computed: the 8-bit image and its float32
tensor."""


def best_tile(
    output: tuple[int, int],
    layers: Sequence[str],
    last_layer: str,
    content_layers: Sequence[str],
    history: int,
    free: int,
    style: tuple[int, int] = (0, 0),
) -> int | None:
    """The largest tile (a multiple of the alignment, at least :data:`MIN_TILE`) whose
    stage fits in ``free`` bytes, or None if not even the smallest does."""
    step = alignment(layers)
    fits = [
        tile
        for tile in range(MIN_TILE // step * step, max(output) + step, step)
        if tiled_bytes(output, tile, layers, last_layer, content_layers, history, style) <= free
    ]
    return max(fits) if fits else None


def tile_count(output: tuple[int, int], tile: int, layers: Sequence[str]) -> int:
    """How many tiles cover an ``output`` (width, height) image."""
    return len(windows(output[1], output[0], tile, layers))


def tileable(options: Options) -> bool:
    """Whether a stage with ``options`` can be optimised tile by tile."""
    try:
        check_tileable(options)
    except PainterlyError:
        return False
    return True


def check_tileable(options: Options) -> None:
    """Refuse, with one sentence, what a tiled stage cannot compute tile by tile."""
    if options.style_loss != "gram":
        raise PainterlyError(
            f"--style-loss {options.style_loss} compares the whole image's feature "
            "distribution and cannot be tiled; use --style-loss gram for an image this large, "
            "or a smaller --size"
        )
    if options.jitter:
        raise PainterlyError(
            "--jitter moves the whole image under the network and cannot be tiled; a tiled "
            "stage moves its tile grid instead, so leave --jitter out"
        )
    if options.matting_weight:
        raise PainterlyError(
            "--matting-weight needs the matting Laplacian of the whole image, which does not "
            "fit at a size that must be tiled; use --photo-smooth fast instead, or a smaller "
            "--size"
        )
