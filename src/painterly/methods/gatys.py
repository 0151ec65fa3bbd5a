"""Image optimisation after Gatys, Ecker & Bethge (2016), "Image Style Transfer Using
Convolutional Neural Networks": match conv4_2 of the content and the Gram matrices of the
style at conv1_1 … conv5_1, starting from white noise, with L-BFGS."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from PIL import Image
from torch.nn import functional as F

from painterly import losses
from painterly.errors import Interrupted
from painterly.images import load_image, to_image, to_tensor
from painterly.methods.base import Result, working_sizes
from painterly.models import load_encoder
from painterly.models.vgg import LAYER_NAMES, VGG19, layer_stride
from painterly.optimize import LBFGS_HISTORY, Progress, optimize
from painterly.options import Options
from painterly.runtime import autocast, check_fits, configure, resolve_precision, select_device

NOISE_AMPLITUDE = 0.1


def deepest_layer(options: Options) -> str:
    """The last VGG layer the run reads; the encoder is cut there."""
    return max(options.layers, key=LAYER_NAMES.index)


class Objective:
    """α·L_content + β·L_style + λ_tv·TV for one content and one style image.

    The targets (content features P^l and style Grams A^l) are computed once, here.
    A^l is rescaled by M_l(generated) / M_l(style) so that a style image of another size
    is compared per position, which leaves Eq. 4 unchanged when the sizes agree. The
    terms are normalised by ``options.loss_convention`` (see :data:`losses.CONVENTIONS`).
    """

    def __init__(
        self,
        encoder: VGG19,
        content: torch.Tensor,
        style: torch.Tensor,
        options: Options,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.encoder = encoder
        self.options = options
        self.convention = losses.CONVENTIONS[options.loss_convention]
        self.layers = options.layers
        self.autocast = functools.partial(autocast, content.device, dtype)
        with torch.inference_mode(), self.autocast():
            content_features = encoder(content, options.layers)
            style_features = encoder(style, list(options.style_layers))
        self.content_targets = {
            name: content_features[name].clone() for name in options.content_layers
        }
        self.style_targets = {}
        for name in options.style_layers:
            f, g = style_features[name], content_features[name]
            m_style, m_out = f.shape[2] * f.shape[3], g.shape[2] * g.shape[3]
            self.style_targets[name] = losses.gram_matrix(f) * (m_out / m_style)

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        with self.autocast():
            features = self.encoder(image, self.layers)
        o, c = self.options, self.convention
        zero = torch.zeros((), device=image.device)
        content = sum(
            (
                w * c.content(features[n], self.content_targets[n])
                for n, w in o.content_layers.items()
            ),
            zero,
        )
        terms = {"content": o.content_weight * content}
        if o.style_layers:
            pixels = image.shape[2] * image.shape[3]
            style = losses.style_loss(
                features, self.style_targets, o.style_layers, c.style_layer, pixels
            )
            terms["style"] = o.style_weight * style
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


def run(
    content: Image.Image,
    style: Image.Image,
    options: Options,
    callback: Callable[[Progress], None] | None = None,
) -> Result:
    """Stylise ``content`` with ``style`` by optimising the pixels of a new image.

    With several ``options.stages`` (coarse to fine, Gatys et al. 2017), each stage
    recomputes the targets at its size and starts from the previous result, upsampled.
    """
    last = deepest_layer(options)
    device = select_device(options.device)
    configure(device)
    dtype = resolve_precision(options.precision, device)
    plans = []
    for size, _ in options.stages:
        plans.append(working_sizes(content, style, options.replace(size=size), layer_stride(last)))
    biggest = max(range(len(plans)), key=lambda i: plans[i][0][0] * plans[i][0][1])
    check_fits(*plans[biggest], last, LBFGS_HISTORY, device, options.stages[biggest][0])

    torch.manual_seed(options.seed)
    encoder = load_encoder(options.weights, options.pooling, "zeros", last, device)
    grand_total = sum(iterations for _, iterations in options.stages)
    done, seconds, image, outcome = 0, 0.0, None, None
    for ((w, h), style_wh), (_, iterations) in zip(plans, options.stages, strict=True):
        content_t = to_tensor(content.resize((w, h), Image.Resampling.LANCZOS)).to(device)
        style_img = style.resize(style_wh, Image.Resampling.LANCZOS)
        objective = Objective(encoder, content_t, to_tensor(style_img).to(device), options, dtype)
        if image is None:
            start = initial_image(options, content_t, style_img)
        else:
            start = F.interpolate(image, size=(h, w), mode="bicubic", align_corners=False)
        try:
            outcome = optimize(
                start,
                objective,
                optimizer=options.optimizer,
                iterations=iterations,
                learning_rate=options.learning_rate,
                lbfgs_restart=options.lbfgs_restart,
                callback=callback,
                render=to_image,
                offset=done,
                grand_total=grand_total,
            )
        except Interrupted as stop:
            raise Interrupted(to_image(stop.best), done + stop.iteration) from None
        image, done, seconds = outcome.image, done + outcome.iterations, seconds + outcome.seconds
    return Result(
        image=to_image(image),
        options=options,
        losses=outcome.losses,
        iterations=done,
        seconds=seconds,
    )
