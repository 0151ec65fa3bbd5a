"""The one list of options shared by the CLI, the Python API and every method.

Each field's ``metadata`` carries its help text (and, where the value is not a plain
number or string, how to read it from text), so front ends generate their flags from
this module instead of keeping a copy of the defaults. Options that are parts of one value
(the schedule, the balance) name their ``group``, and :func:`merge` replaces them together.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from painterly.config.presets import PAINTERLY, PAPER_STYLE_LAYERS, PHOTOREALISTIC, PRESETS
from painterly.config.schedule import (
    MAX_ITERATIONS,
    MAX_SIZE,
    MIN_SIZE,
    Stage,
    auto_stages,
    read_scales,
    total,
)
from painterly.config.values import (
    read_choice,
    read_integer,
    read_number,
    read_path,
    read_switch,
    shown,
)
from painterly.controls.colour import PRESERVE_COLOR
from painterly.controls.photoreal import COLOUR_MATCHES, SMOOTHING
from painterly.engine.losses import CONVENTIONS, STYLE_LOSSES
from painterly.errors import PainterlyError
from painterly.models.vgg import PADDINGS, canonical_layer

METHODS = ("gatys", "adain", "wct", "artflow")
FEED_FORWARD = ("adain", "wct", "artflow")
"""Methods that stylise in one network pass (:mod:`painterly.methods.feedforward`)."""
SIZE_SIDES = ("long", "short", "width", "height")
POOLINGS = ("avg", "max")
OPTIMIZERS = ("lbfgs", "adam")
INITS = ("noise", "content", "style", "adain", "gatys")
DERIVED_INITS = ("adain", "gatys")
"""Starts that are the result of another run: the AdaIN pass, a plain run of the defaults."""
PRECISIONS = ("auto", "fp32", "bf16")
TRANSFORMS = ("adain", "wct")
"""ArtFlow's transfers in its latent."""

MAX_WEIGHT = 1e30
"""Largest loss weight (α, β, TV, a layer's, a blend's) and α/β: the weighted terms are summed
in float32, whose largest value is 3.4e38, so a larger weight overflows any loss it weighs."""
MAX_STYLE_SCALE = 16.0
"""Largest ``style_scale``: the style image then has 256 times the output's pixels (an
8192-px style for a 512-px output), and its side, size × scale, stays a whole number the
memory check can weigh; 1e308 made that side infinite."""
MAX_LEARNING_RATE = 1.0
"""Largest Adam step: the pixels lie in [0, 1], so a larger step jumps past the whole range."""
MAX_JITTER = 64
"""Largest ``jitter``: 64 px is two strides of pool5, more than any layer needs to see every
position relative to its pooling grid."""
MAX_AVERAGE = 0.9999
"""Largest ``average`` decay: 1 would never move from the start image."""
MAX_PYRAMID = 8
"""Most ``pyramid`` levels: the eighth is 1/128 of the size, coarser than any stage needs."""
MAX_SEED = 2**64 - 1
"""Largest seed, the largest ``torch.Generator.manual_seed`` takes."""
MIN_TILE = 128
"""Smallest ``tile``: below it the margins (80 px a side at conv5_1) would make every tile
mostly margin, several times the work of the untiled run."""
MAX_DEVICE_INDEX = 127
"""Largest N of ``cuda:N``: PyTorch keeps a device index in one signed byte (128 wraps)."""
BIT_DEPTHS = (8, 16)
MAX_DPI = 10_000
"""Largest ``dpi``: beyond any printer's resolution, and within every format's field (JPEG's
density is 16 bits)."""
_WEIGHTS = f"0 to {MAX_WEIGHT:g}"
"""The range of a weight, as the help texts give it."""
_DEVICE = re.compile(r"auto|cpu|mps|cuda(?::(\d{1,3}))?")


def parse_layers(
    text: str | Mapping[str, float] | list[str] | tuple[str, ...],
    default_weight: str,
    what: str = "layers",
) -> dict[str, float]:
    """Read ``conv1_1:0.2,conv2_1`` (or a mapping or list) into ``{layer: weight}``.

    A layer given without a weight (or with the weight None in a mapping) gets
    ``default_weight``: ``"equal"`` gives every such layer 1/n (the paper's w_l = 1/5 for
    five style layers), ``"one"`` gives 1. Weights lie in 0 … MAX_WEIGHT; ``what`` names the
    option in the message for a value that is no list of layers at all.
    """
    items = _layer_items(text, what)
    unweighted = sum(1 for _, w in items if w is None)
    fill = 1.0 / unweighted if default_weight == "equal" and unweighted else 1.0
    layers: dict[str, float] = {}
    for name, given in items:
        try:
            layer = canonical_layer(name)
        except KeyError:
            raise PainterlyError(
                f"unknown layer {shown(name)}; layers are conv1_1 … conv5_4 and pool1 … pool5"
            ) from None
        if layer in layers:
            raise PainterlyError(f"layer {layer} is listed twice")
        layers[layer] = (
            fill
            if given is None
            else read_number(given, f"weight of layer {layer}", maximum=MAX_WEIGHT)
        )
    return layers


def _layer_items(text: Any, what: str) -> list[tuple[Any, Any]]:
    """(name, weight or None) of each entry: a mapping's items, or ``NAME[:WEIGHT]`` texts."""
    if isinstance(text, Mapping):
        names, items = list(text), list(text.items())
    elif isinstance(text, (str, list, tuple)):
        names = re.split(r"[,\s]+", text.strip()) if isinstance(text, str) else list(text)
        items = [(n, w if sep else None) for n, sep, w in (_partition(p) for p in names if p)]
    else:
        raise PainterlyError(
            f"{what} must be layer names such as conv4_2 or conv3_2:0.5,conv4_2:1, "
            f"not {shown(text)}"
        )
    for name in names:
        if not isinstance(name, str):
            raise PainterlyError(
                f"each of the {what} is a layer name such as conv4_2, not {shown(name)}"
            )
    return items


def _partition(part: Any) -> tuple[Any, str, Any]:
    """``NAME:WEIGHT`` split at the colon; a non-text entry stays whole, to be refused."""
    return part.partition(":") if isinstance(part, str) else (part, "", None)


def parse_blend(text: str | tuple | list) -> tuple[float, ...]:
    """Read ``0.7,0.3`` (or numbers) into (0.7, 0.3); each weight lies in 0 … MAX_WEIGHT,
    not all 0."""
    if isinstance(text, str):
        parts: list[Any] = re.split(r"[,\s]+", text.strip())
    elif isinstance(text, (list, tuple)):
        parts = list(text)
    else:
        raise PainterlyError(f"--style-blend is weights such as 0.7,0.3, not {shown(text)}")
    weights = tuple(
        read_number(p, "each --style-blend weight", maximum=MAX_WEIGHT) for p in parts if p != ""
    )
    if weights and not any(weights):
        raise PainterlyError("the --style-blend weights are all 0; at least one must be positive")
    return weights


# MASK:STYLE, where MASK may start with a Windows drive letter (C:\\…) that is not the split.
_MASK_PAIR = re.compile(r"((?:[A-Za-z]:[\\/])?[^:]+):(.+)")


def parse_masks(values: str | tuple | list) -> tuple[tuple[str, str], ...]:
    """Read ``MASK:STYLE`` texts (or (mask, style) pairs) into ((mask, style), …)."""
    if isinstance(values, (str, os.PathLike)):
        items: list[Any] = [values]
    elif isinstance(values, (list, tuple)):
        items = list(values)
    else:
        raise PainterlyError(
            f"--mask is MASK:STYLE texts or (mask, style) pairs, not {shown(values)}"
        )
    return tuple(_mask_pair(item) for item in items)


def _mask_pair(item: Any) -> tuple[str, str]:
    if isinstance(item, (str, os.PathLike)):
        text = read_path(item, "each --mask")
        match = _MASK_PAIR.fullmatch(text)
        if not match:
            raise PainterlyError(
                f"each --mask is MASK:STYLE (a mask image and the style painted where it is "
                f"white), not {shown(text)}"
            )
        item = match.groups()
    if not isinstance(item, (list, tuple)) or len(item) != 2:
        raise PainterlyError(f"each mask is a pair (mask image, style image), not {shown(item)}")
    return read_path(item[0], "each mask image"), read_path(item[1], "each mask's style image")


def _strength(value: Any) -> float:
    number = read_number(value, "strength")
    if number > 1:
        raise PainterlyError(f"strength must be between 0 and 1, not {number:g}")
    return number


def _device(value: Any) -> str:
    """``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N`` with N ≤ MAX_DEVICE_INDEX."""
    match = _DEVICE.fullmatch(value.strip().lower()) if isinstance(value, str) else None
    if not match or int(match[1] or 0) > MAX_DEVICE_INDEX:
        raise PainterlyError(
            f"device must be auto, cpu, cuda, cuda:N (N at most {MAX_DEVICE_INDEX}) or mps, "
            f"not {shown(value)}"
        )
    return match[0]


def _tile(value: Any) -> int | str:
    """``auto``, ``off`` or a tile side of MIN_TILE … MAX_SIZE pixels."""
    if isinstance(value, str) and value.strip().lower() in ("auto", "off"):
        return value.strip().lower()
    if isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
        raise PainterlyError(f"tile must be auto, off or a number of pixels, not {shown(value)}")
    return read_integer(value, "tile", MIN_TILE, MAX_SIZE)


MIN_MEMORY = 256 * 2**20
"""Smallest ``max_memory``: below it not even the network and PyTorch fit."""
MAX_MEMORY = 2**50
_MEMORY_UNITS = {
    "": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6,
    "mib": 2**20, "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12, "tib": 2**40,
}  # fmt: skip
_MEMORY_TEXT = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


def _memory(value: Any) -> int | str:
    """``auto`` or a number of bytes from 256 MiB to 1 PiB, from an int or a text such as
    ``6GiB``, ``6G`` (binary, as ``free -h`` shows), ``6GB`` (decimal) or ``1500MiB``."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    text = str(value).strip().lower() if isinstance(value, (str, int)) else ""
    match = _MEMORY_TEXT.fullmatch(text) if not isinstance(value, bool) else None
    if not match or match[2] not in _MEMORY_UNITS:
        raise PainterlyError(
            f"max memory must be auto or a size such as 6GiB, 6G or 1500MiB, not {shown(value)}"
        )
    size = float(match[1]) * _MEMORY_UNITS[match[2]]
    if not MIN_MEMORY <= size <= MAX_MEMORY:
        raise PainterlyError(
            f"max memory must be at least 256MiB and at most 1PiB, not {shown(value)}"
        )
    return int(size)


def _opt(default: Any, help: str, **meta: Any) -> Any:
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata={"help": help, **meta})
    return field(default=default, metadata={"help": help, **meta})


@dataclass(frozen=True)
class Options:
    """Every setting of a stylisation run; validated and normalised on creation.

    Symbols of Gatys et al. (2016): ``content_weight`` is α, ``style_weight`` is β,
    ``style_layers`` holds the w_l, ``ratio`` is α/β.
    """

    method: str = _opt(
        "gatys",
        "how to stylise: gatys (optimise the pixels, minutes on a CPU), adain or wct (one pass "
        "of a pretrained network, seconds; they ignore the optimisation's options), artflow "
        "(one pass through a reversible flow and back, which keeps all of the photograph)",
        choices=METHODS,
    )
    size: int = _opt(
        512,
        f"size of the output in pixels, along --size-side ({MIN_SIZE} to {MAX_SIZE})",
        group="schedule",
    )
    size_side: str = _opt("long", "which side --size sets", choices=SIZE_SIDES)
    scales: tuple[Stage, ...] | str = _opt(
        PAINTERLY["scales"],
        "coarse-to-fine stages SIZE:ITERATIONS,… run in turn, each starting from the last "
        "one's result upsampled (in place of --size and --iterations, and of a preset's "
        "schedule); auto (default): up to three stages ending at --size, each half the next, "
        "the last with a fifth of --iterations (see auto_stages); none (the paper): one stage "
        f"at --size; each SIZE {MIN_SIZE} to {MAX_SIZE}, the ITERATIONS at most "
        f"{MAX_ITERATIONS:,} in all",
        metavar="auto|none|STAGES",
        group="schedule",
    )
    style_scale: float = _opt(
        1.0,
        "size of the style image relative to the output (paper: 1); larger means bigger "
        f"strokes (more than 0, at most {MAX_STYLE_SCALE:g})",
    )
    style_blend: tuple[float, ...] = _opt(
        (),
        "with several style images, how much of each: weights such as 0.7,0.3 (normalised to "
        f"sum 1) that mix their style representations (Gram matrices); each {_WEIGHTS}",
        metavar="W,W,…",
    )
    masks: tuple[tuple[str, str], ...] = _opt(
        (),
        "paint where the mask image is white with that style (grey: partly); repeat for more "
        "regions; what no mask covers keeps the content (Gatys et al. 2017 §4)",
        metavar="MASK:STYLE",
        flag="--mask",
        action="append",
    )
    preserve_color: str = _opt(
        "none",
        "keep the content's colours: luminance (transfer the style on luminance only) or "
        "histogram (first match the style's colour mean and covariance to the content's)",
        choices=PRESERVE_COLOR,
    )
    strength: float | None = _opt(
        None,
        "how much of the photograph's structure to paint over, from 0 (none) to 1 (all: a "
        "texture), the same for every image pair: short pilot runs find the α/β that gives "
        "it (0.3: about the paper's look); replaces --style-weight and --ratio. For adain, "
        "wct and artflow: α of the content-style trade-off, from content features (or "
        "latent, 0) to the full transfer (1, their default)",
        metavar="0..1",
        group="balance",
    )
    transform: str = _opt(
        "adain",
        "artflow only: the transfer in the flow's latent, adain (each channel's mean and "
        "standard deviation) or wct (their covariance)",
        choices=TRANSFORMS,
    )
    artflow_model: str = _opt(
        "auto",
        "artflow only: the model, auto (the one shipped with painterly) or a file that "
        "painterly train artflow wrote",
        metavar="auto|FILE",
    )
    content_layers: dict[str, float] = _opt(
        {"conv4_2": 1.0},
        "content layers and weights, e.g. conv4_2 or conv3_2:0.5,conv4_2:1 (unweighted: 1; "
        f"weights {_WEIGHTS})",
        metavar="LAYERS",
    )
    style_layers: dict[str, float] = _opt(
        {name: 0.2 for name in PAPER_STYLE_LAYERS},
        "style layers and weights w_l, e.g. conv1_1:0.2,conv2_1:0.2 (unweighted: equal, sum 1; "
        f"weights {_WEIGHTS})",
        metavar="LAYERS",
    )
    content_weight: float = _opt(1.0, f"α, weight of the content loss ({_WEIGHTS})")
    style_weight: float = _opt(1e3, f"β, weight of the style loss ({_WEIGHTS})", group="balance")
    loss_convention: str = _opt(
        "calibrated",
        "how the loss terms are normalised: calibrated (the paper's α/β hold at any size), "
        "paper (as printed), notebook, keras",
        choices=tuple(CONVENTIONS),
    )
    style_loss: str = _opt(
        "gram",
        "what of the style's features the output must match: gram (the paper's Gram matrices), "
        "wasserstein (their mean and covariance, by the Wasserstein-2 distance of Gaussians) or "
        "sliced (their whole distribution, by the sliced Wasserstein distance of Heitz et al. "
        "2021); each is scaled so that the same α/β gives about the same balance; not with "
        "--mask",
        choices=STYLE_LOSSES,
    )
    tv_weight: float = _opt(0.0, f"weight of the total-variation smoothness term ({_WEIGHTS})")
    matting_weight: float = _opt(
        0.0,
        "λ of the photorealism term of Luan et al. (2017), Σ_c V_cᵀ 𝓛 V_c with 𝓛 the matting "
        "Laplacian of the content: it keeps the output, in every 3×3 window, an affine "
        "function of the photograph's colours, so edges stay where they are (0: off; "
        f"--method gatys only; the photo preset: 5000; {_WEIGHTS})",
    )
    photo_smooth: str = _opt(
        "off",
        "after any method, make the result piecewise like the photograph (Li et al. 2018, "
        "§3.2): exact (the closed-form solve with the content's matting affinity; about 25 s "
        "at 512 px on a 2-core CPU), fast (a guided filter with the photograph as the guide, "
        "He et al. 2010; a fraction of a second) or off",
        choices=SMOOTHING,
    )
    match_color: str = _opt(
        "off",
        "last of all, give the result the style's palette: chroma (the joint distribution "
        "of YIQ's I and Q made the style's, Pitié et al. 2005, with the luma Y kept so no "
        "edge moves; with --mask each region takes its own style's) or off; "
        "--photorealistic turns it on; not with --preserve-color",
        choices=COLOUR_MATCHES,
    )
    photorealistic: bool = _opt(
        False,
        "keep the result a photograph, for a style that is a photograph too: with gatys the "
        "photo preset (Deep Photo Style Transfer's term, weights and layers, then "
        "--photo-smooth fast), with adain, wct and artflow --photo-smooth fast (wct at "
        "--strength 0.6); then --match-color chroma (off with --preserve-color); options "
        "given as well win",
        switch=True,
    )
    finish_tv: float = _opt(
        PAINTERLY["finish_tv"],
        "weight of a total-variation term added in the last stage only (the only one when "
        "there is one): it smooths away the single-pixel detail the full-size stage adds, "
        f"and leaves the coarse stages alone (0: off, the paper; {_WEIGHTS})",
    )
    padding: str = _opt(
        PAINTERLY["padding"],
        "how VGG's convolutions see past the image border: zeros (Caffe, the paper), replicate "
        "or reflect in every convolution, replicate1 (default) in conv1_1 only; adain and wct keep "
        "reflect, which their decoder was trained with",
        choices=PADDINGS,
    )
    jitter: int = _opt(
        0,
        "move the image by a random offset of up to this many pixels (replicating its edge) "
        "before every evaluation, so no pixel keeps one place on the network's pooling grid; "
        f"the content is moved alike (0: off, the paper; at most {MAX_JITTER})",
        metavar="PIXELS",
    )
    average: float = _opt(
        0.0,
        "Adam only: the result is the moving average of the iterates with this decay, e.g. "
        f"0.99, bias-corrected as Adam's moments (0: off, the last best iterate; below 1, at "
        f"most {MAX_AVERAGE:g})",
        metavar="DECAY",
    )
    pyramid: int = _opt(
        PAINTERLY["pyramid"],
        "optimise the image as this many levels: the pixels plus copies at 1/2, 1/4, … the "
        "size, upsampled and summed, so broad changes move as readily as single pixels and "
        f"far fewer isolated dots are left (1: the pixels alone, the paper; at most "
        f"{MAX_PYRAMID})",
        metavar="LEVELS",
    )
    pooling: str = _opt("avg", "pooling in the VGG network (paper: avg)", choices=POOLINGS)
    weights: str = _opt(
        "vgg19-normalized",
        "VGG-19 weights: a registered name or a state-dict file",
        metavar="NAME|FILE",
    )
    optimizer: str = _opt("lbfgs", "optimiser for the image pixels", choices=OPTIMIZERS)
    iterations: int = _opt(
        500,
        f"number of loss evaluations (L-BFGS) or steps (Adam), 1 to {MAX_ITERATIONS:,}",
        group="schedule",
    )
    lbfgs_restart: int = _opt(
        0, f"start L-BFGS afresh every N evaluations (0: never; at most {MAX_ITERATIONS:,})"
    )
    learning_rate: float = _opt(
        0.02,
        "Adam step size, in units of the [0, 1] pixel range (more than 0, at most "
        f"{MAX_LEARNING_RATE:g})",
    )
    init: str = _opt(
        PAINTERLY["init"],
        "start image: noise (the paper), content (default), style, adain (the AdaIN result), "
        "gatys (the result of a plain run of the defaults first: Luan et al.'s two steps), "
        "or an image file",
        metavar="noise|content|style|adain|gatys|FILE",
    )
    seed: int = _opt(
        0,
        "random seed, 0 to 2^64 - 1; the same seed gives the same image on the same machine",
    )
    device: str = _opt(
        "auto",
        f"where to compute: auto, cpu, cuda[:N] (N at most {MAX_DEVICE_INDEX}) or mps",
        metavar="auto|cpu|cuda|mps",
    )
    precision: str = _opt(
        "auto",
        "number format of the network: auto (bf16 where the hardware has it natively), "
        "fp32, bf16; losses are always summed in fp32",
        choices=PRECISIONS,
    )
    tile: int | str = _opt(
        "auto",
        "compute a stage too large for memory tile by tile, with no seams: gatys optimises "
        "the whole image's loss, the one-pass methods use the whole image's statistics; auto "
        "(tiles only when the stage would not fit, as large as fit), off (never: refuse what "
        "does not fit), or a tile side in pixels "
        f"({MIN_TILE} to {MAX_SIZE}, rounded down to a multiple of 16; stages no larger stay "
        "whole)",
        metavar="auto|off|PIXELS",
    )
    max_memory: int | str = _opt(
        "auto",
        "the most memory a run may plan to use: auto (what is free when it starts) or a size "
        "such as 6GiB, 6G or 1500MiB; --tile auto picks tiles to fit it, and a tiled stage "
        "keeps the network's pass over as many tiles as fit it beside the rest, instead of "
        "running them twice per evaluation",
        metavar="auto|SIZE",
    )
    bit_depth: int = _opt(
        8,
        "bits per channel of the output file: 8, or 16 for print (.png or .tif; the result's "
        "full precision, not 8 bits scaled up; not with --preserve-color luminance or "
        "--photo-smooth, which finish in 8 bits)",
        metavar="8|16",
    )
    dpi: int | None = _opt(
        None,
        f"the resolution written in the output file, in dots per inch (1 to {MAX_DPI:,}); "
        "the pixels stay as --size makes them",
        metavar="N",
    )

    def __post_init__(self) -> None:
        """Check every field's type and range (one sentence for the first that is wrong), and
        store it normalised: numbers as int or float, names in lower case, lists as tuples."""
        set_ = object.__setattr__
        set_(self, "method", read_choice(self.method, "method", METHODS))
        self._check_schedule()
        set_(self, "size_side", read_choice(self.size_side, "size side", SIZE_SIDES))
        set_(
            self,
            "loss_convention",
            read_choice(self.loss_convention, "loss convention", tuple(CONVENTIONS)),
        )
        set_(self, "style_loss", read_choice(self.style_loss, "style loss", STYLE_LOSSES))
        set_(
            self,
            "lbfgs_restart",
            read_integer(self.lbfgs_restart, "lbfgs restart", 0, MAX_ITERATIONS),
        )
        set_(
            self,
            "style_scale",
            read_number(self.style_scale, "style scale", strict=True, maximum=MAX_STYLE_SCALE),
        )
        set_(self, "style_blend", parse_blend(self.style_blend))
        set_(self, "masks", parse_masks(self.masks))
        if self.masks and self.style_loss != "gram":
            raise PainterlyError(
                f"--mask regions are painted with guided Gram matrices; --style-loss "
                f"{self.style_loss} works on the whole image only, so use --style-loss gram"
            )
        if self.masks and self.style_blend:
            raise PainterlyError(
                "--style-blend mixes the STYLE images, but with --mask each region has its own "
                "style; give one or the other"
            )
        set_(
            self,
            "preserve_color",
            read_choice(self.preserve_color, "preserve color", PRESERVE_COLOR),
        )
        self._check_balance()
        set_(self, "pooling", read_choice(self.pooling, "pooling", POOLINGS))
        set_(self, "optimizer", read_choice(self.optimizer, "optimizer", OPTIMIZERS))
        self._check_remedies()
        set_(
            self,
            "learning_rate",
            read_number(
                self.learning_rate, "learning rate", strict=True, maximum=MAX_LEARNING_RATE
            ),
        )
        init = read_path(self.init, "init")
        set_(self, "init", init.lower() if init.lower() in INITS else init)
        set_(self, "seed", read_integer(self.seed, "seed", 0, MAX_SEED))
        set_(self, "device", _device(self.device))
        set_(self, "precision", read_choice(self.precision, "precision", PRECISIONS))
        set_(self, "tile", _tile(self.tile))
        set_(self, "max_memory", _memory(self.max_memory))
        set_(self, "weights", read_path(self.weights, "weights"))
        set_(self, "transform", read_choice(self.transform, "transform", TRANSFORMS))
        set_(self, "photo_smooth", read_choice(self.photo_smooth, "photo smooth", SMOOTHING))
        set_(self, "match_color", read_choice(self.match_color, "match color", COLOUR_MATCHES))
        if self.match_color != "off" and self.preserve_color != "none":
            raise PainterlyError(
                f"--match-color {self.match_color} gives the result the style's colours and "
                f"--preserve-color {self.preserve_color} keeps the photograph's; choose one"
            )
        set_(self, "photorealistic", read_switch(self.photorealistic, "photorealistic"))
        model = read_path(self.artflow_model, "artflow model")
        set_(self, "artflow_model", "auto" if model.lower() == "auto" else model)
        self._check_method()
        self._check_output()

    def _check_schedule(self) -> None:
        """``scales``, then ``size`` and ``iterations`` (which a stage list sets)."""
        set_ = object.__setattr__
        scales = read_scales(self.scales)
        set_(self, "scales", scales)
        if isinstance(scales, tuple) and scales:
            # So that size and iterations describe the run (memory checks, messages).
            set_(self, "size", scales[-1].size)
            set_(self, "iterations", total(scales))
        set_(self, "size", read_integer(self.size, "size", MIN_SIZE, MAX_SIZE))
        set_(self, "iterations", read_integer(self.iterations, "iterations", 1, MAX_ITERATIONS))

    def _check_balance(self) -> None:
        """The layers, their weights, α, β, TV and ``strength``."""
        set_ = object.__setattr__
        set_(self, "content_layers", parse_layers(self.content_layers, "one", "content layers"))
        set_(self, "style_layers", parse_layers(self.style_layers, "equal", "style layers"))
        if not self.content_layers and not self.style_layers:
            raise PainterlyError("at least one content or style layer is needed")
        if self.strength is not None:
            set_(self, "strength", _strength(self.strength))
            if not self.content_layers or not self.style_layers:
                raise PainterlyError(
                    "--strength balances content against style, so it needs both content and "
                    "style layers"
                )
        for name in ("content_weight", "style_weight", "tv_weight", "finish_tv", "matting_weight"):
            what = name.replace("_", " ")
            set_(self, name, read_number(getattr(self, name), what, maximum=MAX_WEIGHT))

    def _check_remedies(self) -> None:
        """``padding``, ``jitter`` (not with masks), ``average`` (Adam only), ``pyramid``."""
        set_ = object.__setattr__
        set_(self, "padding", read_choice(self.padding, "padding", PADDINGS))
        set_(self, "jitter", read_integer(self.jitter, "jitter", 0, MAX_JITTER))
        set_(self, "average", read_number(self.average, "average", maximum=MAX_AVERAGE))
        set_(self, "pyramid", read_integer(self.pyramid, "pyramid", 1, MAX_PYRAMID))
        if self.jitter and self.masks:
            raise PainterlyError(
                "--jitter moves the image under the network but not the --mask guides, so "
                "the regions would drift; use one or the other"
            )
        if self.average and self.optimizer != "adam":
            raise PainterlyError(
                "--average smooths the noise of Adam's steps, while L-BFGS's line search "
                "already settles each step; use it with --optimizer adam"
            )

    def _check_method(self) -> None:
        """Refuse what a feed-forward method, or ``--init adain``, cannot honour."""
        if self.init == "adain" and self.masks:
            raise PainterlyError(
                "--init adain starts from one AdaIN pass over the whole image, which knows "
                "nothing of --mask regions; use another --init with --mask"
            )
        if self.method != "artflow" and (self.transform, self.artflow_model) != ("adain", "auto"):
            raise PainterlyError(
                "--transform and --artflow-model choose how --method artflow transfers; "
                "add --method artflow or leave them out"
            )
        if self.method not in FEED_FORWARD:
            return
        if self.matting_weight:
            raise PainterlyError(
                f"--matting-weight is a term of the optimisation (--method gatys); after "
                f"--method {self.method} use --photo-smooth to keep the result photographic"
            )
        if self.masks:
            raise PainterlyError(
                f"--method {self.method} paints the whole image with the blended styles; "
                "--mask regions need --method gatys"
            )
        # ``auto``, the default schedule, has nothing to say to a one-pass method; an
        # explicit list of stages does, and is refused.
        if isinstance(self.scales, tuple) and self.scales:
            raise PainterlyError(
                f"--method {self.method} makes the image in one pass at --size; --scales "
                "belongs to the optimisation (--method gatys)"
            )
        if self.weights != "vgg19-normalized":
            raise PainterlyError(
                "--method artflow uses no VGG-19 network; leave --weights at its default"
                if self.method == "artflow"
                else f"--method {self.method} decodes the features of vgg19-normalized, the "
                "network its decoder was trained with; leave --weights at its default"
            )

    def _check_output(self) -> None:
        """``bit_depth`` (8 or 16, which the 8-bit finishing steps cannot give) and ``dpi``."""
        set_ = object.__setattr__
        try:
            depth: int | None = read_integer(self.bit_depth, "bit depth", 0, max(BIT_DEPTHS))
        except PainterlyError:  # a text, a fraction, 24: the same sentence for all
            depth = None
        if depth is None or depth not in BIT_DEPTHS:
            raise PainterlyError(f"bit depth must be 8 or 16, not {shown(self.bit_depth)}")
        set_(self, "bit_depth", depth)
        if self.dpi is not None:
            set_(self, "dpi", read_integer(self.dpi, "dpi", 1, MAX_DPI))
        finishing = [
            flag
            for flag, on in (
                ("--preserve-color luminance", self.preserve_color == "luminance"),
                (f"--photo-smooth {self.photo_smooth}", self.photo_smooth != "off"),
                (f"--match-color {self.match_color}", self.match_color != "off"),
            )
            if on
        ]
        if depth == 16 and finishing:
            raise PainterlyError(
                f"{finishing[0]} finishes the result in 8 bits, so --bit-depth 16 would only "
                "scale it up; use --bit-depth 8 with it"
            )

    @property
    def ratio(self) -> float:
        """α/β, the content-to-style ratio the paper quotes (infinite when β = 0)."""
        return self.content_weight / self.style_weight if self.style_weight else math.inf

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The schedule: ``scales``, :func:`~painterly.config.schedule.auto_stages`, or one
        stage at ``size`` (always, for the one-pass methods: the default ``auto`` is the
        optimisation's)."""
        if self.method in FEED_FORWARD:
            return (Stage(self.size, self.iterations),)
        if isinstance(self.scales, str):
            return auto_stages(self.size, self.iterations)
        return self.scales or (Stage(self.size, self.iterations),)

    @property
    def layers(self) -> tuple[str, ...]:
        """Every VGG layer this run reads."""
        return tuple(dict.fromkeys([*self.content_layers, *self.style_layers]))

    @classmethod
    def build(cls, **values: Any) -> Options:
        """Create Options from keyword values, accepting ``ratio`` (α/β) in place of β.

        ``preset`` names a bundle from :data:`painterly.config.presets.PRESETS`; the other
        values given replace the preset's by the rules of :func:`merge`.

        Unknown names are a user error (``PainterlyError``), so a typo in an API call or a
        web form is reported instead of ignored.
        """
        _refuse_unknown(values, {"preset"})
        preset = values.pop("preset", None)
        if preset is not None and (not isinstance(preset, str) or preset not in PRESETS):
            raise PainterlyError(
                f"unknown preset {shown(preset)}; presets are {', '.join(PRESETS)}"
            )
        base = dict(PRESETS[preset]) if preset is not None else {}
        if read_switch(values.get("photorealistic", False), "photorealistic"):
            # The method's photorealistic settings over the preset's; what is given wins.
            method = read_choice(
                values.get("method", base.get("method", cls.method)), "method", METHODS
            )
            base.update(PHOTOREALISTIC[method])
            if "match_color" not in values and values.get("preserve_color", "none") != "none":
                base["match_color"] = "off"  # the colours asked to be kept are kept
        return cls._create(merge(base, values))

    def replace(self, **values: Any) -> Options:
        """A copy with some values changed, by the rules of :func:`merge` (as :meth:`build`)."""
        _refuse_unknown(values, set())
        current = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return self._create(merge(current, values))

    @classmethod
    def _create(cls, values: dict[str, Any]) -> Options:
        """Options from merged values, turning ``ratio`` into β = α / ratio (≤ MAX_WEIGHT)."""
        ratio = values.pop("ratio", None)
        if ratio is not None:
            ratio = read_number(ratio, "ratio α/β", strict=True, maximum=MAX_WEIGHT)
            alpha = values.get("content_weight", cls.content_weight)
            beta = read_number(alpha, "content weight", maximum=MAX_WEIGHT) / ratio
            if beta > MAX_WEIGHT:
                raise PainterlyError(
                    f"the ratio α/β = {ratio:g} makes the style weight β = α / ratio = {beta:g}, "
                    f"more than the largest weight, {MAX_WEIGHT:g}"
                )
            values["style_weight"] = beta
        return cls(**values)


def _refuse_unknown(values: Mapping[str, Any], extra: set[str]) -> None:
    known = {f.name for f in dataclasses.fields(Options)} | {"ratio"} | extra
    unknown = sorted(set(values) - known)
    if unknown:
        raise PainterlyError(f"unknown option {unknown[0]!r}")


def option_groups() -> dict[str, set[str]]:
    """The options that together make one value, by the ``group`` of their metadata; the
    pseudo-option ``ratio`` (α/β) belongs to the balance, as it sets β."""
    groups: dict[str, set[str]] = {"balance": {"ratio"}}
    for f in dataclasses.fields(Options):
        if "group" in f.metadata:
            groups.setdefault(f.metadata["group"], set()).add(f.name)
    return groups


def merge(base: Mapping[str, Any], explicit: Mapping[str, Any]) -> dict[str, Any]:
    """The option values of ``base`` (a preset's, or the current options') with ``explicit``
    given over them, a group of options at a time.

    An option in no group simply replaces the base's. The groups are one value each:

    - balance (``style_weight`` β, ``ratio`` α/β, ``strength``): any explicit member replaces
      the base's whole balance, so ``--ratio`` or ``--strength`` beats a preset's β. Two
      explicit members that would each set β are refused.
    - schedule (``size``, ``iterations``, ``scales``): an explicit stage list replaces the
      base's size and iterations, an explicit size or iterations replaces the base's stage
      list by one stage (the base's other one is kept: for a stage list, its last size or its
      total);
      ``scales`` auto or none combines with size and iterations. An explicit stage list with
      a size or iterations it does not end at or add up to is refused.
    """
    groups = option_groups()
    grouped = set().union(*groups.values())
    merged = {k: v for k, v in {**base, **explicit}.items() if k not in grouped}
    for group, members in groups.items():
        parts = [{k: v for k, v in m.items() if k in members} for m in (base, explicit)]
        merged.update(_GROUP_RULES[group](*parts))
    return merged


def _merge_balance(base: dict[str, Any], explicit: dict[str, Any]) -> dict[str, Any]:
    if explicit.get("strength") is not None and {"style_weight", "ratio"} & set(explicit):
        flag = "--" + sorted({"style_weight", "ratio"} & set(explicit))[0].replace("_", "-")
        raise PainterlyError(
            f"--strength chooses α/β for the image pair; give it or {flag}, not both"
        )
    if "style_weight" in explicit and explicit.get("ratio") is not None:
        raise PainterlyError("give either the style weight or the ratio α/β, not both")
    return explicit or base


def _merge_schedule(base: dict[str, Any], explicit: dict[str, Any]) -> dict[str, Any]:
    stages = read_scales(explicit.get("scales", ()))
    if isinstance(stages, tuple) and stages:
        _refuse_disagreement(stages, explicit)
        return {"scales": stages}
    base_stages = read_scales(base.get("scales", ()))
    if isinstance(base_stages, tuple) and base_stages:
        # A size or evaluations given over a stage list make one stage of that size
        # (not the default schedule, which the base's own list had replaced).
        kept = base_stages if not {"size", "iterations"} & set(explicit) else ()
        base = {"size": base_stages[-1].size, "iterations": total(base_stages), "scales": kept}
    return {**base, **explicit}


def _refuse_disagreement(stages: tuple[Stage, ...], explicit: dict[str, Any]) -> None:
    """A stage list already says the size and the evaluations; the same again is no
    conflict (options written out whole, as ``reproduce`` records them, read back)."""
    implied = {
        "size": (stages[-1].size, MIN_SIZE, MAX_SIZE),
        "iterations": (total(stages), 1, MAX_ITERATIONS),
    }
    for name, (value, minimum, maximum) in implied.items():
        if name in explicit and read_integer(explicit[name], name, minimum, maximum) != value:
            raise PainterlyError(
                "--scales gives each stage's size and evaluations; give it or "
                "--size/--iterations, not both"
            )


_GROUP_RULES = {"balance": _merge_balance, "schedule": _merge_schedule}


def field_default(f: dataclasses.Field) -> Any:
    """The default value of an Options field (a fresh copy where it is a mapping)."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def option_fields() -> list[dataclasses.Field]:
    """The Options fields in declaration order, for front ends that build forms or flags."""
    return list(dataclasses.fields(Options))


def named_files(options: Options) -> list[tuple[str, str]]:
    """(role, path) of the files ``options`` name: an ``--init`` image, and each ``--mask``
    with its style."""
    files = [("--init image", options.init)] if options.init not in INITS else []
    for mask, style in options.masks:
        files += [("mask", mask), ("style image", style)]
    return files


def input_files(content: str, styles: Sequence[str], options: Options) -> list[tuple[str, str]]:
    """(role, path) of every file a run reads: the content and style images, and the files
    the options name (:func:`named_files`); no output may be one of them."""
    return [("content image", content), *(("style image", s) for s in styles),
            *named_files(options)]  # fmt: skip
