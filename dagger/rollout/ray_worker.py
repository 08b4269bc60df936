"""One env on a Ray env actor behind the local :class:`~swe_dagger.dagger.rollout.env_worker.EnvWorker`'s
interface (``reset``/``step``/``diff``/``close``), so the collector runs it unchanged.

Faults: when the actor hosting the env dies (its process killed, ``ray.kill``, its node gone), the next call
rebuilds the env on another actor by replaying what the episode did so far, the reset and the actions stepped,
which this worker records; then it makes the call again. The driver sees one uninterrupted episode: its turns were
decided and recorded by the driver before, so no label is lost or doubled and no teacher call is made again. The
observations after the rebuild come from the replayed workspace (the same ones for a deterministic env).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from swe_dagger.dagger.rollout.env_worker import Reset, Step

if TYPE_CHECKING:
    from swe_dagger.dagger.rollout.ray_engine import ActorPool, Slot

MAX_LOST_ACTORS = 3
"""Actors one env may lose in a row (each rebuild on another one) before the episode fails as an error."""


class RayEnvWorker:
    """An env opened on the least-loaded actor of ``pool``; ``on_place(worker, replay)`` is told where each episode
    starts (``replay``: rebuilt after its actor was lost)."""

    def __init__(self, ray: Any, pool: ActorPool, make_env: Callable[[], Any],
                 on_place: Callable[[RayEnvWorker, bool], None]) -> None:
        self._ray, self._pool, self._make_env, self._on_place = ray, pool, make_env, on_place
        self.slot: Slot | None = None
        self._env_id: int | None = None
        self.episode: tuple[str, int] | None = None
        """``(task_id, seed)`` of the episode in this env (what a rebuild resets to)."""
        self._actions: list[str] = []
        self.rebuilds = 0
        self._closed = False
        self._call("where")  # opens the env now, like EnvWorker: a bad factory fails here

    def reset(self, task_id: str, seed: int) -> Reset:
        self.episode, self._actions = None, []  # a rebuild during this reset has nothing to replay
        reset: Reset = self._call("reset", task_id, seed)
        self.episode = (task_id, seed)
        self._on_place(self, False)
        return reset

    def step(self, action: str) -> Step:
        step: Step = self._call("step", action)
        self._actions.append(action)
        return step

    def diff(self) -> str:
        return str(self._call("diff"))

    def close(self) -> None:
        """Close the env on its actor (an actor already gone took its env with it); safe twice."""
        if self._closed:
            return
        self._closed = True
        slot, env_id, self.slot, self._env_id = self.slot, self._env_id, None, None
        if slot is None:
            return
        try:
            if env_id is not None:
                self._ray.get(slot.actor.close.remote(env_id))
        except self._ray.exceptions.RayActorError:
            pass
        finally:
            self._pool.release(slot)

    def _call(self, method: str, *args: Any) -> Any:
        if self._closed:
            raise RuntimeError(f"env worker is closed ({method})")
        for lost in range(MAX_LOST_ACTORS + 1):
            try:
                if self._env_id is None:
                    self._open(rebuild=lost > 0)
                if method == "where" or self.slot is None:  # opened (the slot is set whenever an env is open)
                    return None
                return self._ray.get(getattr(self.slot.actor, method).remote(self._env_id, *args))
            except self._ray.exceptions.RayActorError as exc:
                failed = exc
                if self.slot is not None:
                    self._pool.lost(self.slot)
                self.slot, self._env_id = None, None
        episode = f"episode {self.episode[0]} (seed {self.episode[1]})" if self.episode else "an env"
        raise RuntimeError(f"{episode}: lost {MAX_LOST_ACTORS + 1} env actors in a row; last: {failed}") from failed

    def _open(self, *, rebuild: bool) -> None:
        """Open the env on an actor; after a lost actor, replay the episode's reset and actions there."""
        self.slot = self._pool.acquire()
        self._env_id = self._pool.open_env(self.slot, self._make_env)
        if rebuild and self.episode is not None:
            ray, actor, env_id = self._ray, self.slot.actor, self._env_id
            ray.get(actor.reset.remote(env_id, *self.episode))
            for action in self._actions:
                ray.get(actor.step.remote(env_id, action))
            self.rebuilds += 1
            self._on_place(self, True)
