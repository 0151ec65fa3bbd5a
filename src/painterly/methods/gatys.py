"""Image optimisation after Gatys, Ecker & Bethge (2016), "Image Style Transfer Using
Convolutional Neural Networks": match conv4_2 of the content and the Gram matrices of the
style at conv1_1 … conv5_1, starting from white noise, with L-BFGS."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torch.nn import functional as F

from painterly import losses
from painterly.errors import Interrupted
from painterly.images import load_image, to_image, to_tensor
from painterly.methods.base import Result, working_sizes
from painterly.methods.inputs import Inputs, prepare_inputs
from painterly.methods.targets import Targets, compute_targets
from painterly.models import load_encoder
from painterly.models.vgg import LAYER_NAMES, VGG19, layer_stride
from painterly.optimize import LBFGS_HISTORY, Outcome, Progress, optimize
from painterly.options import Options
from painterly.runtime import check_fits, select_device
from painterly.strength import strength_weights

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
    by ``options.loss_convention`` (see :data:`losses.CONVENTIONS`); with ``options.strength``
    α and β come from :func:`painterly.strength.strength_weights` on this pair.
    """

    def __init__(self, encoder: VGG19, targets: Targets, options: Options) -> None:
        self.encoder = encoder
        self.targets = targets
        self.options = options
        self.convention = losses.CONVENTIONS[options.loss_convention]
        self.layers = options.layers
        self.content_weight, self.style_weight = options.content_weight, options.style_weight
        if options.strength is not None:
            self.content_weight, self.style_weight = strength_weights(
                options.strength, *self.reference_losses()
            )

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

    def reference_losses(self) -> tuple[float, float]:
        """(C₀, S₀) for ``--strength``: the content loss of the "all style" references and
        the style loss of the content image itself."""
        t = self.targets
        with torch.no_grad():
            c0 = sum(w * self.content_loss(f).item() for f, w in t.references)
            pixels = t.content_image.shape[2] * t.content_image.shape[3]
            s0 = self.style_loss(t.content, pixels).item()
        return c0, s0

    def compose(self, image: torch.Tensor) -> torch.Tensor:
        """The image the losses see: painted regions from ``image``, the rest the content."""
        w = self.targets.coverage
        return image if w is None else w * image + (1 - w) * self.targets.content_image

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        image = self.compose(image)
        features = self.encoder(image, self.layers)
        o, c = self.options, self.convention
        terms = {"content": self.content_weight * self.content_loss(features)}
        if o.style_layers:
            pixels = image.shape[2] * image.shape[3]
            terms["style"] = self.style_weight * self.style_loss(features, pixels)
        if o.tv_weight:
            terms["tv"] = o.tv_weight * c.tv(image)
        terms["total"] = sum(terms.values())
        return terms


def initial_image(
    options: Options, content: torch.Tensor, style_image: Image.Image
) -> torch.Tensor:
    """White noise (the paper), the content, the style stretched to the output, or a file.

    The noise is uniform in mid-grey ± NOISE_AMPLITUDE / 2: full-range noise leaves
    speckles that L-BFGS takes hundreds of evaluations to remove (the losses barely see
    single-pixel detail), while low-amplitude white noise starts as unbiased and ends clean.
    """
    _, _, h, w = content.shape
    if options.init == "noise":
        generator = torch.Generator().manual_seed(options.seed)
        noise = torch.rand(content.shape, generator=generator)
        return (0.5 + NOISE_AMPLITUDE * (noise - 0.5)).to(content.device)
    if options.init == "content":
        return content.clone()
    source = style_image if options.init == "style" else load_image(options.init, "init image")
    return to_tensor(source.resize((w, h), Image.Resampling.LANCZOS)).to(content.device)


def stage_sizes(
    inputs: Inputs, options: Options, min_side: int
) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """(width, height) of the output at ``options.size`` and of each style image."""
    sizes = [working_sizes(inputs.content, style, options, min_side) for style in inputs.styles]
    return sizes[0][0], [style_wh for _, style_wh in sizes]


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
    The result's options carry the α and β used (set by ``strength``, if given).
    """
    inputs = prepare_inputs(content, styles, options)
    last = deepest_layer(options)
    device = select_device(options.device)
    plans = [
        stage_sizes(inputs, options.replace(size=size), layer_stride(last))
        for size, _ in options.stages
    ]
    biggest = max(range(len(plans)), key=lambda i: plans[i][0][0] * plans[i][0][1])
    output_wh, style_whs = plans[biggest]
    largest_style = max(style_whs, key=lambda wh: wh[0] * wh[1])
    check_fits(output_wh, largest_style, last, LBFGS_HISTORY, device, options.stages[biggest][0])

    torch.manual_seed(options.seed)
    encoder = load_encoder(options.weights, options.pooling, "zeros", last, device)
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
            references=options.strength is not None,
        )
        objective = Objective(encoder, targets, options)
        if image is None:
            start = initial_image(options, targets.content_image, targets.first_style)
        else:
            start = F.interpolate(image, size=(h, w), mode="bicubic", align_corners=False)
        outcome = optimize_stage(
            objective, start, options, iterations, callback, inputs.finish, done, grand_total
        )
        image = objective.compose(outcome.image)
        done, seconds = done + outcome.iterations, seconds + outcome.seconds
    return Result(
        image=inputs.finish(to_image(image)),
        options=dataclasses.replace(
            options, content_weight=objective.content_weight, style_weight=objective.style_weight
        ),
        losses=outcome.losses,
        iterations=done,
        seconds=seconds,
    )
