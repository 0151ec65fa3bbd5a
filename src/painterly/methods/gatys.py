"""Image optimisation after Gatys, Ecker & Bethge (2016), "Image Style Transfer Using
Convolutional Neural Networks": match conv4_2 of the content and the Gram matrices of the
style at conv1_1 … conv5_1, starting from white noise, with L-BFGS."""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torch.nn import functional as F

from painterly.config.options import Options
from painterly.controls.inputs import Inputs, prepare_inputs, stage_sizes
from painterly.controls.strength import (
    FIRST_RATIO,
    PILOT_ITERATIONS,
    PILOT_SIZE,
    PILOTS,
    next_ratio,
    retention,
    target_retention,
)
from painterly.engine import losses
from painterly.engine.optimize import Outcome, Progress, history_pairs, optimize
from painterly.engine.runtime import (
    autocast,
    check_fits,
    configure,
    resolve_precision,
    select_device,
)
from painterly.engine.targets import Targets, compute_targets
from painterly.errors import Interrupted, Note
from painterly.io.images import load_image, to_image, to_tensor
from painterly.methods.base import Result
from painterly.models import load_encoder
from painterly.models.vgg import LAYER_NAMES, VGG19, layer_stride

NOISE_AMPLITUDE = 0.1


def deepest_layer(options: Options) -> str:
    """The last VGG layer the run reads; the encoder is cut there."""
    return max(options.layers, key=LAYER_NAMES.index)


class Objective:
    """α·L_content + β·L_style + λ_tv·TV against precomputed :class:`Targets`.

    The style term sums over the regions: Eq. 5 for a region without a mask, the guided
    loss of Gatys et al. (2017, §4.1) for one with. With masks, the image optimised is only
    what the regions paint: every evaluation sees W·x + (1 − W)·content (see
    :meth:`compose`), so uncovered parts keep the content exactly. The terms are normalised
    by ``options.loss_convention`` (see :data:`losses.CONVENTIONS`); α and β are the
    options' (:func:`calibrate_strength` sets them for ``--strength``).
    """

    def __init__(
        self,
        encoder: VGG19,
        targets: Targets,
        options: Options,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.encoder = encoder
        self.targets = targets
        self.options = options
        self.convention = losses.CONVENTIONS[options.loss_convention]
        self.layers = options.layers
        self.autocast = functools.partial(autocast, targets.content_image.device, dtype)

    def content_loss(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Σ_l w_l L_content at the content layers (Eq. 1 in the convention's form)."""
        zero = torch.zeros((), device=self.targets.content_image.device)
        return sum(
            (
                w * self.convention.content(features[n], self.targets.content[n])
                for n, w in self.options.content_layers.items()
            ),
            zero,
        )

    def style_loss(self, features: dict[str, torch.Tensor], pixels: int) -> torch.Tensor:
        """L_style (Eq. 5) summed over the regions, guided where a region has a mask."""
        o, layer_loss = self.options, self.convention.style_layer
        total = torch.zeros((), device=self.targets.content_image.device)
        for region in self.targets.styles:
            if region.guides is None:
                term = losses.style_loss(features, region.grams, o.style_layers, layer_loss, pixels)
            else:
                term = losses.guided_style_loss(
                    features, region.grams, region.guides, o.style_layers, layer_loss, pixels
                )
            total = total + term
        return total

    def compose(self, image: torch.Tensor) -> torch.Tensor:
        """The image the losses see: painted regions from ``image``, the rest the content."""
        w = self.targets.coverage
        return image if w is None else w * image + (1 - w) * self.targets.content_image

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        image = self.compose(image)
        with self.autocast():
            features = self.encoder(image, self.layers)
        o, c = self.options, self.convention
        terms = {"content": o.content_weight * self.content_loss(features)}
        if o.style_layers:
            pixels = image.shape[2] * image.shape[3]
            terms["style"] = o.style_weight * self.style_loss(features, pixels)
        if o.tv_weight:
            terms["tv"] = o.tv_weight * c.tv(image)
        terms["total"] = sum(terms.values())
        return terms


def single_objective(
    encoder: VGG19,
    content: Image.Image,
    styles: Sequence[Image.Image],
    options: Options,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> Objective:
    """The objective of one stage at ``options.size``, with its targets (for benchmarks and
    tests that evaluate the loss without running the optimisation)."""
    inputs = prepare_inputs(content, styles, options)
    content_wh, style_whs = stage_sizes(inputs, options, layer_stride(deepest_layer(options)))
    targets = compute_targets(
        encoder,
        inputs,
        content_wh,
        style_whs,
        list(options.content_layers),
        list(options.style_layers),
        device,
        dtype,
    )
    return Objective(encoder, targets, options, dtype)


def initial_image(
    options: Options,
    content: torch.Tensor,
    style_image: Image.Image,
    adain: Callable[[], torch.Tensor] | None = None,
) -> torch.Tensor:
    """White noise (the paper), the content, the style stretched to the output, the AdaIN
    result (``adain()``, see :func:`adain_start`), or a file.

    The noise is uniform in mid-grey ± NOISE_AMPLITUDE / 2: full-range noise leaves
    speckles that L-BFGS takes hundreds of evaluations to remove (the losses barely see
    single-pixel detail), while low-amplitude white noise starts as unbiased and ends clean.
    """
    _, _, h, w = content.shape
    if options.init == "adain":
        if adain is None:
            raise ValueError("init adain needs the adain callable")
        start = adain()
        if start.shape[-2:] != (h, w):
            start = F.interpolate(start, size=(h, w), mode="bicubic", align_corners=False)
        return start.clamp(0.0, 1.0).to(content.device)
    if options.init == "noise":
        generator = torch.Generator().manual_seed(options.seed)
        noise = torch.rand(content.shape, generator=generator)
        return (0.5 + NOISE_AMPLITUDE * (noise - 0.5)).to(content.device)
    if options.init == "content":
        return content.clone()
    source = style_image if options.init == "style" else load_image(options.init, "init image")
    return to_tensor(source.resize((w, h), Image.Resampling.LANCZOS)).to(content.device)


def adain_start(
    inputs: Inputs, options: Options, size: int, device: torch.device, dtype: torch.dtype
) -> Callable[[], torch.Tensor]:
    """``--init adain``: a maker of the AdaIN result (Huang & Belongie 2017, full strength)
    of ``inputs`` at ``size``, run only if the init asks for it."""

    def make() -> torch.Tensor:
        from painterly.methods.adain import adaptive_instance_norm
        from painterly.methods.feedforward import transfer_inputs

        at_size = dataclasses.replace(options, size=size, scales=())
        return transfer_inputs(inputs, at_size, adaptive_instance_norm, device, dtype, 1.0)

    return make


def optimize_stage(
    objective: Objective,
    start: torch.Tensor,
    options: Options,
    iterations: int,
    callback: Callable[[Progress], None] | None,
    finish: Callable[[Image.Image], Image.Image],
    offset: int = 0,
    grand_total: int | None = None,
) -> Outcome:
    """One run of the optimiser; progress images and an interrupted run's best image are
    composed and finished (colour restored) like the result."""

    def render(image: torch.Tensor) -> Image.Image:
        return finish(to_image(objective.compose(image)))

    try:
        return optimize(
            start,
            objective,
            optimizer=options.optimizer,
            iterations=iterations,
            learning_rate=options.learning_rate,
            lbfgs_restart=options.lbfgs_restart,
            callback=callback,
            render=render,
            offset=offset,
            grand_total=grand_total,
        )
    except Interrupted as stop:
        raise Interrupted(render(stop.best), offset + stop.iteration) from None


def run(
    content: Image.Image,
    styles: Sequence[Image.Image],
    options: Options,
    callback: Callable[[Progress], None] | None = None,
) -> Result:
    """Stylise ``content`` with ``styles`` by optimising the pixels of a new image.

    With several ``options.stages`` (coarse to fine, Gatys et al. 2017), each stage
    recomputes the targets at its size and starts from the previous result, upsampled.
    With ``options.strength``, α and β are first calibrated on the pair
    (:func:`calibrate_strength`); the result's options carry the α and β used.
    """
    inputs = prepare_inputs(content, styles, options)
    last = deepest_layer(options)
    device = select_device(options.device)
    configure(device)
    dtype = resolve_precision(options.precision, device)
    plans = [
        stage_sizes(inputs, options.replace(size=size), layer_stride(last))
        for size, _ in options.stages
    ]
    biggest = max(range(len(plans)), key=lambda i: plans[i][0][0] * plans[i][0][1])
    output_wh, style_whs = plans[biggest]
    largest_style = max(style_whs, key=lambda wh: wh[0] * wh[1])
    check_fits(
        output_wh,
        largest_style,
        last,
        history_pairs(options.optimizer),
        device,
        options.stages[biggest][0],
    )

    torch.manual_seed(options.seed)
    encoder = load_encoder(options.weights, options.pooling, "zeros", last, device)
    if options.strength is not None:
        options = calibrate_strength(encoder, inputs, options, device, dtype)
    grand_total = sum(iterations for _, iterations in options.stages)
    done, seconds, image, outcome = 0, 0.0, None, None
    for ((w, h), style_whs), (_, iterations) in zip(plans, options.stages, strict=True):
        targets = compute_targets(
            encoder,
            inputs,
            (w, h),
            style_whs,
            list(options.content_layers),
            list(options.style_layers),
            device,
            dtype,
        )
        objective = Objective(encoder, targets, options, dtype)
        if image is None:
            adain = adain_start(inputs, options, options.stages[0][0], device, dtype)
            start = initial_image(options, targets.content_image, targets.first_style, adain)
        else:
            start = F.interpolate(image, size=(h, w), mode="bicubic", align_corners=False)
        outcome = optimize_stage(
            objective, start, options, iterations, callback, inputs.finish, done, grand_total
        )
        image = objective.compose(outcome.image)
        done, seconds = done + outcome.iterations, seconds + outcome.seconds
    return Result(
        image=inputs.finish(to_image(image)),
        options=options,
        losses=outcome.losses,
        iterations=done,
        seconds=seconds,
    )


def content_similarity(
    features: dict[str, torch.Tensor], targets: Targets, layers: dict[str, float]
) -> float:
    """Σ_l w_l cos(F^l, P^l) / Σ_l w_l: how alike the features are to the content's."""
    total = sum(
        w * F.cosine_similarity(features[n].flatten(), targets.content[n].flatten(), dim=0).item()
        for n, w in layers.items()
    )
    return total / sum(layers.values())


def pilot_size(inputs: Inputs, options: Options, min_side: int) -> int:
    """:data:`~painterly.controls.strength.PILOT_SIZE`, doubled while a side would be too short
    for the network, and never more than the first stage's size."""
    first = options.stages[0][0]
    size = min(PILOT_SIZE, first)
    while size < first:
        content_wh, style_whs = stage_sizes(inputs, options.replace(size=size), 1)
        if min(min(wh) for wh in [content_wh, *style_whs]) >= min_side:
            break
        size *= 2
    return min(size, first)


def calibrate_strength(
    encoder: VGG19,
    inputs: Inputs,
    options: Options,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> Options:
    """``options`` with the β (α/β) that gives this pair the retention ``options.strength``
    asks for (see :mod:`painterly.controls.strength`), measured by short pilot runs.

    α stays ``options.content_weight``; strength 0 sets β = 0 and strength 1 sets α = 0
    without pilots. A pilot is the run itself at :func:`pilot_size` with at most
    ``PILOT_ITERATIONS`` evaluations: the same initial image, seed, layers and controls.
    """
    strength, alpha = options.strength, options.content_weight
    if strength in (0.0, 1.0):
        weights = (alpha, 0.0) if strength == 0.0 else (0.0, 1.0)
        return dataclasses.replace(options, content_weight=weights[0], style_weight=weights[1])
    size = pilot_size(inputs, options, layer_stride(deepest_layer(options)))
    iterations = min(PILOT_ITERATIONS, sum(n for _, n in options.stages))
    content_wh, style_whs = stage_sizes(inputs, options.replace(size=size), 1)
    layers = options.content_layers
    targets = compute_targets(
        encoder, inputs, content_wh, style_whs, list(layers), list(options.style_layers), device,
        dtype, references=True,
    )  # fmt: skip
    style_similarity = sum(
        w * content_similarity(features, targets, layers) for features, w in targets.references
    )
    target = target_retention(strength)
    samples: list[tuple[float, float]] = []
    warnings.warn(
        Note(
            f"--strength {strength}: finding α/β for this pair with {PILOTS} pilot runs "
            f"at {size} px, {iterations} evaluations each"
        ),
        stacklevel=2,
    )
    ratio = FIRST_RATIO
    for _ in range(PILOTS):
        pilot = dataclasses.replace(
            options, size=size, scales=(), iterations=iterations, style_weight=alpha / ratio
        )
        objective = Objective(encoder, targets, pilot, dtype)
        adain = adain_start(inputs, pilot, size, device, dtype)
        start = initial_image(pilot, targets.content_image, targets.first_style, adain)
        try:
            outcome = optimize_stage(objective, start, pilot, iterations, None, lambda x: x)
        except Interrupted:
            raise KeyboardInterrupt from None  # a pilot's image is no result worth saving
        with torch.no_grad():
            features = encoder(objective.compose(outcome.image), list(layers))
        rho = retention(content_similarity(features, targets, layers), style_similarity)
        samples.append((ratio, rho))
        ratio = next_ratio(samples, target)
    pilots = ", ".join(f"{r:.2g} → ρ {rho:.2f}" for r, rho in samples)
    warnings.warn(
        Note(f"--strength {strength} (ρ = {target:.2f}) uses α/β = {ratio:.2g} (pilots: {pilots})"),
        stacklevel=2,
    )
    return dataclasses.replace(options, style_weight=alpha / ratio)
