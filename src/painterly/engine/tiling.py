"""Tiled image optimisation: the whole image's loss and gradient, computed a tile at a time.

The content term is a sum over positions and the style term a function of Gram matrices,
which are sums over positions too, so neither needs the whole image in the network at once.
One evaluation makes two passes over a grid of tiles:

1. without gradients, each tile's partial Gram matrices G^l_t = F^l_t F^l_tᵀ are added up
   into the whole image's G^l = Σ_t G^l_t; the style loss L(G) and its gradient ∂L/∂G^l
   follow from these small N_l × N_l matrices;
2. with gradients, each tile's surrogate Σ_l ⟨∂L/∂G^l, G^l_t⟩ + its content term is
   backpropagated to the tile's pixels, and the pixel gradients are added where the tiles
   (with their margins) lie. Since L depends on the tiles only through Σ_t G^l_t, the sum
   of the tiles' gradients is the whole image's gradient.

Running a tile twice is the price of holding one tile's activations at a time. Where the
memory allows more, the last tiles of pass 1 run with gradients instead and keep their
graphs, which pass 2 backpropagates first, so that those tiles run once
(:attr:`TiledObjective.kept`, chosen by the plan: every tile at a size that fits whole,
where tiling then costs only its margins).

Each tile is read with a margin of the receptive field the deepest layer needs
(:func:`margin`), and only the features of its interior are used, so every feature equals
the untiled network's: the tiled loss and gradient are the untiled ones up to float
rounding (tests/test_tiling.py compares them), and no seam is optimised into the image.
Tile borders lie on multiples of the deepest layer's stride, so the pooling grids of every
tile coincide with the whole image's. The grid moves by a random offset at every
evaluation (the "roll" of crowsonkb's Caffe ``style_transfer``), so that the rounding
differences, too, never stay at one place.

Peak memory is then that of one tile's backpropagation (and of the kept graphs) plus the
image-sized vectors (the image, its gradient, L-BFGS's history) and the content targets,
instead of growing with the whole image's activations (:func:`tiled_bytes`).
"""

from __future__ import annotations

import torch

from painterly.config.options import Options
from painterly.engine import losses
from painterly.engine.objective import Objective
from painterly.engine.runtime import autocast
from painterly.engine.targets import Targets
from painterly.engine.tiles import Window, check_tileable, layer_shape, windows
from painterly.models.vgg import VGG19, layer_channels, layer_stride


class _Interior(torch.autograd.Function):
    """``features[..., rows, columns]``, whose gradient is laid out as ``features`` are.

    Autograd's own slice backward scatters into a new tensor of the default (NCHW) layout;
    added to the channels-last gradient coming back through the network, that mix of
    layouts made the sums and copies a third of a tiled evaluation (2 × 768-px tiles at
    1024 × 768, bf16)."""

    @staticmethod
    def forward(ctx, features: torch.Tensor, rows: slice, columns: slice) -> torch.Tensor:
        ctx.shape, ctx.rows, ctx.columns = features.shape, rows, columns
        ctx.layout = (
            torch.channels_last
            if features.is_contiguous(memory_format=torch.channels_last)
            else torch.contiguous_format
        )
        return features[..., rows, columns]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        b, c, h, w = ctx.shape
        if ctx.layout == torch.channels_last:  # zeros made in that layout, not copied to it
            full = torch.zeros(b, h, w, c, dtype=grad.dtype, device=grad.device)
            full = full.permute(0, 3, 1, 2)
        else:
            full = torch.zeros(ctx.shape, dtype=grad.dtype, device=grad.device)
        full[..., ctx.rows, ctx.columns] = grad
        return full, None, None


def interior(features: torch.Tensor, rows: slice, columns: slice) -> torch.Tensor:
    """The features of a tile's interior, differentiably, with the gradient in the
    features' own layout (:class:`_Interior`)."""
    if not features.requires_grad:
        return features[..., rows, columns]
    return _Interior.apply(features, rows, columns)


class TiledObjective(Objective):
    """The :class:`Objective` of one stage, evaluated tile by tile (see the module
    docstring): the same terms, the same numbers up to float rounding, in the memory of
    ``kept`` ``tile``-pixel tiles (at least one). The TV term is computed on the whole image,
    whose few image-sized temporaries are small beside one tile's activations."""

    def __init__(
        self,
        encoder: VGG19,
        targets: Targets,
        options: Options,
        dtype: torch.dtype,
        tile: int,
        kept: int = 1,
    ) -> None:
        check_tileable(options)
        super().__init__(encoder, targets, options, dtype)
        self.tile = tile
        self.kept = max(1, kept)
        self.grid = torch.Generator().manual_seed(options.seed)

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        image = self.compose(image)
        o, c = self.options, self.convention
        content, style = torch.zeros(()), torch.zeros(())
        painted = _Painted.apply(image, self, (content, style))
        terms = {"content": content, "style": style} if o.style_layers else {"content": content}
        total = painted
        if o.tv_weight:
            terms["tv"] = o.tv_weight * c.tv(image)
            total = total + terms["tv"]
        terms["total"] = total
        return terms

    def shift(self) -> tuple[float, float]:
        """The next random shift of the tile grid (see :func:`windows`), each in −1 … 1."""
        dy, dx = (torch.rand(2, generator=self.grid) * 2 - 1).tolist()
        return dy, dx

    def evaluate(self, image: torch.Tensor) -> tuple[float, float, torch.Tensor]:
        """(α·L_content, β·L_style, their gradient with respect to ``image``).

        The last :attr:`kept` tiles of pass 1 run with gradients and keep their graphs, so
        that pass 2 only backpropagates them (the first of them costs no memory beyond the
        one graph pass 2 holds anyway); the others are run again."""
        o = self.options
        h, w = image.shape[2:]
        grid = windows(h, w, self.tile, self.layers, self.shift())
        held = grid[max(0, len(grid) - self.kept) :]
        grams, graphs = self.gram_pass(image, grid[: len(grid) - len(held)], held)
        style, pulls = self.style_pulls(grams, h * w)
        grad = torch.zeros_like(image, dtype=torch.float32)
        content = 0.0
        while graphs:  # the kept tiles first, so their graphs are gone before any rerun
            window, piece, inner, partials = graphs.pop()
            content += self.backpropagate(piece, inner, partials, window, pulls, grad)
        for window in grid[: len(grid) - len(held)]:
            piece, inner, partials = self.tile_pass(image, window, self.layers, grad=True)
            content += self.backpropagate(piece, inner, partials, window, pulls, grad)
        return content, o.style_weight * style, grad.to(image.dtype)

    def tile_pass(
        self, image: torch.Tensor, window: Window, layers: tuple[str, ...] | list[str], grad: bool
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[dict[str, torch.Tensor]]]:
        """One window through the network: its pixels, its interior's features at
        ``layers`` and its partial (guided) Grams per region at the style layers; with
        ``grad``, all three joined by the graph pass 2 backpropagates."""
        piece = image[..., window.rows, window.columns].detach()
        if not grad:
            with torch.inference_mode(), autocast(image.device, self.dtype):
                features = self.encoder(piece, list(layers))
                return piece, {}, self.partials(features, window, interior_of=True)
        piece.requires_grad_(True)
        with torch.enable_grad():
            with autocast(image.device, self.dtype):
                features = self.encoder(piece, list(layers))
            inner = {n: interior(f, *window.interior(layer_stride(n))) for n, f in features.items()}
            return piece, inner, self.partials(inner, window, interior_of=False)

    def partials(
        self, features: dict[str, torch.Tensor], window: Window, interior_of: bool
    ) -> list[dict[str, torch.Tensor]]:
        """Each region's partial Grams of one tile at the style layers, from the window's
        features (``interior_of``: cut to the interior here) or from the interior's."""
        names = list(self.options.style_layers)
        out = []
        for region in self.targets.styles:
            grams = {}
            for name in names:
                f = features[name]
                if interior_of:
                    f = f[(..., *window.interior(layer_stride(name)))]
                if region.guides is not None:
                    positions = window.positions(layer_stride(name))
                    f = f * region.guides[name][(..., *positions)].to(f.dtype)
                grams[name] = losses.gram_matrix(f)
            out.append(grams)
        return out

    def backpropagate(
        self,
        piece: torch.Tensor,
        inner: dict[str, torch.Tensor],
        partials: list[dict[str, torch.Tensor]],
        window: Window,
        pulls: list[dict[str, torch.Tensor]],
        grad: torch.Tensor,
    ) -> float:
        """Pass 2 for one tile: backpropagate its surrogate (its content term plus
        Σ_r Σ_l ⟨∂(β·L_style)/∂G^l_r, G^l_r,t⟩) and add its pixels' gradient into ``grad``;
        returns its α·L_content share."""
        with torch.enable_grad():
            term = self.options.content_weight * self.content_part(inner, window)
            surrogate = term
            for pull, grams in zip(pulls, partials, strict=True):
                for name, g in pull.items():
                    surrogate = surrogate + (g * grams[name]).sum()
            if surrogate.requires_grad:
                surrogate.backward()
        if piece.grad is not None:
            grad[..., window.rows, window.columns] += piece.grad
        return term.item()

    def gram_pass(
        self, image: torch.Tensor, rerun: list[Window], held: list[Window]
    ) -> tuple[
        list[dict[str, torch.Tensor]],
        list[tuple[Window, torch.Tensor, dict[str, torch.Tensor], list[dict[str, torch.Tensor]]]],
    ]:
        """Pass 1: each region's G^l of the whole image (guided by the region's T^l), summed
        from the tiles' interiors — the ``rerun`` tiles without gradients, the ``held`` ones
        with them, whose graphs are returned for pass 2."""
        names = list(self.options.style_layers)
        sums: list[dict[str, torch.Tensor]] = [{} for _ in self.targets.styles]
        graphs = []

        def add(partials: list[dict[str, torch.Tensor]]) -> None:
            for total, grams in zip(sums, partials, strict=True):
                for name, g in grams.items():
                    g = g.detach()
                    total[name] = g if name not in total else total[name] + g

        if names:
            for window in rerun:
                add(self.tile_pass(image, window, names, grad=False)[2])
        for window in held:
            piece, inner, partials = self.tile_pass(image, window, self.layers, grad=True)
            add(partials)
            graphs.append((window, piece, inner, partials))
        return sums, graphs

    def style_pulls(
        self, grams: list[dict[str, torch.Tensor]], pixels: int
    ) -> tuple[float, list[dict[str, torch.Tensor]]]:
        """L_style (Eq. 5, or the guided loss per region) of the whole image from its Gram
        matrices, and its gradient ∂(β·L_style)/∂G^l per region and layer."""
        o, layer_loss = self.options, self.convention.style_layer
        leaves = [{n: g.clone().requires_grad_(True) for n, g in r.items()} for r in grams]
        if not o.style_layers:
            return 0.0, leaves
        h, w = self.targets.content_image.shape[2:]
        with torch.enable_grad():
            total = torch.zeros(())
            for region, target in zip(leaves, self.targets.styles, strict=True):
                for name, weight in o.style_layers.items():
                    n, (hl, wl) = layer_channels(name), layer_shape(h, w, name)
                    if target.guides is None:
                        term = losses.layer_term(
                            region[name], target.grams[name], n, hl * wl, layer_loss, pixels
                        )
                    else:
                        term = losses.guided_layer_term(
                            region[name], target.grams[name], target.guides[name].pow(2).sum(),
                            n, hl * wl, layer_loss, pixels,
                        )  # fmt: skip
                    total = total + weight * term
            (o.style_weight * total).backward()
        pulls = [{n: g.grad for n, g in r.items() if g.grad is not None} for r in leaves]
        return total.item(), pulls

    def content_part(self, features: dict[str, torch.Tensor], window: Window) -> torch.Tensor:
        """This tile's share of Σ_l w_l L_content: the convention's term on the interior,
        which for a per-element convention is weighted by the interior's share of the
        layer."""
        total = torch.zeros(())
        for name, weight in self.options.content_layers.items():
            f = features[name]
            p = self.targets.content[name][(..., *window.positions(layer_stride(name)))]
            term = self.convention.content(f, p)
            if self.convention.content_mean:
                term = term * (f.numel() / self.targets.content[name].numel())
            total = total + weight * term
        return total


class _Painted(torch.autograd.Function):
    """α·L_content + β·L_style of a :class:`TiledObjective`, whose gradient its forward
    pass computes tile by tile; the two terms are also written into ``parts``."""

    @staticmethod
    def forward(ctx, image, objective, parts):
        content, style, grad = objective.evaluate(image)
        parts[0].fill_(content)
        parts[1].fill_(style)
        ctx.save_for_backward(grad)
        return torch.tensor(content + style, dtype=torch.float32, device=image.device)

    @staticmethod
    def backward(ctx, upstream):
        (grad,) = ctx.saved_tensors
        return upstream * grad, None, None
