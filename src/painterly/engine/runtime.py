"""Where a run computes and whether it fits: device choice and memory estimates."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from painterly.errors import PainterlyError
from painterly.models.vgg import LAYER_NAMES, layer_channels, layer_stride

GIB = 1024**3
PROCESS_BYTES = 400 * 2**20
"""What the network, PyTorch and Python hold besides a run's tensors, about."""


def select_device(name: str) -> torch.device:
    """Resolve ``auto`` to the best available device and check an explicit choice exists."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PainterlyError("device cuda was asked for, but this PyTorch build sees no CUDA GPU")
    if name == "mps" and not torch.backends.mps.is_available():
        raise PainterlyError("device mps was asked for, but it is not available on this machine")
    return torch.device(name)


def configure(device: torch.device) -> None:
    """Turn on the device's fast paths that leave the result unchanged to the eye.

    On CUDA: cuDNN picks the fastest convolution algorithm for the (fixed) image size, and
    matrix products and convolutions may use TF32 tensor cores.
    """
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX).

    Without these instructions PyTorch emulates bf16 convolutions, which measured 10–500×
    slower than float32 on an AVX2 machine, so ``precision=auto`` keeps float32 there.
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            return native_bf16(cpuinfo.read())
    except OSError:
        return False


def native_bf16(cpuinfo: str) -> bool:
    """Whether the ``flags`` lines of a /proc/cpuinfo text name a native bf16 instruction."""
    flags = {
        flag
        for line in cpuinfo.splitlines()
        if line.startswith("flags")
        for flag in line.partition(":")[2].split()
    }
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The dtype of the network's convolutions: ``fp32``, ``bf16``, or ``auto``.

    ``auto`` takes bfloat16 where the hardware computes it natively (recent NVIDIA GPUs,
    CPUs with AVX-512 BF16 or AMX) and float32 elsewhere. Gram matrices and losses are
    accumulated in float32 either way (:func:`painterly.engine.losses.gram_matrix`).
    """
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if device.type == "cpu" and cpu_has_bf16():
        return torch.bfloat16
    return torch.float32


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Run the enclosed convolutions in ``dtype`` (no-op for float32)."""
    if dtype == torch.float32 or device.type not in ("cpu", "cuda"):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _layer_sizes(height: int, width: int, last_layer: str) -> list[int]:
    """Elements of the input and of each VGG-19 layer's output up to ``last_layer``."""
    sizes = [3 * height * width]
    for name in LAYER_NAMES[: LAYER_NAMES.index(last_layer) + 1]:
        stride = layer_stride(name)
        sizes.append(layer_channels(name) * (height // stride) * (width // stride))
    return sizes


def optimization_bytes(height: int, width: int, last_layer: str, history: int) -> int:
    """Peak memory of an image optimisation at height × width, in bytes (an estimate).

    The weights are frozen, so backpropagation keeps one tensor per layer (each ReLU's
    output, which is also the next convolution's input) and, while it runs, the incoming
    and outgoing gradients of the widest layer; L-BFGS keeps ``2 × history`` image-sized
    vectors plus a few working copies; the network, PyTorch and Python add about 400 MB.
    Checked against the measured peak RSS at 1024 and 2048 px (docs/performance.md).
    """
    sizes = _layer_sizes(height, width, last_layer)
    return 4 * (sum(sizes) + 2 * max(sizes) + (2 * history + 8) * sizes[0]) + PROCESS_BYTES


def available_bytes(device: torch.device) -> int | None:
    """Memory free for a new run on ``device``, or None if it cannot be told."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


@dataclass(frozen=True)
class Budget:
    """The memory a run may plan to use (``bytes``, None when it cannot be told) and how a
    message names it (``where``: "free on cpu", or "allowed by --max-memory")."""

    bytes: int | None
    where: str
    capped: bool = False
    """Whether ``--max-memory`` sets it (it is less than what is free)."""

    def advice(self) -> str:
        """What to do when not even the smallest size these images allow fits."""
        return "raise --max-memory" if self.capped else "free some memory or use a device with more"


def memory_budget(device: torch.device, cap: int | str = "auto") -> Budget:
    """What is free on ``device``, or ``cap`` (``--max-memory``) bytes if that is less."""
    free = available_bytes(device)
    if isinstance(cap, int) and (free is None or cap < free):
        return Budget(cap, "allowed by --max-memory", capped=True)
    return Budget(free, f"free on {device.type}")


def run_bytes(
    output: tuple[int, int], style: tuple[int, int], last_layer: str, history: int
) -> tuple[int, int]:
    """The estimate :func:`check_fits` checks, in two parts: the optimisation at ``output``,
    and what a style image of ``style`` adds; both (width, height).

    The style and content targets come from forward passes without gradients, which free
    each activation once the next layer is computed, so a style image no larger than the
    output adds little; a larger one (a big ``style_scale``) counts with its two widest layers.
    """
    (w, h), (sw, sh) = output, style
    widest = sorted(_layer_sizes(sh, sw, last_layer))[-2:]
    return optimization_bytes(h, w, last_layer, history), 4 * sum(widest)


def check_fits(
    output: tuple[int, int],
    style: tuple[int, int],
    last_layer: str,
    history: int,
    device: torch.device,
    advice: Callable[[float], str],
    style_advice: Callable[[float], str | None] | None = None,
    cap: int | str = "auto",
) -> None:
    """Raise PainterlyError if the run would not fit (:func:`run_bytes`), ending with what
    to change.

    When the style's part is the larger and the run fits without it, the style image is
    what does not fit: the advice is ``style_advice(factor)``, the factor by which the
    style's sides alone must shrink, if it gives one; otherwise ``advice(scale)``, where
    ``scale²`` is the share of the need that is free (so ``scale`` is about the factor by
    which all sides must shrink).
    """
    run, style_part = run_bytes(output, style, last_layer, history)
    need = run + style_part
    budget = memory_budget(device, cap)
    free = budget.bytes
    if free is None or need <= free:
        return
    # Memory grows with the pixel count, so the sides shrink with its square root.
    text = None
    if style_advice is not None and style_part > run and run < free:
        text = style_advice(((free - run) / style_part) ** 0.5)
    w, h = output
    raise PainterlyError(
        f"a {w}×{h} run needs about {need / GIB:.1f} GiB but only {free / GIB:.1f} GiB "
        f"is {budget.where}; {text or advice((free / need) ** 0.5)}"
    )
