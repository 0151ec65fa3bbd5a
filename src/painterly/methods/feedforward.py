"""What the feed-forward methods share: one encoder pass, a feature transform, one decoder pass.

Huang & Belongie (2017), "Arbitrary Style Transfer in Real-time with Adaptive Instance
Normalization", §6: T(c, s) = g(t) with t a transform of f(c) and f(s), the relu4_1
features of the normalised VGG-19 ``f`` (max pooling, reflection padding, as the decoder
``g`` was trained with), followed by the content–style trade-off of §7,

    T(c, s, α) = g((1 − α) f(c) + α t),

which ``--strength`` sets (α = 1 by default, the paper's full transfer), and the style
interpolation of §7 for several styles, t = Σ_k w_k t_k with the ``--style-blend`` weights.
Li et al. (2017) decode their whitening and colouring transform the same way, so
:mod:`painterly.methods.wct` differs from :mod:`painterly.methods.adain` only in ``t``.

Options that steer an optimisation (iterations, optimiser, α, β, layers, loss convention,
total variation, pooling, init, seed) do not apply and are ignored; ``--mask``, ``--scales``
and other ``--weights`` are refused when the Options are built.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torch.nn import functional as F

from painterly.config.options import Options
from painterly.controls.inputs import Inputs, prepare_inputs
from painterly.engine import cost
from painterly.engine.optimize import Cancel, Progress
from painterly.engine.plan import Network, Plan, StagePlan, resolve
from painterly.engine.runtime import GIB, autocast, configure
from painterly.engine.tiles import grid, layer_reach
from painterly.errors import Interrupted, Note, PainterlyError
from painterly.io.images import to_image, to_tensor
from painterly.methods.base import Result
from painterly.methods.tiled import Codec, Fit, tiled_transfer
from painterly.models import AdaINDecoder, load_decoder, load_encoder
from painterly.models.decoder import REACH, STRIDE
from painterly.models.vgg import VGG19

LAYER = "conv4_1"
"""relu4_1, the features the decoder inverts."""
ENCODER_WEIGHTS = "vgg19-normalized"
DECODER_WEIGHTS = "adain-decoder"
DEFAULT_STRENGTH = 1.0
"""α when ``--strength`` is not given: the full transfer, as in the AdaIN paper's results."""

Transform = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(content features, style features) → transferred features, each 1×C×H×W."""


def networks(device: torch.device) -> tuple[VGG19, AdaINDecoder]:
    """The encoder cut at relu4_1 and the decoder, cached for the next run."""
    encoder = load_encoder(ENCODER_WEIGHTS, "max", "reflect", LAYER, device)
    return encoder, load_decoder(DECODER_WEIGHTS, device)


def pad_to_stride(image: torch.Tensor, stride: int = STRIDE) -> torch.Tensor:
    """``image`` reflected at its right and bottom edges up to multiples of ``stride``."""
    h, w = image.shape[-2:]
    pad_h, pad_w = -h % stride, -w % stride
    if not pad_h and not pad_w:
        return image
    return F.pad(image, (0, pad_w, 0, pad_h), mode="reflect")


def blend_strength(content: torch.Tensor, transferred: torch.Tensor, alpha: float) -> torch.Tensor:
    """(1 − α) f(c) + α t, the AdaIN paper's content–style trade-off (§7)."""
    if alpha == 1.0:
        return transferred
    return torch.lerp(content, transferred, alpha)


StyleMemo = dict[int, tuple[torch.Tensor, torch.Tensor]]
"""Encoded styles kept across passes, by the style tensor's identity: id → (style, code).
The tensor itself is kept too, so that its id cannot be reused by another one."""


def remembered(
    encode: Callable[[torch.Tensor], torch.Tensor], memo: StyleMemo | None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``encode``, looking each style tensor up in ``memo`` first (None: no memory): a
    clip's frames share their styles, whose codes are then computed once."""
    if memo is None:
        return encode

    def lookup(style: torch.Tensor) -> torch.Tensor:
        known = memo.get(id(style))
        if known is None or known[0] is not style:
            known = memo[id(style)] = (style, encode(style))
        return known[1]

    return lookup


def mix_transfers(
    content: torch.Tensor,
    styles: Sequence[tuple[torch.Tensor, float]],
    encode: Callable[[torch.Tensor], torch.Tensor],
    transform: Transform,
    memo: StyleMemo | None = None,
) -> torch.Tensor:
    """Σ_k w_k T(content, encode(style_k)): the AdaIN paper's style interpolation (§7), for
    features and for ArtFlow's latents alike, in ``content``'s dtype; the styles' codes
    are kept in ``memo`` when one is given."""
    encode = remembered(encode, memo)
    mixed = None
    for style, weight in styles:
        part = transform(content, encode(style)).to(content.dtype)
        mixed = part * weight if mixed is None else mixed.add_(part, alpha=weight)
    assert mixed is not None, "at least one style"
    return mixed


def transfer(
    encoder: VGG19,
    decoder: AdaINDecoder,
    content: torch.Tensor,
    styles: Sequence[tuple[torch.Tensor, float]],
    transform: Transform,
    alpha: float,
    clamp: bool = True,
    memo: StyleMemo | None = None,
) -> torch.Tensor:
    """Stylise ``content`` (1×3×H×W in [0, 1], any H, W ≥ 8) with weighted ``styles``
    (their relu4_1 features kept in ``memo``, when given, for the next call).

    The content is reflect-padded to multiples of 8 for the decoder and the result cropped
    back, so the output has the content's size. The encoder and the transform run in float32
    whatever the autocast around them, the decoder at its precision: WCT's whitening, and
    AdaIN's statistics, magnify the encoder's bf16 rounding (a 512 px WCT result moved by 1.9
    levels on average, 125 at most, 3.7 % of the pixels by more than 8), while the decoder's
    own costs 0.45 on average, 14 at most (docs/performance.md). Returns 1×3×H×W, clamped
    to [0, 1] unless ``clamp`` is false (float rounds of ``painterly leak``).
    """
    h, w = content.shape[-2:]
    with torch.inference_mode():
        with torch.autocast(content.device.type, enabled=False):
            content_features = encoder(pad_to_stride(content), [LAYER])[LAYER]
            mixed = mix_transfers(
                content_features,
                styles,
                lambda style: encoder(style, [LAYER])[LAYER],
                transform,
                memo,
            )
            blended = blend_strength(content_features, mixed, alpha)
        decoded = decoder(blended)
        decoded = decoded[..., :h, :w].float()
        return decoded.clamp_(0.0, 1.0) if clamp else decoded


Stylise = Callable[[torch.Tensor, Sequence[tuple[torch.Tensor, float]], float], torch.Tensor]
"""One pass: (content 1×3×H×W, weighted styles 1×3×h×w, α) → 1×3×H×W in [0, 1]."""


def decoder_pass(
    transform: Transform, device: torch.device, clamp: bool = True, remember: bool = False
) -> Stylise:
    """:func:`transfer` through the encoder and the AdaIN decoder on ``device``; with
    ``remember``, each style tensor is encoded once for all the passes (a clip's frames)."""
    encoder, decoder = networks(device)
    memo: StyleMemo | None = {} if remember else None
    return lambda content, styles, alpha: transfer(
        encoder, decoder, content, styles, transform, alpha, clamp, memo
    )


def vgg_codec(encoder: VGG19, decoder: AdaINDecoder, fit: Fit) -> Codec:
    """The encoder to relu4_1 (float32, as in :func:`transfer`) and the AdaIN decoder (at
    the ambient precision), for a tiled pass of the transform ``fit`` describes."""

    def encode(image: torch.Tensor) -> torch.Tensor:
        with torch.autocast(image.device.type, enabled=False):
            return encoder(image, [LAYER])[LAYER]

    return Codec(encode, decoder, STRIDE, layer_reach(LAYER), REACH, fit)


def tiled_pass(codec: Codec, tile: int, clamp: bool = True) -> Stylise:
    """A :data:`Stylise` that decodes in tiles of at most ``tile`` px
    (:mod:`painterly.methods.tiled`): the content reflect-padded to the codec's stride as
    :func:`transfer` pads it, the result cropped back and clamped unless ``clamp`` is false."""

    def stylise(
        content: torch.Tensor, styles: Sequence[tuple[torch.Tensor, float]], alpha: float
    ) -> torch.Tensor:
        h, w = content.shape[-2:]
        with torch.inference_mode():
            padded = pad_to_stride(content, codec.stride)
            out = tiled_transfer(codec, padded, styles, alpha, tile)[..., :h, :w]
            return out.clamp_(0.0, 1.0) if clamp else out

    return stylise


def decoder_tiles(transform: Fit, device: torch.device, tile: int) -> Stylise:
    """:func:`tiled_pass` through the encoder and the AdaIN decoder on ``device``."""
    return tiled_pass(vgg_codec(*networks(device), transform), tile)


def network() -> Network:
    """What a feed-forward pass asks of its plan: VGG-19 down to relu4_1, sides of at least
    the decoder's stride, no optimiser history, tiles read with the encoder's and decoder's
    reach (64 px)."""
    return Network(LAYER, STRIDE, 0, -(-(layer_reach(LAYER) + REACH) // STRIDE) * STRIDE)


def transfer_inputs(
    inputs: Inputs, plan: Plan, stage: StagePlan, stylise: Stylise, alpha: float
) -> torch.Tensor:
    """One ``stylise`` pass over prepared ``inputs`` at ``stage``'s sizes
    (:func:`stage_tensors`; before ``finish``), on the plan's device and in its precision."""
    content, styles = stage_tensors(inputs, plan, stage)
    with autocast(plan.device, plan.dtype):
        return stylise(content, styles, alpha)


def stage_tensors(
    inputs: Inputs, plan: Plan, stage: StagePlan
) -> tuple[torch.Tensor, list[tuple[torch.Tensor, float]]]:
    """The content and the weighted styles of ``inputs`` at ``stage``'s sizes, on the plan's
    device: each style at the output's scale × ``style_scale``, as for the optimisation."""
    region = inputs.regions[0]
    styles = [
        (to_tensor(style.resize(wh, Image.Resampling.LANCZOS)).to(plan.device), weight)
        for (style, weight), wh in zip(region.styles, stage.styles, strict=True)
    ]
    return stage_content(inputs, plan, stage), styles


def stage_content(inputs: Inputs, plan: Plan, stage: StagePlan) -> torch.Tensor:
    """The content of ``inputs`` at ``stage``'s output size, on the plan's device."""
    content = to_tensor(inputs.content.resize(stage.output, Image.Resampling.LANCZOS))
    return content.to(plan.device)


def prepare(
    content: Image.Image, styles: Sequence[Image.Image], options: Options, network: Network
) -> tuple[Inputs, Plan, StagePlan]:
    """The inputs, the plan for ``network`` (its device configured) and its one stage."""
    inputs = prepare_inputs(content, styles, options)
    # The optimisation's memory estimate with no history: generous for a pass without
    # gradients, which frees each activation once the next layer is computed.
    plan = resolve(options, inputs, network)
    configure(plan.device)
    (stage,) = plan.stages
    return inputs, plan, stage


def run_pass(
    content: Image.Image,
    styles: Sequence[Image.Image],
    options: Options,
    make: Callable[[torch.device], Stylise],
    network: Network,
    callback: Callable[[Progress], None] | None = None,
    cancel: Cancel | None = None,
    tiles: Callable[[torch.device, int], Stylise] | None = None,
) -> Result:
    """The entry point of a one-pass method: prepare, plan for ``network``, ``make`` the
    pass on the plan's device (or, for a stage the plan tiles, ``tiles`` it with the plan's
    tile), run it, finish.

    ``callback`` gets one :class:`Progress` for the single pass, so front ends show
    feed-forward runs like optimisation runs. A ``cancel`` set before the pass starts
    raises :class:`Interrupted` (the pass itself is not interrupted: it takes seconds).
    """
    started = time.perf_counter()
    inputs, plan, stage = prepare(content, styles, options, network)
    if stage.tile is not None:
        assert tiles is not None, "the plan tiles only a network with a reach"
        tell_tiles(plan, stage, make(plan.device))
        stylise = tiles(plan.device, stage.tile)
    else:
        stylise = make(plan.device)
    if cancel is not None and cancel.is_set():
        raise Interrupted(None, 0)
    alpha = DEFAULT_STRENGTH if options.strength is None else options.strength
    image = transfer_inputs(inputs, plan, stage, stylise, alpha)
    final = inputs.final(to_image(image, options.bit_depth))
    seconds = time.perf_counter() - started
    if callback is not None:
        callback(
            Progress(
                iteration=1,
                total=1,
                losses={},
                elapsed=seconds,
                render=lambda: final,
                stage_size=stage.output,
                stage_iteration=1,
                stage_total=1,
            )
        )
    return Result(image=final, options=options, iterations=1, seconds=seconds, exif=inputs.exif)


def tell_tiles(plan: Plan, stage: StagePlan, whole: Stylise) -> None:
    """A note that the pass is tiled: how many tiles, and the memory and time it needs
    (:mod:`painterly.engine.cost`, probed with the untiled pass ``whole``)."""
    assert stage.tile is not None
    w, h = stage.output
    count = len(grid(h, w, stage.tile, plan.network.min_side, plan.network.reach))
    with autocast(plan.device, plan.dtype):
        measured = cost.probe(plan, lambda image: whole(image, [(image, 1.0)], 1.0))
    (estimate,) = cost.estimate(plan, measured, cost.pass_tiles(plan)).stages
    warnings.warn(
        Note(
            f"the {w}×{h} pass is decoded in {count} tiles of at most {stage.tile} px, with the "
            f"whole image's statistics; about {estimate.memory / GIB:.1f} GiB and "
            f"{cost.duration(estimate.seconds)}"
        ),
        stacklevel=3,
    )


class FloatRounds:
    """One-pass stylisation kept in float32 from round to round (no 8-bit image between):
    the content and each style prepared once at the plan's sizes, as :func:`run_pass` does,
    then ``step(current, style)`` stylises the tensor ``current`` with a style tensor.

    ``--preserve-color`` is refused: its colour step works on 8-bit images.
    """

    def __init__(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        options: Options,
        make: Callable[[torch.device], Stylise],
        network: Network,
    ) -> None:
        if options.preserve_color != "none":
            raise PainterlyError(
                "--preserve-color works on 8-bit images; leave it out with float rounds"
            )
        inputs, self.plan, stage = prepare(content, styles, options, network)
        self.content, weighted = stage_tensors(inputs, self.plan, stage)
        self.styles = [style for style, _ in weighted]
        self.alpha = DEFAULT_STRENGTH if options.strength is None else options.strength
        self._stylise = make(self.plan.device)

    def step(self, current: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """``current`` stylised with ``style`` (one of :attr:`styles`, or the content)."""
        with autocast(self.plan.device, self.plan.dtype):
            return self._stylise(current, [(style, 1.0)], self.alpha)


def run_transform(
    content: Image.Image,
    styles: Sequence[Image.Image],
    options: Options,
    transform: Transform,
    fit: Fit,
    callback: Callable[[Progress], None] | None = None,
    cancel: Cancel | None = None,
) -> Result:
    """:func:`run_pass` of ``transform`` at relu4_1 and the AdaIN decoder (tiled, when the
    plan tiles, by its form ``fit``)."""
    return run_pass(
        content, styles, options, lambda device: decoder_pass(transform, device), network(),
        callback, cancel, lambda device, tile: decoder_tiles(fit, device, tile),
    )  # fmt: skip
