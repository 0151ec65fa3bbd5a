"""``painterly serve``: the web studio."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from painterly.commands.common import Parser
from painterly.errors import PainterlyError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def default_data_dir() -> Path:
    """Where the studio keeps its jobs unless told: $XDG_DATA_HOME/painterly/studio."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "painterly" / "studio"


def command(argv: Sequence[str]) -> int:
    parser = Parser(
        prog="painterly serve",
        description="The painterly studio: a local web page and REST API (docs at /docs) that "
        "queue stylisation jobs, show them forming and keep them across restarts.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; anything else "
        "lets other machines use the studio, which has no login)",
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
    args = parser.parse_args(argv)
    if not args.port.isdigit() or not 1 <= int(args.port) <= 65535:
        raise PainterlyError(f"--port must be a whole number from 1 to 65535, not {args.port!r}")
    if not args.checkpoint_every.isdigit():
        raise PainterlyError(
            f"--checkpoint-every must be a whole number ≥ 0, not {args.checkpoint_every!r}"
        )
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    if data_dir.exists() and not data_dir.is_dir():
        raise PainterlyError(f"--data-dir {data_dir} is a file, not a directory")
    try:
        from painterly.studio.app import serve
        from painterly.studio.service import Studio
    except ImportError as missing:
        raise PainterlyError(
            f"the studio needs {missing.name}: pip install 'painterly[studio]'"
        ) from None
    try:
        studio = Studio(data_dir, checkpoint_every=int(args.checkpoint_every))
    except OSError as error:
        raise PainterlyError(f"cannot use --data-dir {data_dir} ({error.strerror})") from None
    host = args.host
    shown = f"[{host}]" if ":" in host else host
    print(f"painterly studio: http://{shown}:{args.port}/ (API docs: /docs)", file=sys.stderr)
    if host in LOCAL_HOSTS:
        print(
            "painterly studio: bound to localhost only; other machines cannot reach it",
            file=sys.stderr,
        )
    else:
        print(
            f"painterly: warning: listening on {host}, not localhost: anyone who can reach "
            "this address can use the studio and read its jobs (there is no login)",
            file=sys.stderr,
        )
    print(f"painterly studio: jobs are kept in {data_dir}", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C after shutting down
        serve(studio, host, int(args.port))
    print("painterly studio: stopped", file=sys.stderr)
    return 0
