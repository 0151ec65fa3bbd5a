"""Run one benchmark process: its wall time, its peak memory and a timestamped loss trace.

Every run (painterly's and the peers') is a child process, so each has its own peak
resident set size: the high-water mark the kernel keeps for the child's memory
(``VmHWM`` in ``/proc/PID/status``), read after each line it prints, and its clock starts
at launch: interpreter start, imports, weight loading and target
computation all count, as they do for a user. The child reports its losses on standard
output, one line per evaluation; each line is timestamped here when it arrives.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# One point of a loss trace: (seconds since launch, loss).
Point = tuple[float, float]
LineParser = Callable[[str], float | None]


@dataclass
class Measured:
    """What one child process did."""

    returncode: int
    seconds: float
    peak_rss_bytes: int
    trace: list[Point] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    stderr_tail: str = ""

    @property
    def ok(self) -> bool:
        """The process exited with status 0."""
        return self.returncode == 0


def run_measured(
    command: Sequence[str],
    parse: LineParser,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    keep_lines: int = 50,
) -> Measured:
    """Run ``command``; every stdout line that ``parse`` maps to a loss joins the trace.

    The last ``keep_lines`` unparsed lines and the end of standard error are kept to say
    why a run failed.
    """
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            errors="replace",
            env=env,
            cwd=cwd,
        )
        trace: list[Point] = []
        lines: list[str] = []
        assert process.stdout is not None
        peak = 0
        for line in process.stdout:
            now = time.perf_counter() - start
            peak = max(peak, high_water_mark(process.pid))
            loss = parse(line)
            if loss is None:
                lines = [*lines[-keep_lines + 1 :], line.rstrip()]
            else:
                trace.append((now, loss))
        peak = max(peak, high_water_mark(process.pid))
        # wait4's ru_maxrss (KiB) is only the fallback: Linux carries the resident size of
        # the process that forked into it, so a child of a harness that has grown (the
        # efficiency section runs in-process) would report the harness's size.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        tail = stderr.read()[-2000:]
    return Measured(
        returncode=process.returncode,
        seconds=seconds,
        peak_rss_bytes=peak or usage.ru_maxrss * 1024,
        trace=trace,
        lines=lines,
        stderr_tail=tail,
    )


def high_water_mark(pid: int) -> int:
    """The peak resident set size of process ``pid`` so far, in bytes (0 if unknown)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def failure_reason(measured: Measured) -> str:
    """One line saying why a run failed: the last line of its error output."""
    text = measured.stderr_tail.strip() or "\n".join(measured.lines).strip()
    last = text.splitlines()[-1] if text else "no output"
    return f"exit status {measured.returncode}: {last}"
