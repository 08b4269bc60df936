"""Run one host process under a wall-clock deadline, with merged, capped output.

The process is started in its own session, so a timeout kills its whole process group with one
``killpg``; the bubblewrap sandbox turns that into the death of every process inside it (its PID
namespace dies with its init). Output is drained while it arrives, so a chatty command never blocks
on a full pipe and never grows memory past the cap.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from swe_dagger.sandbox.output import OutputCap

_DRAIN_AFTER_KILL_S = 2.0


@dataclass(frozen=True)
class ProcessOutcome:
    """What :func:`run_capped` observed."""

    output: str
    truncated: bool
    exit_code: int
    timed_out: bool
    duration_s: float


def run_capped(
    argv: Sequence[str],
    *,
    timeout: float,
    output_bytes: int,
    pass_fds: Sequence[int] = (),
    user: int | None = None,
    stdin_data: bytes | None = None,
) -> ProcessOutcome:
    """Run ``argv`` with stdout+stderr merged and capped, killed after ``timeout`` seconds.

    stdin is ``/dev/null``, or a memfd holding ``stdin_data`` (any size: nothing has to drain it).
    A negative exit code means the process died from that signal; ``-1`` after a timeout.
    """
    cap = OutputCap(output_bytes)
    start = time.monotonic()
    stdin = subprocess.DEVNULL if stdin_data is None else _memfd(stdin_data)
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
            env={},
            user=user,
        )
    finally:
        if stdin_data is not None:
            os.close(stdin)
    assert proc.stdout is not None  # guaranteed by stdout=PIPE
    fd = proc.stdout.fileno()
    timed_out = False
    deadline = start + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if timed_out:  # grace period after the kill is over; stop waiting for stragglers
                    break
                timed_out = True
                _kill_group(proc)
                deadline = time.monotonic() + _DRAIN_AFTER_KILL_S
                continue
            if not sel.select(remaining):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            cap.feed(chunk)
    proc.stdout.close()
    if timed_out:
        _kill_group(proc)
    code = proc.wait()
    text, truncated = cap.result()
    return ProcessOutcome(
        output=text,
        truncated=truncated,
        exit_code=-1 if timed_out else code,
        timed_out=timed_out,
        duration_s=time.monotonic() - start,
    )


def _memfd(data: bytes) -> int:
    """An anonymous in-memory file holding ``data``, positioned at its start."""
    fd = os.memfd_create("swe-dagger-stdin")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
