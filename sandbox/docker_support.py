"""Docker plumbing shared by the backend and the CLI: connecting, labelling containers, removing leaked ones,
and where the daemon keeps its data (a cheap bound for the disk budget).

Every container we start carries labels naming its owner process (host, pid, process start time), so
``swe-dagger sandbox gc`` and the first sandbox a process opens can remove containers whose owner died
without closing them (a crash, a ``kill -9``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from swe_dagger.sandbox.disk import filesystem_used
from swe_dagger.sandbox.owner import Removed, owner_alive, owner_label
from swe_dagger.sandbox.protocol import SandboxUnavailable

LABEL = "swe-dagger.sandbox"
OWNER_LABEL = "swe-dagger.owner"
CREATED_LABEL = "swe-dagger.created"

_startup_gc_done = False
_startup_gc_lock = threading.Lock()


def connect() -> Any:
    """A Docker client with no read timeout (exec deadlines are ours); raises :class:`SandboxUnavailable`."""
    try:
        import docker
    except ImportError as exc:
        raise SandboxUnavailable("the docker backend needs the docker SDK: pip install 'docker>=7'") from exc
    try:
        client = docker.from_env(timeout=None)
        client.ping()
    except Exception as exc:  # the SDK raises several types for "no daemon"
        raise SandboxUnavailable(
            f"the docker backend needs a running Docker daemon ({exc}); start one with `bash scripts/setup.sh` "
            "(dockerd --storage-driver=overlay2 --iptables=false --bridge=none) or set DOCKER_HOST"
        ) from exc
    return client


def daemon_disk_used(client: Any) -> Callable[[], int] | None:
    """Bytes in use on the filesystem holding the daemon's data (its containers' writable layers), when that is
    a directory of this host (a local daemon); ``None`` for a remote daemon or a VM."""
    root = client.info().get("DockerRootDir")
    if not root or not os.path.isdir(root):
        return None
    return lambda: filesystem_used(Path(root))


def labels() -> dict[str, str]:
    """Labels for a container created now by this process."""
    return {LABEL: "1", OWNER_LABEL: owner_label(), CREATED_LABEL: str(int(time.time()))}


def remove_leaked(client: Any, *, everything: bool = False, older_than_s: float | None = None) -> list[Removed]:
    """Remove swe-dagger containers: all of them, those older than ``older_than_s``, or (default) orphans."""
    removed = []
    now = time.time()
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        owner = container.labels.get(OWNER_LABEL, "")
        age = now - float(container.labels.get(CREATED_LABEL, "0") or 0)
        if everything or (older_than_s is not None and age > older_than_s) or not owner_alive(owner):
            try:
                container.remove(force=True)
            except Exception as exc:
                if "No such container" not in str(exc) and "already in progress" not in str(exc):
                    raise
                continue
            removed.append(Removed(name=container.name, owner=owner, age_s=age))
    return removed


def startup_gc(client: Any) -> None:
    """Once per process: remove containers left by dead owners on this host."""
    global _startup_gc_done
    with _startup_gc_lock:
        if _startup_gc_done:
            return
        _startup_gc_done = True
    remove_leaked(client)
