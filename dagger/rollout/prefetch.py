"""Envs reset ahead of time: workspaces of episodes that have not started yet, opened in a background thread.

A :class:`Prefetch` opens one env per ``(task_id, seed)`` and resets it, one after another, while the caller does
something else (the loop: SFT). Nothing it prepares depends on the student's weights: a reset is a function of the
task and the seed (a fresh workspace at the task's base commit, the task prompt as the first observation). It
writes no record: the collector logs episodes as always, and an env it never takes is closed unused.

Ownership is explicit: the envs belong to the ``Prefetch`` until :meth:`Prefetch.take` hands them over (the
collector then closes the ones it did not use); :meth:`Prefetch.close` closes what was never taken. Both stop the
thread first (it finishes the reset in progress), so nothing is opened after them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from swe_dagger.dagger.rollout.env_worker import EnvWorker, MakeWorker, Reset, Worker

Key = tuple[str, int]
"""An episode's ``(task_id, seed)``: what its reset depends on."""


@dataclass(frozen=True)
class Ready:
    """An env already reset for one episode, and what the reset returned."""

    worker: Worker
    reset: Reset


class Prefetch:
    """Opens and resets an env per key of ``keys``, in order, in a thread of its own, until taken or closed."""

    def __init__(self, make_env: Callable[[], Any], keys: Sequence[Key],
                 make_worker: MakeWorker = EnvWorker) -> None:
        self.keys = tuple(keys)
        self.error: str | None = None
        """Why preparing stopped early (the collector then resets those envs itself and meets the cause again)."""
        self._make_env, self._make_worker = make_env, make_worker
        self._ready: dict[Key, Ready] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for key in self.keys:
            if self._stop.is_set():
                return
            worker: Worker | None = None
            try:
                worker = self._make_worker(self._make_env)
                self._ready[key] = Ready(worker, worker.reset(*key))
            except Exception as exc:  # reported by take(); the collector's own reset raises it where it belongs
                if worker is not None:
                    worker.close()
                self.error = f"preparing {key[0]} (seed {key[1]}) failed: {type(exc).__name__}: {exc}"
                return

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every key is prepared (or preparing failed); ``False`` if ``timeout`` seconds passed first."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def take(self) -> dict[Key, Ready]:
        """Stop preparing (after the reset in progress) and hand over every env prepared so far."""
        self._stop.set()
        self._thread.join()
        ready, self._ready = self._ready, {}
        return ready

    def close(self) -> None:
        """Stop preparing and close every env not taken; safe to call twice."""
        close_ready(self.take().values())

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def close_ready(ready: Iterable[Ready]) -> None:
    """Close every prepared env, even when closing one of them raises (the first error is raised after)."""
    first: Exception | None = None
    for r in ready:
        try:
            r.worker.close()
        except Exception as exc:
            first = first or exc
    if first is not None:
        raise first
