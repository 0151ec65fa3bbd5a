"""Let the peers import torchvision 0.28 next to the CPU build of torch 2.13.

PyPI's Linux wheel of torchvision 0.28.0 is a CUDA 13 build (``0.28.0+cu130``): its C++
operators (``torchvision/_C.so``) need ``libtorch_cuda.so`` and do not load beside the CPU
build of torch, and torchvision 0.28 then fails at import with "operator torchvision::nms
does not exist", because it registers fake kernels for ``nms`` and ``qnms`` without checking
that its operators loaded. No CPU build of torchvision is on PyPI. Neither peer uses those
operators (neural-style uses ``transforms``, pystiche the VGG definition), so declaring
the two operators' schemas before the import lets torchvision load, with the operators
still absent. Nothing is changed in the installed packages.
"""

from __future__ import annotations

import sys

import torch

VGG_ARCHS = ("vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")
_keep: list[torch.library.Library] = []  # a Library's definitions vanish when it is freed


def import_torchvision() -> None:
    """Import torchvision even though its C++ operators cannot load (see the module doc)."""
    if "torchvision" in sys.modules:
        return
    library = torch.library.Library("torchvision", "DEF")
    for op in ("nms", "qnms"):
        library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _keep.append(library)
    import torchvision  # noqa: F401


def restore_model_urls() -> None:
    """Give torchvision back the ``model_urls`` tables that pystiche 1.0.1 imports.

    torchvision removed them in 0.15 (they became weights enums). pystiche reads them only
    to pick a download URL for ``pretrained=True``; the harness loads painterly's weights
    itself, so empty URLs are never used.
    """
    import_torchvision()
    import torchvision.models  # noqa: F401  (loads the submodules patched below)

    sys.modules["torchvision.models.alexnet"].model_urls = {"alexnet": ""}
    sys.modules["torchvision.models.vgg"].model_urls = dict.fromkeys(VGG_ARCHS, "")
