"""Crash-safe files: atomic replaces and an fsync'd append-only JSONL log that repairs a torn tail.

A ``kill -9`` can land anywhere. Whole files (phase markers, derived datasets, metrics) are written to a temporary
sibling and ``os.replace``-d, so readers see the old or the new content, never half. The episode log is appended
one complete line per record and fsync'd; a line cut short by a kill has no trailing newline and is cut off when
the log is reopened, so a record is either fully there or not at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_with(path: Path, write: Callable[[Path], object]) -> None:
    """Replace ``path`` with what ``write(tmp)`` writes to a temporary sibling, in one step: the sibling is fsync'd,
    ``os.replace``-d over ``path``, and the directory fsync'd (for writers that need a path, e.g. ``torch.save``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (tmp file, fsync, ``os.replace``, fsync of the directory)."""
    atomic_write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def append_bytes(path: Path, blob: bytes) -> None:
    """Append ``blob`` with ``write`` calls on an ``O_APPEND`` descriptor, then fsync: on disk when this returns."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(blob)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


class AppendLog:
    """An append-only JSONL file; ``append`` returns once the line is on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()

    def _repair(self) -> None:
        """Cut off a partial last line left by a crash mid-write."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        with open(self.path, "r+b") as fh:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())

    def append(self, record: Any) -> None:
        append_bytes(self.path, (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode())

    def records(self) -> Iterator[Any]:
        """Every complete record, in order; a corrupt complete line is an error naming the file and line."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.endswith("\n"):
                    return  # torn tail (another process may still be writing); ignored, repaired on reopen
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{self.path}:{lineno}: corrupt record ({exc})") from exc
