"""Leftover local workspaces: each records its owner process at creation; gc removes those whose owner is gone.

A ``kill -9`` (or any crash that skips ``close()``) leaves ``ws-*`` directories under the sandbox root. Every
workspace holds ``owner.json`` (``host:pid:starttime`` and the creation time, outside what commands can see),
so :func:`remove_leaked_workspaces` can tell an orphan from a workspace that is still in use. It runs from
``swe-dagger sandbox gc``, at ``swe-dagger train`` start and when a process opens its first local sandbox.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import threading
import time
from pathlib import Path

from swe_dagger.sandbox.owner import Removed, owner_alive, owner_label

OWNER_FILE = "owner.json"
PREFIX = "ws-"
UNOWNED_GRACE_S = 600.0
"""A workspace without an owner file (one being created, or made before owners were recorded) is left alone
for this long."""

_startup_done = False
_startup_lock = threading.Lock()


def record_owner(workspace: Path) -> None:
    """Write this process as the owner of ``workspace`` (call right after creating the directory)."""
    payload = json.dumps({"owner": owner_label(), "created": time.time()})
    tmp = workspace / f".{OWNER_FILE}.tmp"
    tmp.write_text(payload)
    tmp.replace(workspace / OWNER_FILE)


def remove_leaked_workspaces(
    root: Path | None = None, *, everything: bool = False, older_than_s: float | None = None
) -> list[Removed]:
    """Remove local workspaces under ``root`` (default: the sandbox root): all of them, those older than
    ``older_than_s``, or (default) those whose owner process is gone."""
    if root is None:
        from swe_dagger.sandbox.local import sandbox_root

        root = sandbox_root()
    removed = []
    now = time.time()
    for path in sorted(root.glob(f"{PREFIX}*")):
        owner, created = _read_owner(path)
        if created is None:
            continue  # vanished meanwhile
        age = now - created
        orphan = not owner_alive(owner) if owner else age > UNOWNED_GRACE_S
        if everything or (older_than_s is not None and age > older_than_s) or orphan:
            delete_tree(path)
            removed.append(Removed(name=path.name, owner=owner or "unknown", age_s=age))
    return removed


def startup_gc() -> None:
    """Once per process: remove workspaces left by dead owners on this host."""
    global _startup_done
    with _startup_lock:
        if _startup_done:
            return
        _startup_done = True
    remove_leaked_workspaces()


def delete_tree(path: Path) -> None:
    """``rm -rf`` that gets through directories a command made read-only, and tolerates a concurrent delete."""
    shutil.rmtree(path, onerror=_make_writable_and_retry)


def _read_owner(path: Path) -> tuple[str, float | None]:
    try:
        data = json.loads((path / OWNER_FILE).read_text())
        return str(data["owner"]), float(data["created"])
    except (OSError, ValueError, KeyError, TypeError):
        try:
            return "", path.stat().st_mtime
        except OSError:
            return "", None


def _make_writable_and_retry(func: object, path: str, exc: object) -> None:
    """``rmtree`` error hook: open up read-only directories and retry; an entry already gone is fine."""
    if isinstance(exc, tuple) and isinstance(exc[1], FileNotFoundError):
        return
    with contextlib.suppress(FileNotFoundError):
        parent = os.path.dirname(path)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, os.stat(path).st_mode | stat.S_IRWXU)
            shutil.rmtree(path, onerror=_make_writable_and_retry)
        else:
            os.unlink(path)
