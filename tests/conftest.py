"""Shared fixtures: tiny example images, the real VGG-19 weights, a Ray cluster."""

import os
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import painterly
from painterly.models.vgg import CONV_SHAPES

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="session")
def vgg_state():
    """The genuine normalised VGG-19 (``make test`` fetches it into the cache first)."""
    from painterly.models.weights import load_vgg_weights

    return load_vgg_weights("vgg19-normalized")


@pytest.fixture(scope="session")
def random_state():
    """A canonical state dict with random weights, for tests of structure alone."""
    gen = torch.Generator().manual_seed(0)
    state = {
        "preprocess.weight": torch.eye(3).reshape(3, 3, 1, 1),
        "preprocess.bias": torch.zeros(3),
    }
    for name, (cin, cout) in CONV_SHAPES.items():
        state[f"{name}.weight"] = (
            torch.randn(cout, cin, 3, 3, generator=gen) * (2 / (9 * cin)) ** 0.5
        )
        state[f"{name}.bias"] = torch.randn(cout, generator=gen) * 0.01
    return state


@pytest.fixture(scope="module")
def one_thread():
    """Tiny images gain nothing from threads, and on a busy shared CPU they cost a lot."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _small(name: str, side: int) -> Image.Image:
    image = Image.open(EXAMPLES / name).convert("RGB")
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return image


@pytest.fixture(scope="session")
def content_image() -> Image.Image:
    return _small("tubingen.jpg", 96)


@pytest.fixture(scope="session")
def style_image() -> Image.Image:
    return _small("starry_night.jpg", 96)


@pytest.fixture(scope="session")
def scream_image() -> Image.Image:
    """A painting with smooth passages, where isolated dots in an output stand out."""
    return _small("the_scream.jpg", 96)


@pytest.fixture()
def image_files(tmp_path, content_image, style_image):
    """The tiny content and style images written to files, for CLI tests."""
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    content_image.save(content)
    style_image.save(style)
    return content, style


@pytest.fixture(scope="session")
def ray_cluster():
    """The address of a real Ray cluster started here on 127.0.0.1 (a head node with one CPU
    and a worker node joining it with one more; the nodes import this checkout), stopped at
    the end of the session. Skipped where Ray is not installed."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'painterly[ray]')")
    from benchmarks.local_ray import LocalCluster

    with LocalCluster([1, 1], str(Path(painterly.__file__).parents[1])) as address:
        yield address
        import ray

        # This process's driver goes before the nodes do: a driver still connected when its
        # cluster is killed is left with core-worker threads waiting on a dead GCS.
        if ray.is_initialized():
            ray.shutdown()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End a session that used Ray without the interpreter's own teardown.

    One CI run of the whole suite (AMD family 26 model 2, 2026-12-04) died of a segmentation
    fault after pytest had printed "1368 passed", in the interpreter's shutdown; the next run
    of the same commit exited cleanly. Ray's core worker keeps native threads that outlive
    ray.shutdown() in a process that connected several times (ray-project/ray#31145), and
    they can touch freed state while Python finalises. Everything the session reports has
    been written by now, so the exit status is handed back without that teardown.
    """
    if "ray" not in sys.modules:
        return
    status = getattr(config, "_painterly_exit_status", None)
    if status is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(status))


def pytest_sessionfinish(session, exitstatus):
    session.config._painterly_exit_status = exitstatus
