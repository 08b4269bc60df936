"""One process at a time per output directory: an exclusive ``flock`` on ``<dir>/.lock``, held until released.

Two ``swe-dagger train --resume D`` at once would log every episode twice and pay for every label twice; a
database refuses a second writer the same way. The lock file holds the holder's PID, so the refusal can name it.
The kernel drops a ``flock`` when its holder exits, however it exits (``kill -9`` included): a stale lock file
never blocks anyone, and it is left in place (removing it would race with a process that just opened it).
The descriptor is not inherited by child processes (sandboxes, a vLLM server), so none of them keeps it.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

LOCK_NAME = ".lock"


class DirLockedError(RuntimeError):
    """Another process holds the directory's lock; the message names its PID."""


class DirLock:
    """``with DirLock(directory):`` or ``acquire()`` ... ``release()`` (safe twice). Creates the directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> DirLock:
        """Take the lock or raise :class:`DirLockedError` at once (never waits for the holder)."""
        if self._fd is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_pid(fd)
            os.close(fd)
            raise DirLockedError(
                f"{self.directory} is in use by process {holder} (it holds {self.path}); "
                "wait for it to finish or stop it, then run again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor drops the flock

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _holder_pid(fd: int) -> str:
    """The PID the holder wrote (it writes just after locking, so a reader may need a moment to see it)."""
    for _ in range(50):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text:
            return text
        time.sleep(0.01)
    return "(unknown pid)"
