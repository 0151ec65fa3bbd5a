"""The objective of image optimisation: α·L_content + β·L_style + λ_tv·TV (Gatys et al. 2016,
Eq. 7), plus λ·L_m (Luan et al. 2017) with ``--matting-weight``, against the precomputed
:class:`~painterly.engine.targets.Targets` of one stage."""

from __future__ import annotations

import functools
import operator
import warnings

import torch
from torch.nn import functional as F

from painterly.config.options import Options
from painterly.engine import losses
from painterly.engine.runtime import autocast
from painterly.engine.targets import Targets
from painterly.models.vgg import VGG19


class Objective:
    """α·L_content + β·L_style + λ_tv·TV against precomputed :class:`Targets`.

    The style term sums over the regions: Eq. 5 for a region without a mask, the guided
    loss of Gatys et al. (2017, §4.1) for one with. With masks, the image optimised is only
    what the regions paint: every evaluation sees W·x + (1 − W)·content (see
    :meth:`compose`), so uncovered parts keep the content exactly. The terms are normalised
    by ``options.loss_convention`` (see :data:`losses.CONVENTIONS`); α, β and the layers are
    the options' (the targets may hold more layers, as a sweep's do). The convolutions run
    in ``dtype`` (the plan's precision); the losses are summed in float32.

    With ``options.jitter`` J > 0 every evaluation moves the image by a random (dy, dx) in
    [−J, J]² (seeded by ``options.seed``) before the encoder, so that no pixel keeps one
    place relative to the stride-2 pooling grid, and compares it with the content moved
    alike (:meth:`content_at`). The Gram matrices barely notice a move and are kept.
    """

    def __init__(
        self, encoder: VGG19, targets: Targets, options: Options, dtype: torch.dtype
    ) -> None:
        self.encoder = encoder
        self.targets = targets
        self.options = options
        self.dtype = dtype
        self.convention = losses.CONVENTIONS[options.loss_convention]
        self.layers = options.layers
        # Its own generator, so the offsets depend on the seed alone, not on what else drew
        # from torch's global one.
        self.offsets = torch.Generator().manual_seed(options.seed)
        # Built once per stage, from the content at the stage's size.
        self.laplacian = (
            content_laplacian(targets.content_image) if options.matting_weight else None
        )

    def content_loss(
        self, features: dict[str, torch.Tensor], content: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Σ_l w_l L_content at the content layers (Eq. 1 in the convention's form), against
        ``content`` (default: the targets' P^l)."""
        content = self.targets.content if content is None else content
        zero = torch.zeros((), device=self.targets.content_image.device)
        return sum(
            (
                w * self.convention.content(features[n], content[n])
                for n, w in self.options.content_layers.items()
            ),
            zero,
        )

    def style_loss(self, features: dict[str, torch.Tensor], pixels: int) -> torch.Tensor:
        """L_style (Eq. 5) summed over the regions, guided where a region has a mask; with
        ``--style-loss wasserstein`` or ``sliced``, that loss in place of the Gram loss."""
        if self.options.style_loss in losses.DISTRIBUTION_LOSSES:
            return self.distribution_loss(features)
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

    def distribution_loss(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Σ_l w_l E_l with E_l the Wasserstein or sliced loss, times its scale (see
        :data:`losses.DISTRIBUTION_LOSSES`); such targets have no masked regions."""
        name = self.options.style_loss
        if self.targets.style_loss != name:
            raise ValueError(f"the targets were computed for style loss {self.targets.style_loss}")
        chosen = losses.DISTRIBUTION_LOSSES[name]
        total = torch.zeros((), device=self.targets.content_image.device)
        for region in self.targets.styles:
            assert region.distributions is not None, "targets of a distribution loss have them"
            total = total + losses.distribution_style_loss(
                features, region.distributions, self.options.style_layers, chosen.layer_loss
            )
        return chosen.scale * total

    def offset(self) -> tuple[int, int]:
        """The next (dy, dx) of ``--jitter``, each uniform in −J … J."""
        j = self.options.jitter
        dy, dx = torch.randint(-j, j + 1, (2,), generator=self.offsets).tolist()
        return dy, dx

    def content_at(self, dy: int, dx: int) -> dict[str, torch.Tensor]:
        """P^l of the content moved by (dy, dx) as the image is, so that the content term
        compares like with like: one more pass, without gradient, as deep as the content
        layers (at conv4_2 with the paper's style layers: 37% more FLOPs per evaluation).
        Caching the (2J + 1)² offsets' features would cost more memory than it saves."""
        layers = list(self.options.content_layers)
        if not layers:
            return {}
        moved = translate(self.targets.content_image, dy, dx, self.options.jitter)
        with torch.no_grad(), autocast(moved.device, self.dtype):
            return self.encoder(moved, layers)

    def compose(self, image: torch.Tensor) -> torch.Tensor:
        """The image the losses see: painted regions from ``image``, the rest the content."""
        w = self.targets.coverage
        return image if w is None else w * image + (1 - w) * self.targets.content_image

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        image = self.compose(image)
        seen, content = image, None
        if self.options.jitter:
            dy, dx = self.offset()
            seen = translate(image, dy, dx, self.options.jitter)
            content = self.content_at(dy, dx)
        with autocast(image.device, self.dtype):
            features = self.encoder(seen, self.layers)
        o, c = self.options, self.convention
        terms = {"content": o.content_weight * self.content_loss(features, content)}
        if o.style_layers:
            pixels = image.shape[2] * image.shape[3]
            terms["style"] = o.style_weight * self.style_loss(features, pixels)
        if o.tv_weight:
            terms["tv"] = o.tv_weight * c.tv(image)
        if self.laplacian is not None:
            terms["matting"] = o.matting_weight * losses.matting_loss(image, self.laplacian)
        terms["total"] = functools.reduce(operator.add, terms.values())
        return terms


def content_laplacian(content: torch.Tensor) -> torch.Tensor:
    """The matting Laplacian of the 1×3×H×W ``content`` (:func:`painterly.controls.photoreal.
    matting_laplacian`) as a float64 sparse CSR tensor on the content's device."""
    from painterly.controls.photoreal import matting_laplacian

    pixels = content[0].permute(1, 2, 0).detach().cpu().double().numpy()
    csr = matting_laplacian(pixels)
    with warnings.catch_warnings():
        # "Sparse CSR tensor support is in beta": the product with a dense matrix and its
        # gradient, all this needs, are tested (tests/test_photoreal_objective.py).
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(csr.indptr.astype("int64")),
            torch.from_numpy(csr.indices.astype("int64")),
            torch.from_numpy(csr.data),
            size=csr.shape,
            dtype=torch.float64,
            check_invariants=False,
        ).to(content.device)


def translate(image: torch.Tensor, dy: int, dx: int, reach: int) -> torch.Tensor:
    """``image`` moved down by ``dy`` and right by ``dx`` pixels (each at most ``reach``),
    the same size: the edge is replicated into the strip it leaves. A circular roll would
    instead put the opposite edge there, a seam through the picture the style loss sees."""
    _, _, h, w = image.shape
    padded = F.pad(image, (reach, reach, reach, reach), mode="replicate")
    top, left = reach - dy, reach - dx
    return padded[..., top : top + h, left : left + w]
