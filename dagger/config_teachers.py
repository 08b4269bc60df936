"""The run config's teacher sections: ``teacher`` (one teacher) and the entries of ``teachers`` (a routed list)."""

from __future__ import annotations

from dataclasses import dataclass, field

from swe_dagger.dagger.config_io import ConfigError, check_bounds


@dataclass(frozen=True)
class TeacherConfig:
    name: str = "oracle"
    """Teacher by registry name (``oracle``, ``chat``, ``replay``), entry point, or ``pkg.module:Class``."""
    options: dict[str, str] = field(default_factory=dict)
    """Keyword options for the teacher's constructor (strings; the teacher's factory types them)."""
    cache: bool = True
    """Keep a label cache in the run directory so a resumed run never pays for a label twice."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ConfigError("teacher.name is empty: name a teacher (oracle, chat, replay, or pkg.module:Class)")


@dataclass(frozen=True)
class TeacherRouteConfig:
    """One teacher of the ``teachers:`` list (README "Several teachers")."""

    name: str
    """Registry name, plugin or ``pkg.module:Class``, as ``teacher.name``."""
    options: dict[str, str] = field(default_factory=dict)
    tasks: str | None = None
    """Which tasks it may label: a glob on the instance id or repo (``django__*``), ``re:REGEX``, or null = all."""
    cost: float = 0.0
    """Relative cost: the cheapest matching teacher is asked first; an invalid reply or an error goes to the next."""
    price_per_1k_prompt: float | None = None
    """$ per 1000 prompt tokens (metering of model-backed teachers)."""
    price_per_1k_completion: float | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ConfigError("teachers[].name is empty: name a teacher (oracle, chat, replay, or pkg.module:Class)")
        check_bounds("teachers[]", self, at_least_0=("cost",))
