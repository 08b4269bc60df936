"""One agent episode, start to finish: reset, then ask the policy and step the env until it ends.

The smallest complete loop over the pieces in this folder (the DAgger collector runs many at once and mixes in a
teacher). Whatever the policy writes is sent to the env verbatim; a malformed reply is the env's business (a
format-error observation), so garbage from an untrained student ends in truncation, not a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium

from swe_dagger.agents.agent import Agent, CountTokens
from swe_dagger.agents.protocol import Completion, Conversation, Policy, SamplingParams


@dataclass(frozen=True)
class EpisodeStep:
    """One turn: what the policy produced and what the env answered."""

    completion: Completion
    observation: str
    reward: float
    format_error: bool


@dataclass(frozen=True)
class EpisodeResult:
    task_id: str
    prefix: Conversation
    steps: tuple[EpisodeStep, ...]
    reward: float
    terminated: bool
    truncated: bool
    resolution: str | None
    """The env's verdict on submission (``FULL``/``PARTIAL``/``NO``), ``None`` if the episode never submitted."""
    error: str | None
    """A grading failure reported by the env (machinery, not the agent)."""


def run_episode(
    env: gymnasium.Env[str, str],
    agent: Agent,
    policy: Policy,
    sampling: SamplingParams,
    *,
    task_id: str | None = None,
    seed: int | None = None,
    count_tokens: CountTokens | None = None,
) -> EpisodeResult:
    """Run one episode of ``policy`` in ``env`` (on ``task_id``, or the env's seeded choice)."""
    observation, info = env.reset(seed=seed, options={"task_id": task_id} if task_id is not None else None)
    prefix = agent.initial_messages(observation)
    history: list[tuple[str, str]] = []
    steps: list[EpisodeStep] = []
    terminated = truncated = False
    reward = 0.0
    final: dict[str, Any] = dict(info)
    while not (terminated or truncated):
        completion = agent.next_replies(policy, [(prefix, history)], sampling, count_tokens)[0]
        observation, reward_value, terminated, truncated, final = env.step(completion.text)
        reward = float(reward_value)
        steps.append(EpisodeStep(completion, observation, reward, bool(final.get("format_error", False))))
        history.append((completion.text, observation))
    return EpisodeResult(
        task_id=str(info.get("task_id", task_id or "")),
        prefix=prefix,
        steps=tuple(steps),
        reward=reward,
        terminated=terminated,
        truncated=truncated,
        resolution=final.get("resolution"),
        error=final.get("error"),
    )
