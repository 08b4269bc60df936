"""The ``rollout`` section of the run config: which engine runs the env workers (threads here, or Ray actors on a
cluster) and how the Ray actors are placed.

Re-exported by :mod:`~swe_dagger.dagger.config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from swe_dagger.typed import ConfigError, check_bounds


@dataclass(frozen=True)
class RolloutConfig:
    engine: Literal["local", "ray"] = "local"
    """``local``: env workers are threads of this process. ``ray``: env workers are Ray actors on the cluster
    (``dagger/rollout/ray_engine.py``; needs the ``ray`` extra). Either way the driver batches the student, calls
    the teacher and writes every record, so the same seed gives the same label files."""
    ray_address: str = "auto"
    """``auto``: the cluster in ``$RAY_ADDRESS`` or started on this machine with ``ray start``, else a local one
    started for the run; ``local``: always a local one; else an address (``host:6379``, ``ray://host:10001``)."""
    ray_actors: int | None = None
    """Env actors (each owns the sandboxes of the episodes it hosts; ``null`` = ``dagger.num_envs``)."""
    ray_actor_cpus: float = 1.0
    """``num_cpus`` each env actor reserves (its sandboxed commands run on that node)."""
    ray_resources: dict[str, float] = field(default_factory=dict)
    """Custom resources each actor needs besides ``sandbox_<env.sandbox>: 1`` (which the nodes that can run that
    sandbox backend declare: ``ray start --resources '{"sandbox_local": 8}'``)."""

    def __post_init__(self) -> None:
        check_bounds("rollout", self, at_least_1=("ray_actors",), at_least_0=("ray_actor_cpus",))
        if not self.ray_address.strip():
            raise ConfigError("rollout.ray_address is empty: give auto, local, or a cluster address")
        for name, amount in self.ray_resources.items():
            if not amount > 0:
                raise ConfigError(f"rollout.ray_resources.{name} must be > 0, got {amount!r}")
