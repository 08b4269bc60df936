"""One environment behind a small message-style interface (reset/step/diff); with ``rollout.engine: ray`` the same
worker runs inside a Ray env actor (``ray_actor.py``) and the collector talks to it through ``ray_worker.py``.

The collector only talks to workers through these calls and their frozen return values; a worker holds no state
the collector shares. Threads run the calls concurrently (sandboxed commands are subprocesses, so the GIL is
released while they run).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from swe_dagger.envs.task import Task

if TYPE_CHECKING:
    from swe_dagger.dagger.config import EnvConfig


@dataclass(frozen=True)
class Reset:
    observation: str
    task: Task


@dataclass(frozen=True)
class Step:
    observation: str
    reward: float
    terminated: bool
    truncated: bool
    format_error: bool
    resolution: str | None
    error: str | None
    """Infrastructure failure reported by the env (e.g. grading crashed)."""
    seconds: float
    patch: str | None = None
    """The graded patch (submitted steps)."""
    failed_tests: tuple[str, ...] | None = None
    """F2P + P2P tests that failed on the graded patch (graded steps)."""
    tampered: tuple[str, ...] = ()
    """Protected paths (tests, conftest.py, ...) the submitted diff touched; grading left them out."""


class Worker(Protocol):
    """What the collector asks of an env worker: an :class:`EnvWorker` in a thread here, or an env on a Ray actor
    (:class:`~swe_dagger.dagger.rollout.ray_worker.RayEnvWorker`)."""

    def reset(self, task_id: str, seed: int) -> Reset: ...

    def step(self, action: str) -> Step: ...

    def diff(self) -> str: ...

    def close(self) -> None: ...


MakeWorker = Callable[[Callable[[], Any]], Worker]
"""Builds a worker from an env factory (``EnvWorker`` itself is one)."""


class EnvWorker:
    """Owns one ``swe_dagger/SWE-v0`` env (built by ``make_env``) for the collector's lifetime."""

    def __init__(self, make_env: Callable[[], Any]) -> None:
        self.env = make_env()

    def reset(self, task_id: str, seed: int) -> Reset:
        observation, _ = self.env.reset(seed=seed, options={"task_id": task_id})
        return Reset(observation=observation, task=self.env.unwrapped.current_task)

    def diff(self) -> str:
        return str(self.env.unwrapped.workspace_diff())

    def step(self, action: str) -> Step:
        start = time.perf_counter()
        observation, reward, terminated, truncated, info = self.env.step(action)
        return Step(
            observation=observation,
            reward=float(reward),
            terminated=bool(terminated),
            truncated=bool(truncated),
            format_error=bool(info.get("format_error", False)),
            resolution=info.get("resolution"),
            error=info.get("error"),
            seconds=time.perf_counter() - start,
            patch=info.get("patch") if terminated else None,
            failed_tests=failed_tests(info) if info.get("resolution") is not None else None,
            tampered=tuple(info.get("tampered") or ()),
        )

    def close(self) -> None:
        self.env.close()


class AutoSubmitWorker(EnvWorker):
    """An :class:`EnvWorker` whose episodes cut by the turn limit are graded as if submitted (as SWE-agent does, for
    SWE-bench evaluation): the truncating step carries the final diff as ``patch`` and, when it is not empty, its
    verdict, so the record and ``preds.jsonl`` describe the same patch. A grading crash here raises (machinery)."""

    def step(self, action: str) -> Step:
        step = super().step(action)
        if not step.truncated or step.terminated:
            return step
        start = time.perf_counter()
        patch = self.diff()
        if not patch.strip():
            return replace(step, patch=patch)
        graded = self.env.unwrapped.evaluate(patch)
        return replace(step, patch=patch, resolution=graded.resolution, tampered=tuple(graded.tampered),
                       failed_tests=tuple(graded.report.f2p_failure) + tuple(graded.report.p2p_failure),
                       seconds=step.seconds + time.perf_counter() - start)


def failed_tests(info: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(t) for key in ("f2p_failure", "p2p_failure") for t in info.get(key) or ())


def env_task_prompt(prompt_style: str) -> str:
    """The env's reset observation for an agent prompt style: ``compact`` agents state the protocol themselves, so
    they get the issue alone (``issue``); ``default`` agents get the env's full prompt."""
    return "issue" if prompt_style == "compact" else "full"


def make_swe_env(tasks: list[Task], env: EnvConfig, *, prompt_style: str = "default",
                 test_timeout_s: float | None = None) -> Callable[[], Any]:
    """A factory for ``gymnasium.make("swe_dagger/SWE-v0", ...)`` over ``tasks`` with every setting of ``env`` (the
    one place an ``env.*`` option reaches the env) and the reset observation for the agent's ``prompt_style``;
    ``test_timeout_s``: the limit on grading one patch (``None``: the env's default)."""
    grading: dict[str, Any] = {} if test_timeout_s is None else {"test_timeout_s": test_timeout_s}

    def make() -> Any:
        import gymnasium

        import swe_dagger.envs  # registers the env id

        return gymnasium.make(
            swe_dagger.envs.ENV_ID,
            tasks=tasks,
            sandbox=env.sandbox,
            max_turns=env.max_turns,
            command_timeout_s=env.command_timeout_s,
            allow_unvalidated=env.allow_unvalidated,
            task_prompt=env_task_prompt(prompt_style),
            stable_timings=env.stable_timings,
            disable_env_checker=True,
            **grading,
        )

    return make
