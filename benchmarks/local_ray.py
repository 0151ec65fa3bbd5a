"""A Ray cluster of this machine's own, for the tests and the benchmarks: each node started
by ``ray start`` in a process group of its own, and stopped by ending that group, never by
``ray stop``, which ends every Ray on the machine (another test run's, a user's own)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")
"""Ray's command, installed beside this Python by the ray extra."""

STOP_SECONDS = 30.0
"""How long the nodes' processes may take to go once killed."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalCluster:
    """A head node and further nodes on 127.0.0.1 with ``cpus`` CPUs each (the first is the
    head); ``source`` is put first on the nodes' PYTHONPATH, so their workers import this
    checkout. ``with LocalCluster([1, 1], src) as address: ...``"""

    def __init__(self, cpus: list[int], source: str) -> None:
        self.cpus = cpus
        path = os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": path}
        self.groups: list[int] = []
        self.port: int | None = None

    def _start(self, *args: str) -> None:
        node = subprocess.Popen([RAY, "start", "--node-ip-address", "127.0.0.1", *args],
                                env=self.env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        self.groups.append(node.pid)  # the daemons it starts stay in its process group
        _, err = node.communicate(timeout=120)
        if node.returncode:
            raise RuntimeError(f"ray start failed: {err.decode(errors='replace')[-2000:]}")

    def __enter__(self) -> str:
        port = self.port = free_port()
        address = f"127.0.0.1:{port}"
        try:
            self._start("--head", "--port", str(port), "--num-cpus", str(self.cpus[0]),
                        "--include-dashboard", "false",
                        "--ray-client-server-port", str(free_port()))  # fmt: skip
            for cpus in self.cpus[1:]:
                self._start("--address", address, "--num-cpus", str(cpus))
        except BaseException:
            self.__exit__()
            raise
        return address

    def __exit__(self, *exc: object) -> None:
        # SIGKILL, as ray stop --force: the GCS and the raylet do not end on SIGTERM.
        for group in self.groups:
            _signal(group, signal.SIGKILL)
        deadline = time.monotonic() + STOP_SECONDS
        while any(_alive(g) for g in self.groups) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.groups.clear()
        self._forget_address()

    def _forget_address(self) -> None:
        """Remove the address ``ray start`` recorded for ``auto``, as ``ray stop`` does: left
        there, it would send a later ``--ray auto`` to this cluster, which is gone."""
        if self.port is None:
            return
        record = Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray" / "ray_current_cluster"
        with contextlib.suppress(OSError):
            if record.read_text().strip().endswith(f":{self.port}"):
                record.unlink()


def _signal(group: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, number)


def _alive(group: int) -> bool:
    """Whether a process of ``group`` still runs. A zombie does not count: the nodes'
    daemons are children of init once ``ray start`` has exited, and it reaps them when it
    will, which may be long after they ended."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # it ended while we looked
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False
