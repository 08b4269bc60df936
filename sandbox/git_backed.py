"""The file / diff / reset / snapshot half of the Sandbox protocol, shared by every backend.

Each backend keeps a lock, a :class:`~swe_dagger.sandbox.workspace.GitWorkspace` and a closed flag; these
methods take the lock, check the sandbox is open and delegate, so the two backends differ only in how they
start, run commands and stop. ``_disk_check`` is the shared end of every command: over the disk budget, reset.
"""

from __future__ import annotations

import threading

from swe_dagger.sandbox.disk import DiskBudget
from swe_dagger.sandbox.protocol import Snapshot
from swe_dagger.sandbox.workspace import GitWorkspace


class GitBackedWorkspace:
    """Mixin for backends: ``_lock``, ``_git`` and ``_check_open`` are provided by the backend."""

    _lock: threading.Lock
    _git: GitWorkspace
    _disk: DiskBudget

    def _check_open(self) -> None:
        raise NotImplementedError

    def _disk_check(self) -> bool:
        """After a command (lock held): whether the workspace grew past its disk limit; if so, reset it."""
        if self._disk.after_command() is None:
            return False
        self._git.reset()
        return True

    def read_file(self, path: str) -> str:
        with self._lock:
            self._check_open()
            return self._git.read_file(path)

    def write_file(self, path: str, content: str) -> None:
        with self._lock:
            self._check_open()
            self._git.write_file(path, content)

    def diff(self) -> str:
        with self._lock:
            self._check_open()
            return self._git.diff()

    def reset(self) -> None:
        with self._lock:
            self._check_open()
            self._git.reset()

    def snapshot(self) -> Snapshot:
        with self._lock:
            self._check_open()
            return self._git.snapshot()

    def restore(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._check_open()
            self._git.restore(snapshot)
