"""Named bundles of options that reproduce a reference setting.

A preset only fills in option values; anything the user gives as well wins
(``painterly … --preset keras-example --size 256``), the schedule and the balance each as a
whole (:func:`painterly.config.options.merge`). How each differs from the paper is
documented in docs/reproduction.md.
"""

from __future__ import annotations

PAPER_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")

DEFAULT_PRESET = "painterly"
PAINTERLY: dict[str, object] = {
    # Chosen by benchmarks/artefacts.py (docs/quality.md): coarse to fine leaves a twentieth
    # of the speckle of one stage from noise; from the content image, less of the fine mesh
    # in flat areas; replicate padding in conv1_1 (as crowsonkb/style-transfer-pytorch has it)
    # removes the line zero padding paints along the borders, without the period-2 grid
    # that replicate padding in every layer brought. Every other value is the paper's.
    "scales": "auto",
    "init": "content",
    "padding": "replicate1",
    "pyramid": 4,
    "finish_tv": 40.0,
}
"""The defaults that differ from the paper's: the :class:`~painterly.config.options.Options`
fields take these as their defaults, and ``--preset painterly`` names them."""

# What the reference presets share with the paper and must say, since the defaults differ.
_AS_PUBLISHED: dict[str, object] = {
    "scales": (),
    "padding": "zeros",
    "jitter": 0,
    "average": 0.0,
    "style_loss": "gram",
    "tv_weight": 0.0,
    "pyramid": 1,
    "finish_tv": 0.0,
}

# Luan, Paris, Shechtman & Bala, "Deep Photo Style Transfer" (CVPR 2017), as their code
# (luanfujun/deep-photo-styletransfer, deepmatting_seg.lua) runs it. Their code applies the
# gradient λ·𝓛·V of the matting term, which is that of (λ/2)·Σ VᵀLV: we keep the paper's
# Eq. 2 as the term and halve their λ = 10⁴, so the balance is the one behind their figures.
# Their two steps are ours too: --init gatys starts from a plain run of painterly's defaults
# (theirs is neural-style's), and the matting term then pulls the edges back to the
# photograph's; started from the photograph, the colours moved less than halfway on one pair
# of four (docs/photorealistic.md). Their own last step is an edge-aware filter of the
# output (recursive, radius 15); ours is the guided filter of --photo-smooth fast.
PHOTO: dict[str, object] = {
    **_AS_PUBLISHED,
    "weights": "vgg19-keras",  # the original, unnormalised VGG-19 that their Caffe model is
    "pooling": "max",
    "content_layers": {"conv4_2": 1.0},
    "style_layers": {name: 1.0 for name in PAPER_STYLE_LAYERS},
    "loss_convention": "neural-style",
    "content_weight": 5.0,
    "style_weight": 100.0,
    "tv_weight": 1e-3,
    "matting_weight": 5e3,
    "init": "gatys",
    "optimizer": "lbfgs",
    "iterations": 1000,
    "photo_smooth": "fast",
}

PHOTOREALISTIC: dict[str, dict[str, object]] = {
    "gatys": {**PHOTO, "match_color": "chroma"},
    "adain": {"photo_smooth": "fast", "match_color": "chroma"},
    # At full strength the WCT decoder's texture survives the smoothing (edge correlation
    # 0.68 on the warm → cool pair of docs/photorealistic.md); at 0.6 it is 0.89, and the
    # palette the weaker transfer leaves behind is the chroma match's to give.
    "wct": {"photo_smooth": "fast", "strength": 0.6, "match_color": "chroma"},
    "artflow": {"photo_smooth": "fast", "match_color": "chroma"},
}
"""What ``--photorealistic`` sets for each method (options given as well win): the photo
preset for the optimisation, the fast smoothing after the one-pass methods (Li et al. 2018
found the smoothing, not the network, to be what keeps a result photographic), and for all
the style's palette given last (``--match-color chroma``)."""

PRESETS: dict[str, dict[str, object]] = {
    # painterly's defaults, by name (e.g. to return to them from a saved set of options).
    "painterly": dict(PAINTERLY),
    # Gatys, Ecker & Bethge (CVPR 2016) as printed, with the calibrated normalisation so
    # that the paper's α/β values mean what they meant in the paper.
    "gatys2016": {
        **_AS_PUBLISHED,
        "weights": "vgg19-normalized",
        "pooling": "avg",
        "content_layers": {"conv4_2": 1.0},
        "style_layers": {name: 0.2 for name in PAPER_STYLE_LAYERS},
        "loss_convention": "calibrated",
        "content_weight": 1.0,
        "style_weight": 1e3,
        "init": "noise",
        "optimizer": "lbfgs",
        "iterations": 500,
        "scales": (),  # the paper optimises at the full size only
    },
    # The authors' PyTorch notebook (leongatys/PytorchNeuralStyleTransfer): Grams divided
    # by H·W, mean squared errors, per-layer style weights 1e3/N_l², content weight 1,
    # max pooling, short side 512 px from the content image, 500 L-BFGS evaluations, then
    # 200 more at 800 px from the upsampled result.
    "gatys-notebook": {
        **_AS_PUBLISHED,
        "weights": "vgg19-normalized",
        "pooling": "max",
        "content_layers": {"conv4_2": 1.0},
        "style_layers": {
            name: 1e3 / n**2
            for name, n in zip(PAPER_STYLE_LAYERS, (64, 128, 256, 512, 512), strict=True)
        },
        "loss_convention": "notebook",
        "content_weight": 1.0,
        "style_weight": 1.0,
        "init": "content",
        "optimizer": "lbfgs",
        "size_side": "short",
        "scales": ((512, 500), (800, 200)),
    },
    # Deep Photo Style Transfer (Luan et al. 2017): see PHOTO.
    "photo": PHOTO,
    # The widely copied Keras example as the study describes it: Keras VGG-19 weights,
    # content at block3_conv2, style loss over 4·3²·(rows·cols)², TV^1.25, weights
    # 0.01 / 1 / 1, 400 px rows, from the content image, 50 rounds of L-BFGS with at most
    # 20 evaluations each, max pooling.
    "keras-example": {
        **_AS_PUBLISHED,
        "weights": "vgg19-keras",
        "pooling": "max",
        "content_layers": {"conv3_2": 1.0},
        "style_layers": {name: 0.2 for name in PAPER_STYLE_LAYERS},
        "loss_convention": "keras",
        "content_weight": 0.01,
        "style_weight": 1.0,
        "tv_weight": 1.0,
        "init": "content",
        "optimizer": "lbfgs",
        "size": 400,
        "size_side": "height",
        "iterations": 1000,
        "lbfgs_restart": 20,
    },
}
