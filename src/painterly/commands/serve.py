"""``painterly serve``: the web studio.

Every way it can fail to start (a port in use, a host it cannot listen on, a data
directory it cannot use, a damaged or newer database) is one sentence and exit status 2,
with nothing left behind: the socket is bound here before the server starts, and the
studio releases its lock on every failure.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from painterly.commands.common import Parser
from painterly.config.values import read_number
from painterly.errors import PainterlyError

if TYPE_CHECKING:
    from painterly.studio.guard import Access

_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}")
MAX_VIDEO_MB = 1024
"""Largest --max-video-mb: each clip being checked is held in memory, two at a time."""
MAX_VIDEO_SECONDS = 3600


def default_data_dir() -> Path:
    """Where the studio keeps its jobs unless told: $XDG_DATA_HOME/painterly/studio."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "painterly" / "studio"


def _parser() -> Parser:
    parser = Parser(
        prog="painterly serve",
        description="The painterly studio: a local web page and REST API (docs at /docs) that "
        "queue stylisation jobs, show them forming and keep them across restarts.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only); any address "
        "that is not loopback needs the token the studio prints",
    )
    parser.add_argument("--port", default="8000", help="TCP port (default: 8000)")
    parser.add_argument(
        "--data-dir",
        default=None,
        help=f"where jobs, uploads and results are kept (default: {default_data_dir()})",
    )
    parser.add_argument(
        "--checkpoint-every",
        default="20",
        metavar="N",
        help="save each running job's iterate every N iterations, where a restart after a "
        "crash resumes (default: 20; 0: never)",
    )
    parser.add_argument(
        "--max-video-mb",
        default="64",
        metavar="MB",
        help="largest clip an upload may be, in MB of 2**20 bytes (default: 64; a clip is "
        "read into memory to be checked, two at a time)",
    )
    parser.add_argument(
        "--max-video-seconds",
        default="20",
        metavar="SECONDS",
        help="longest clip an upload may be (default: 20)",
    )
    parser.add_argument(
        "--token",
        default=None,
        help="the token clients must show (at least 16 letters, digits, - or _); default: "
        "a new random one when --host is not loopback, none otherwise",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a further name or address that clients reach the studio by (repeat for "
        "more); with --host 0.0.0.0, the names other machines use",
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run the jobs on the Ray cluster at ADDRESS (host:port, or auto; --ray alone: "
        "$RAY_ADDRESS, else auto), a worker per slot it advertises; the job store, progress "
        "and cancel stay here (needs pip install 'painterly[ray]')",
    )
    parser.add_argument(
        "--ray-workers",
        default=None,
        metavar="N",
        help="with --ray: at most N workers (default: one per GPU and one per "
        "--cpus-per-worker CPUs of the rest)",
    )
    parser.add_argument(
        "--cpus-per-worker",
        default="1",
        metavar="N",
        help="with --ray: the CPU threads of each CPU worker (default: 1)",
    )
    return parser


def ray_engines(address: str, workers: str | None, cpus: str, checkpoint_every: int) -> list:
    """(device, engine) per Ray actor of the cluster at ``address``, for the studio's workers."""
    from painterly.batch.ray_engine import RayEngine
    from painterly.batch.ray_pool import connect, start_painters
    from painterly.studio.worker import PREVIEW_SECONDS

    for value, flag in ((workers, "--ray-workers"), (cpus, "--cpus-per-worker")):
        if value is not None and (not value.isdigit() or int(value) < 1):
            raise PainterlyError(f"{flag} must be a whole number, at least 1, not {value!r}")
    ray = connect(address or os.environ.get("RAY_ADDRESS") or "auto")
    painters = start_painters(ray, int(workers) if workers else None, int(cpus))
    return [
        (device, RayEngine(actor, checkpoint_every, PREVIEW_SECONDS)) for actor, device in painters
    ]


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address ``host`` names (PainterlyError if any fails)."""
    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError):
        raise PainterlyError(
            f"--host {host!r} is neither an address nor a name this machine can resolve"
        ) from None
    addresses = list(dict.fromkeys((family, address) for family, *_, address in found))
    listeners: list[socket.socket] = []
    try:
        for family, address in addresses:
            listener = socket.socket(family, socket.SOCK_STREAM)
            listeners.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and len(addresses) > 1:
                # Beside its IPv4 twin (a wildcard, or a name with both): IPv6 only.
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            listener.bind(address)
    except OSError as error:
        for listener in listeners:
            listener.close()
        raise PainterlyError(_bind_error(host, port, error)) from None
    return listeners


def _bind_error(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use by another program; choose another --port"
    if error.errno == errno.EACCES:
        return f"cannot listen on port {port} (permission denied); choose a --port above 1023"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"--host {host} is not an address of this machine"
    return f"cannot listen on {host}:{port} ({error.strerror or error})"


def command(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    if not args.port.isdigit() or not 1 <= int(args.port) <= 65535:
        raise PainterlyError(f"--port must be a whole number from 1 to 65535, not {args.port!r}")
    if not args.checkpoint_every.isdigit():
        raise PainterlyError(
            f"--checkpoint-every must be a whole number ≥ 0, not {args.checkpoint_every!r}"
        )
    video_mb = read_number(args.max_video_mb, "--max-video-mb", strict=True, maximum=MAX_VIDEO_MB)
    video_seconds = read_number(
        args.max_video_seconds, "--max-video-seconds", strict=True, maximum=MAX_VIDEO_SECONDS
    )
    if args.token is not None and not _TOKEN.fullmatch(args.token):
        raise PainterlyError("--token must be at least 16 letters, digits, '-' or '_'")
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    if data_dir.exists() and not data_dir.is_dir():
        raise PainterlyError(f"--data-dir {data_dir} is a file, not a directory")
    try:
        from painterly.studio.app import serve
        from painterly.studio.guard import Access, is_loopback
        from painterly.studio.service import Studio
        from painterly.studio.uploads import Limits
    except ImportError as missing:
        raise PainterlyError(
            f"the studio needs {missing.name}: pip install 'painterly[studio]'"
        ) from None
    port = int(args.port)
    listeners = bind(args.host, port)
    with contextlib.ExitStack() as cleanup:
        for listener in listeners:
            cleanup.callback(listener.close)
        engines = None
        if args.ray is not None:
            engines = ray_engines(
                args.ray, args.ray_workers, args.cpus_per_worker, int(args.checkpoint_every)
            )
            cleanup.callback(_leave_ray)
            devices = ", ".join(device for device, _ in engines)
            print(f"painterly studio: jobs run on {len(engines)} Ray worker(s) ({devices})",
                  file=sys.stderr)  # fmt: skip
        try:
            limits = Limits(
                max_video_bytes=int(video_mb * 1024**2), max_video_seconds=video_seconds
            )
            studio = Studio(
                data_dir,
                checkpoint_every=int(args.checkpoint_every),
                limits=limits,
                engines=engines,
            )
        except OSError as error:
            raise PainterlyError(f"cannot use --data-dir {data_dir} ({error.strerror})") from None
        cleanup.callback(studio.close)  # the app's lifespan closes it too; once is enough
        local = all(is_loopback(listener.getsockname()[0]) for listener in listeners)
        token = args.token or (None if local else secrets.token_urlsafe(24))
        access = Access.create(port, args.host, token, args.allow_host)
        _announce(args.host, port, access, args.allow_host, local, data_dir)
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C after stopping
            serve(studio, listeners, access)
    print("painterly studio: stopped", file=sys.stderr)
    return 0


def _leave_ray() -> None:
    import ray

    ray.shutdown()  # the studio's actors end with its connection


def _announce(
    host: str, port: int, access: Access, also: list[str], local: bool, data_dir: Path
) -> None:
    from painterly.studio.guard import WILDCARDS, host_name

    # A wildcard is no name a browser can use: show one the studio answers to.
    names = [host] if host not in WILDCARDS else [*also, "127.0.0.1"]
    shown = host_name(names[0])
    login = f"?token={access.token}" if access.token else ""
    print(f"painterly studio: http://{shown}:{port}/{login} (API docs: /docs)", file=sys.stderr)
    if local:
        print(
            "painterly studio: bound to localhost only; other machines cannot reach it",
            file=sys.stderr,
        )
    else:
        print(
            f"painterly: warning: listening on {host}, not localhost: anyone who can reach "
            "it and has the token can use the studio (send it as Authorization: Bearer "
            "TOKEN, or open the address above once); it answers to the host names "
            f"{', '.join(access.names)} only",
            file=sys.stderr,
        )
    print(f"painterly studio: jobs are kept in {data_dir}", file=sys.stderr)
