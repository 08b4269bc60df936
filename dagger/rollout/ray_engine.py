"""The Ray rollout engine (``rollout.engine: ray``): env workers as Ray actors on any node of a cluster.

The loop and the collector are the local engine's: the driver (this process) renders states, batches the student's
generations, calls the teacher (its cache and metering stay here) and writes every record; only the envs move.
Each env actor (:class:`~swe_dagger.dagger.rollout.ray_actor.EnvHost`) reserves ``rollout.ray_actor_cpus`` and one
unit of the custom resource ``sandbox_<env.sandbox>`` that nodes able to run that sandbox backend declare, and owns
the envs (sandboxes) of the episodes placed on it; :class:`ActorPool` places each env on its least-loaded actor.
A lost actor is replaced, and its episodes are rebuilt on other actors
(:class:`~swe_dagger.dagger.rollout.ray_worker.RayEnvWorker`).

The actors live as long as the run (one :class:`RayEngine`, closed with it); the driver appends where each episode
ran to ``<run_dir>/rollout/ray_placements.jsonl``. Ray is imported only here, only for ``rollout.engine: ray``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swe_dagger.dagger.rollout.config import RolloutConfig
from swe_dagger.dagger.rollout.ray_actor import EnvHost
from swe_dagger.dagger.rollout.ray_worker import RayEnvWorker

READY_TIMEOUT_S = 600.0
"""How long the first actors may take to start (a busy node imports torch-free code in a fresh worker)."""
MAX_LOST_AT_START = 3
"""Actors that may die before they ever ran (their node left during start-up) while the pool starts; each is
replaced, and one more is an error."""
LOCAL_OBJECT_STORE_BYTES = 128 * 2**20
"""Object store of a cluster started for the run: envs exchange strings, not tensors."""
CONNECT_ATTEMPTS = 3
CONNECT_DELAY_S = 2.0
"""Connecting to a named ``rollout.ray_address`` is tried this often, waiting 2 s, then 4 s, between tries."""
ACTOR_RUNTIME_ENV = {"env_vars": {"RAY_worker_niceness": "0"}}
"""Ray renices every worker process it starts by its ``worker_niceness`` (+15 by default) so that its own daemons
stay responsive. An env actor's work is the run's sandboxed commands, not background chores: at +15 it got a
fraction of the CPU a thread of the driver gets on a busy node (``bench/ray.py``: 19 against the driver's 10, each
reset and step ~7x slower). 0 keeps the actors at their raylet's niceness (the driver's, for a local cluster)."""

logger = logging.getLogger(__name__)


def import_ray() -> Any:
    """The ``ray`` module, or one ImportError that names the extra to install."""
    try:
        import ray
    except ImportError:
        raise ImportError("rollout.engine=ray needs Ray: pip install 'swe-dagger[ray]' (or 'ray[default]')") from None
    return ray


def sandbox_resource(sandbox: str) -> str:
    """The custom resource a node declares for each env actor of backend ``sandbox`` it can host."""
    return f"sandbox_{sandbox}"


@dataclass
class Slot:
    """One env actor, its envs open now, and (once started) where it runs."""

    actor: Any
    started: Any = None
    """The actor's first ``where()`` call: done once the actor runs."""
    envs: int = 0
    node: str | None = None
    pid: int | None = None

    def locate(self, ray: Any) -> tuple[str, int]:
        if self.node is None or self.pid is None:
            self.node, self.pid = ray.get(self.actor.where.remote())
        return self.node, self.pid


class ActorPool:
    """``size`` env actors; a lost one is replaced by a new actor (placed wherever the cluster has room)."""

    def __init__(self, ray: Any, size: int, options: dict[str, Any]) -> None:
        self._ray, self._options = ray, options
        self._remote = ray.remote(EnvHost)
        self._lock = threading.Lock()
        self.ready_timeout_s = READY_TIMEOUT_S
        """How long opening an env waits for its actor (a replacement may find no room: then one error)."""
        self.slots = [self._spawn() for _ in range(size)]
        self.lost_actors = 0
        self._last_loss = ""
        deadline = time.monotonic() + self.ready_timeout_s
        while pending := [s.started for s in self.slots if s.node is None]:
            ray.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
            with self._lock:
                self._settle()
            if self.lost_actors > MAX_LOST_AT_START:
                raise RuntimeError(f"{self.lost_actors} env actors died before they ran; last: {self._last_loss}")
            if time.monotonic() > deadline and any(s.node is None for s in self.slots):
                raise RuntimeError(f"{size} env actors did not start within {self.ready_timeout_s:.0f} s; the cluster "
                                   f"has {ray.available_resources()} free")

    def _spawn(self) -> Slot:
        actor = self._remote.options(**self._options).remote()
        return Slot(actor, started=actor.where.remote())

    def acquire(self) -> Slot:
        """The least-loaded actor, started ones first (a replacement may wait for room that a lost node took)."""
        with self._lock:
            self._settle()
            slot = min(self.slots, key=lambda s: (s.node is None, s.envs))
            slot.envs += 1
            return slot

    def open_env(self, slot: Slot, make_env: Callable[[], Any]) -> int:
        """Open an env on ``slot``'s actor, waiting at most ``ready_timeout_s`` for the actor to start."""
        try:
            return int(self._ray.get(slot.actor.open.remote(make_env), timeout=self.ready_timeout_s))
        except self._ray.exceptions.GetTimeoutError:
            raise RuntimeError(
                f"no env actor could take an env within {self.ready_timeout_s:.0f} s (lost actors: "
                f"{self.lost_actors}); each asks for {self._options.get('num_cpus')} CPU and "
                f"{self._options.get('resources')}, the cluster has {self._ray.available_resources()} free") from None

    def _settle(self) -> None:
        """Locate the actors that have started since; one that died before it ran (its node left, its worker could
        not start) is replaced like a lost one. Call with the lock held."""
        died = self._ray.exceptions.RayActorError
        for slot in list(self.slots):
            if slot.node is not None or not self._ray.wait([slot.started], timeout=0)[0]:
                continue
            try:
                slot.locate(self._ray)
            except died as exc:
                if exc.actor_init_failed:  # EnvHost() raised: a bug to report, not a lost actor
                    raise
                self._last_loss = " ".join(str(exc).split()) or type(exc).__name__
                self._replace(slot, "before it ran")

    def release(self, slot: Slot) -> None:
        with self._lock:
            slot.envs = max(0, slot.envs - 1)

    def lost(self, slot: Slot) -> None:
        """``slot``'s actor died: replace it (once, whichever of its envs noticed first)."""
        with self._lock:
            if slot in self.slots:
                self._replace(slot, "")

    def _replace(self, slot: Slot, when: str) -> None:
        self.slots[self.slots.index(slot)] = self._spawn()
        self.lost_actors += 1
        logger.warning("ray: env actor pid %s on node %s was lost%s; a replacement is starting and its episodes are "
                       "rebuilt on other actors", slot.pid, slot.node, f" {when}" if when else "")
        with contextlib.suppress(Exception):  # already gone: the usual case
            self._ray.kill(slot.actor, no_restart=True)

    def close(self) -> None:
        """Close every actor's envs, then end the actors; safe twice."""
        slots, self.slots = self.slots, []
        # a replacement not started yet hosts no env (envs open only on started actors), and may never start
        pending = [s.actor.close_all.remote() for s in slots if s.node is not None]
        try:
            self._ray.wait(pending, num_returns=len(pending), timeout=60)
        finally:
            for slot in slots:
                with contextlib.suppress(Exception):
                    self._ray.kill(slot.actor, no_restart=True)


class RayEngine:
    """The run's connection to a Ray cluster and its env actors; ``worker`` is the collector's ``make_worker``."""

    def __init__(self, cfg: RolloutConfig, *, sandbox: str, actors: int, placements: Path | None = None,
                 log: Callable[[str], None] = print) -> None:
        self._ray = ray = import_ray()
        self._placements = placements
        self._log_lock = threading.Lock()
        resources = {sandbox_resource(sandbox): 1.0, **cfg.ray_resources}
        self._owns_connection = connect(ray, cfg.ray_address, actors=actors, cpus=cfg.ray_actor_cpus,
                                        resources=resources)
        try:
            check_capacity(ray, actors=actors, cpus=cfg.ray_actor_cpus, resources=resources)
            self.pool = ActorPool(ray, actors, {"num_cpus": cfg.ray_actor_cpus, "resources": resources,
                                                "max_concurrency": 64, "runtime_env": ACTOR_RUNTIME_ENV})
        except BaseException:
            self._disconnect()
            raise
        nodes = {s.node for s in self.pool.slots}
        log(f"ray: {actors} env actors on {len(nodes)} node(s) of {ray.get_runtime_context().gcs_address}")
        self._closed = False

    def worker(self, make_env: Callable[[], Any]) -> RayEnvWorker:
        """An env built by ``make_env`` on the least-loaded actor (the collector's and prefetch's ``make_worker``)."""
        return RayEnvWorker(self._ray, self.pool, make_env, self._placed)

    def _placed(self, worker: RayEnvWorker, rebuilt: bool) -> None:
        if self._placements is None or worker.slot is None or worker.episode is None:
            return
        node, pid = worker.slot.locate(self._ray)
        row = {"task_id": worker.episode[0], "seed": worker.episode[1], "node": node, "pid": pid, "rebuilt": rebuilt}
        with self._log_lock:
            self._placements.parent.mkdir(parents=True, exist_ok=True)
            with open(self._placements, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")

    def close(self) -> None:
        """End the actors (closing their envs) and the connection if this engine made it; safe twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self.pool.close()
        finally:
            self._disconnect()

    def _disconnect(self) -> None:
        if self._owns_connection:
            self._ray.shutdown()


def connect(ray: Any, address: str, *, actors: int, cpus: float, resources: dict[str, float]) -> bool:
    """Connect this process to the cluster ``address`` names (see ``rollout.ray_address``); ``False`` when it was
    connected already (then the caller must not disconnect it)."""
    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": "WARNING", "configure_logging": True}
    if address == "auto":
        try:
            ray.init(address=address, **quiet)
            return True
        except ConnectionError:
            pass
    elif address != "local":
        init_with_retries(ray, address, quiet)
        return True
    ray.init(num_cpus=max(os.cpu_count() or 1, math.ceil(actors * cpus)),
             resources={name: amount * actors for name, amount in resources.items()},
             object_store_memory=LOCAL_OBJECT_STORE_BYTES, include_dashboard=False, **quiet)
    return True


def init_with_retries(ray: Any, address: str, options: dict[str, Any]) -> None:
    """``ray.init(address=...)``, tried ``CONNECT_ATTEMPTS`` times (a loaded head can miss one connect deadline); the
    final error names the address and the last failure."""
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            ray.init(address=address, **options)
            return
        except (ConnectionError, TimeoutError) as exc:
            if ray.is_initialized():
                ray.shutdown()
            if attempt == CONNECT_ATTEMPTS:
                raise RuntimeError(f"rollout.ray_address={address}: no Ray cluster answered after {CONNECT_ATTEMPTS} "
                                   f"attempts: {type(exc).__name__}: {exc}") from None
            time.sleep(CONNECT_DELAY_S * attempt)


def check_capacity(ray: Any, *, actors: int, cpus: float, resources: dict[str, float]) -> None:
    """Raise naming what is short when the cluster's nodes together cannot host ``actors`` env actors."""
    total = ray.cluster_resources()
    need = {"CPU": actors * cpus, **{name: amount * actors for name, amount in resources.items()}}
    short = [f"{name}: needs {amount:g}, the cluster has {total.get(name, 0):g}"
             for name, amount in need.items() if amount > 0 and total.get(name, 0) + 1e-9 < amount]
    if short:
        raise RuntimeError(f"the Ray cluster cannot host {actors} env actors ({'; '.join(short)}); start nodes "
                           f"with e.g. ray start --resources '{json.dumps({k: actors for k in resources})}', or "
                           "lower rollout.ray_actors / rollout.ray_actor_cpus")


def engine_for(ctx: Any) -> RayEngine:
    """The run's engine (``ctx``: a :class:`~swe_dagger.dagger.run.context.RunContext`), started on first use."""
    if ctx.rollout_engine is None:
        cfg = ctx.cfg
        ctx.rollout_engine = RayEngine(
            cfg.rollout, sandbox=cfg.env.sandbox, actors=cfg.rollout.ray_actors or cfg.dagger.num_envs,
            placements=ctx.run_dir / "rollout" / "ray_placements.jsonl", log=ctx.display.log)
    return ctx.rollout_engine
