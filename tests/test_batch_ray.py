"""painterly batch on a real Ray cluster that the tests start on 127.0.0.1: a head node with
one CPU and a worker node joining it with one more, stopped at the end."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from PIL import Image

from painterly.batch.items import pair_items
from painterly.batch.log import LOG_NAME
from painterly.batch.pools import LocalPool
from painterly.batch.run import run_batch

pytest.importorskip("ray", reason="Ray is not installed (pip install 'painterly[ray]')")

OPTIONS = {"method": "adain", "size": "64"}


@pytest.fixture()
def inputs(tmp_path, content_image, style_image, scream_image):
    """Three contents and two styles, as paths."""
    folder = tmp_path / "in"
    folder.mkdir()
    contents = []
    for name, image in (
        ("tubingen", content_image),
        ("mirror", content_image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
        ("crop", content_image.crop((8, 0, 72, 64))),
    ):
        image.save(folder / f"{name}.png")
        contents.append(str(folder / f"{name}.png"))
    style_image.save(folder / "starry.png")
    scream_image.save(folder / "scream.png")
    return contents, [str(folder / "starry.png"), str(folder / "scream.png")]


def ray_pool(address: str):
    from painterly.batch.ray_pool import RayPool

    return lambda: RayPool(address, cpus_per_worker=1)


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / LOG_NAME).read_text().splitlines()]


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def test_a_batch_on_the_cluster_paints_the_local_pixels(ray_cluster, inputs, tmp_path):
    items = pair_items(*inputs, OPTIONS, ".png")
    on_ray = run_batch(items, tmp_path / "ray", ray_pool(ray_cluster))
    here = run_batch(items, tmp_path / "here", lambda: LocalPool(["cpu"], threads=1))
    assert (on_ray.done, here.done) == (6, 6)
    for item in items:
        assert np.array_equal(pixels(tmp_path / "ray" / item.output),
                              pixels(tmp_path / "here" / item.output)), item.output  # fmt: skip
    workers = {row["worker"] for row in rows(tmp_path / "ray")}
    assert len(workers) == 2 and all(re.search(r"/cpu pid \d+$", w) for w in workers)


def test_a_bad_input_on_the_cluster_is_logged_and_the_rest_complete(
    capsys, ray_cluster, inputs, tmp_path
):
    contents, styles = inputs
    broken = Path(contents[0]).with_name("broken.png")
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    code, stdout, err = run_cli(capsys, "batch", "--contents", str(broken.parent / "*.png"),
                                "--styles", styles[0], "-o", tmp_path / "out", "--method",
                                "adain", "--size", "64", "--ray", ray_cluster)  # fmt: skip
    assert code == 1, err
    assert "5 done, 0 already finished, 1 failed of 6" in stdout
    (failed,) = [row for row in rows(tmp_path / "out") if row["status"] == "failed"]
    assert failed["output"] == "broken--starry.png" and "broken.png" in failed["error"]
    assert "Traceback" not in err


def test_a_worker_killed_mid_item_is_retried(ray_cluster, inputs, tmp_path):
    contents, styles = inputs
    options = {"method": "gatys", "size": "64", "iterations": "20", "scales": "none"}
    items = pair_items(contents[:1], styles[:1], options, ".png")
    killed: list[int] = []

    def kill_first_worker(step):
        if step.kind == "started" and not killed:
            killed.append(int(step.worker.rpartition(" pid ")[2]))
            os.kill(killed[0], signal.SIGKILL)

    summary = run_batch(items, tmp_path / "ray", ray_pool(ray_cluster), on_step=kill_first_worker)
    assert killed and summary.done == 1, summary.failures
    (row,) = rows(tmp_path / "ray")
    assert row["attempts"] == 2 and not row["worker"].endswith(f" pid {killed[0]}")
    here = run_batch(items, tmp_path / "here", lambda: LocalPool(["cpu"], threads=1))
    assert here.done == 1
    assert np.array_equal(pixels(tmp_path / "ray" / row["output"]),
                          pixels(tmp_path / "here" / row["output"]))  # fmt: skip


def test_an_interrupted_batch_on_the_cluster_resumes_with_the_missing_items(
    ray_cluster, inputs, tmp_path
):
    items = pair_items(*inputs, OPTIONS, ".png")
    out = tmp_path / "out"

    def stop_after_three(step):
        if step.kind == "done" and step.ended == 3:
            raise KeyboardInterrupt

    first = run_batch(items, out, ray_pool(ray_cluster), on_step=stop_after_three)
    assert first.stopped == "interrupted" and first.done == 3
    assert len([p for p in out.iterdir() if p.suffix == ".png"]) == 3
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no partial file
    second = run_batch(items, out, ray_pool(ray_cluster))
    assert (second.skipped, second.done, second.failed) == (3, 3, 0)
