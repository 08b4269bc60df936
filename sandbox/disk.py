"""The per-workspace disk budget: how far a workspace has grown on disk since it was created, after each command.

RLIMIT_FSIZE caps one file; this caps the sum (``Limits.disk_bytes``). Growth is measured exactly by walking the
tree (``du`` of the repository and the private /tmp, or docker's ``SizeRw`` of the container's writable layer),
which costs a stat per file. When the backend can give a cheap upper bound (bytes in use on the host filesystem,
one ``statvfs``), the exact walk runs only when ``growth at the last walk + host growth since`` could pass the
limit, and at least every ``exact_every`` commands (space freed by other processes at the same moment could hide
growth from the bound). Backends reset the workspace when :meth:`DiskBudget.after_command` reports it over.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path


class DiskBudget:
    """Growth of one workspace against ``limit`` bytes; ``measure`` gives its current size in bytes."""

    def __init__(
        self,
        limit: int,
        measure: Callable[[], int],
        bound: Callable[[], int] | None = None,
        exact_every: int = 16,
    ) -> None:
        self.limit = limit
        self._measure = measure
        self._bound = bound
        self._exact_every = exact_every
        self._base = measure()
        self._grown = 0
        self._since_exact = 0
        self._bound_ref = bound() if bound is not None else 0

    def after_command(self) -> int | None:
        """Check after a command: the growth in bytes when it is over the limit, else ``None``."""
        if self._bound is not None and self._since_exact < self._exact_every:
            self._since_exact += 1
            if self._grown + max(0, self._bound() - self._bound_ref) <= self.limit:
                return None
        self._bound_ref = self._bound() if self._bound is not None else 0
        self._grown = self._measure() - self._base
        self._since_exact = 0
        return self._grown if self._grown > self.limit else None


def du_bytes(paths: Sequence[Path]) -> int:
    """Bytes of disk ``paths`` use (``du -s``: blocks, hard links once, one filesystem)."""
    proc = subprocess.run(
        ["du", "-s", "-x", "-B1", "-c", "--", *map(str, paths)], capture_output=True, text=True, check=False
    )
    lines = proc.stdout.strip().splitlines()
    return int(lines[-1].split()[0]) if lines else 0


def filesystem_used(path: Path) -> int:
    """Bytes in use on the filesystem holding ``path``."""
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize
