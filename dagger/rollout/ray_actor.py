"""The env host that runs inside a Ray actor: it owns the envs (and so the sandboxes) of the episodes it hosts.

A plain class: :mod:`~swe_dagger.dagger.rollout.ray_engine` turns it into an actor with ``ray.remote`` (so this
module imports no Ray). Each env is an :class:`~swe_dagger.dagger.rollout.env_worker.EnvWorker`, exactly the
local engine's, addressed by a number the host hands out; the actor is threaded, so its envs step concurrently.
It writes no record: every return value goes back to the driver, which writes them.

A new actor imports the env's modules as it starts (gymnasium, and swebench's package, which alone took 20 s of a
fresh process at ``nice 15`` on a loaded machine), as the driver's process does once for the local engine: the
engine waits for its actors to start, so that one-time cost is the actors' start-up, not the first episodes'.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from typing import Any

from swe_dagger.dagger.rollout.env_worker import EnvWorker, Reset, Step


class EnvHost:
    """Envs by id, built in this process from the driver's env factory."""

    def __init__(self) -> None:
        import swe_dagger.envs.swe_env  # noqa: F401 (see the module docstring)

        self._envs: dict[int, EnvWorker] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()

    def where(self) -> tuple[str, int]:
        """(Ray node id, pid) of this actor: which machine and process hosts its envs."""
        import ray

        return ray.get_runtime_context().get_node_id(), os.getpid()

    def open(self, make_env: Callable[[], Any]) -> int:
        worker = EnvWorker(make_env)
        with self._lock:
            env_id = next(self._ids)
            self._envs[env_id] = worker
        return env_id

    def reset(self, env_id: int, task_id: str, seed: int) -> Reset:
        return self._env(env_id).reset(task_id, seed)

    def step(self, env_id: int, action: str) -> Step:
        return self._env(env_id).step(action)

    def diff(self, env_id: int) -> str:
        return self._env(env_id).diff()

    def close(self, env_id: int) -> None:
        with self._lock:
            worker = self._envs.pop(env_id, None)
        if worker is not None:
            worker.close()

    def close_all(self) -> None:
        """Close every env (the engine calls this before it kills the actor); safe twice."""
        with self._lock:
            workers, self._envs = list(self._envs.values()), {}
        for worker in workers:
            worker.close()

    def _env(self, env_id: int) -> EnvWorker:
        try:
            return self._envs[env_id]
        except KeyError:
            raise KeyError(f"env {env_id} is not open on this actor (closed, or opened on another)") from None
