"""Who owns a sandbox: ``host:pid:starttime`` of the process that created it, and whether that process still runs.

Containers carry it as a label and local workspaces as a file, so ``swe-dagger sandbox gc`` (and the first sandbox
a process opens) can remove what a crashed or ``kill -9``-ed process left behind. The start time makes a reused PID
count as a different owner.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_label() -> str:
    """``host:pid:starttime`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def owner_alive(owner: str) -> bool:
    """Whether the process named by an owner label still runs; owners on other hosts count as alive."""
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return host != socket.gethostname()
    return _start_time(int(pid_text)) == start


@dataclass(frozen=True)
class Removed:
    """One leaked sandbox (container or workspace directory) that gc removed."""

    name: str
    owner: str
    age_s: float
