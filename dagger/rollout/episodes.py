"""Resumable episode collection for one iteration: which episodes, on which tasks, and how many.

Episode ``e`` of iteration ``i`` has a task from a per-iteration seeded permutation (its ``e // group_size``-th
entry: a GRPO group shares a task) and its own seed ``derive_seed(run seed, kind, i, e)``, so it is the same
episode whether it runs first time or after a crash. Finished episodes are in the fsync'd log; a resumed collection
hands the collector the set it already has.
Waves of ``num_envs`` episodes run until ``episodes`` are done, or (label budget) until the finished waves hold
``label_budget`` labels.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swe_dagger.agents.protocol import SamplingParams
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.rollout.collector import Collector, EpisodeSpec
from swe_dagger.dagger.rollout.env_worker import EnvWorker, MakeWorker, make_swe_env
from swe_dagger.dagger.rollout.episode_log import append_trajectory, episode_log, read_trajectories
from swe_dagger.dagger.rollout.prefetch import Prefetch
from swe_dagger.dagger.rollout.relabel import Relabel
from swe_dagger.dagger.run.context import RunContext
from swe_dagger.dagger.schedule import derive_seed
from swe_dagger.envs.task import Task

if TYPE_CHECKING:
    from swe_dagger.agents.backends.hf import HFPolicy
    from swe_dagger.agents.backends.vllm.policy import VLLMPolicy


@dataclass(frozen=True)
class CollectRequest:
    kind: str
    """``train`` (the mixture collects labels) or ``eval`` (the student alone on held-out tasks)."""
    iteration: int
    beta: float
    tasks: list[Task]
    student: Path
    label: bool
    episodes: int
    label_budget: int | None = None
    greedy: bool = False
    temperature: float | None = None
    """Sampling temperature of the student (``None`` = ``student.temperature``; ``greedy`` wins)."""
    group_size: int = 1
    """GRPO groups: episodes ``[k*G, (k+1)*G)`` share the k-th sampled task (each its own seed); 1 = one per task."""
    relabel: Relabel = "all"
    """Which student states the teacher labels (``dagger.relabel``; evaluations label all)."""
    horizon: int | None = None
    """``prefix`` mixing curriculum: the student's turns before the teacher takes over (``None``: drawn from β)."""
    call_budget: int | None = None
    """Teacher labels the collection may use (``dagger.teacher_budget``); when spent, waves stop."""


def episode_spec(req: CollectRequest, run_seed: int, episode: int) -> EpisodeSpec:
    order = list(range(len(req.tasks)))
    random.Random(derive_seed(run_seed, req.kind, req.iteration, "tasks")).shuffle(order)
    task = req.tasks[order[(episode // req.group_size) % len(order)]]
    seed = derive_seed(run_seed, req.kind, req.iteration, episode) % 2**31
    return EpisodeSpec(req.iteration, episode, task.instance_id, req.beta, seed, label=req.label,
                       relabel=req.relabel, horizon=req.horizon)


def _labels(trajs: list[Trajectory]) -> int:
    return sum(t.teacher_label is not None for traj in trajs for t in traj.turns)


@contextmanager
def _student_policy(ctx: RunContext, req: CollectRequest) -> Iterator[HFPolicy | VLLMPolicy]:
    """The policy acting with ``req.student``, stamped with the checkpoint's name: the run's vLLM server synced to
    it (kept open for the next collection), or the checkpoint loaded in process by transformers (closed after)."""
    if ctx.vllm_student is not None:
        yield ctx.vllm_student.policy_for(req.student, version=req.student.name)
        return
    import torch

    from swe_dagger.agents.backends.hf import HFPolicy
    from swe_dagger.dagger.sft.checkpoints import load_student

    model, tokenizer = load_student(req.student, trainable=False)
    model.to(getattr(torch, ctx.cfg.student.rollout_dtype))
    with HFPolicy(model, tokenizer, model_version=req.student.name) as policy:
        yield policy


def env_factory(ctx: RunContext, tasks: list[Task]) -> Callable[[], Any]:
    """The run's env factory over ``tasks`` (its ``env`` section and the student's prompt style)."""
    return make_swe_env(tasks, ctx.cfg.env, prompt_style=ctx.cfg.student.prompt)


def worker_factory(ctx: RunContext) -> MakeWorker:
    """How the run's env workers are made (``rollout.engine``): threads here, or envs on the run's Ray actors."""
    if ctx.cfg.rollout.engine == "local":
        return EnvWorker
    from swe_dagger.dagger.rollout.ray_engine import engine_for

    return engine_for(ctx).worker


def collect(ctx: RunContext, req: CollectRequest, prepared: Prefetch | None = None) -> list[Trajectory]:
    """Run (or finish) the collection ``req``; returns all its trajectories in episode order. ``prepared``: envs
    reset ahead for some of its episodes (the collector takes them and closes the ones it does not use)."""
    cfg, n = ctx.cfg, ctx.cfg.dagger.num_envs
    log = episode_log(ctx.run_dir, req.kind, req.iteration)
    have = {t.episode: t for t in read_trajectories(log)}
    budget = req.label_budget
    total = budget if budget is not None else req.episodes
    ctx.display.start(f"{req.kind} iter {req.iteration} (β={req.beta:.2f})", total=total,
                      completed=min(total, _labels(list(have.values())) if budget is not None else len(have)))

    def calls_left(wave: int) -> int | None:
        if req.call_budget is None:
            return None
        return req.call_budget - sum(t.teacher_calls for e, t in have.items() if e < wave * n)

    def finished(wave: int) -> bool:
        left = calls_left(wave)
        if left is not None and left <= 0:
            return True
        if budget is None:
            return wave * n >= req.episodes
        if wave * n > 50 * budget:
            raise RuntimeError(f"{req.kind} iteration {req.iteration}: {wave * n} episodes gave < {budget} labels")
        return _labels([t for e, t in have.items() if e < wave * n]) >= budget

    def on_episode(traj: Trajectory) -> None:
        append_trajectory(log, traj)
        have[traj.episode] = traj
        ctx.display.advance(len([t for t in traj.turns if t.teacher_label]) if budget is not None else 1,
                            info=f"{traj.task_id} {traj.resolution or '-'}")

    wave = 0
    sampling = SamplingParams(max_new_tokens=cfg.student.max_new_tokens,
                              temperature=0.0 if req.greedy else (
                                  cfg.student.temperature if req.temperature is None else req.temperature))
    with _student_policy(ctx, req) as policy, Collector(
        env_factory(ctx, req.tasks), n, ctx.agent, policy, ctx.teacher, sampling=sampling, mixing=cfg.dagger.mixing,
        max_turns=cfg.env.max_turns, count_tokens=policy.count_tokens, model_version=req.student.name,
        prepared=prepared, make_worker=worker_factory(ctx),
    ) as collector:
        while not finished(wave):
            last = wave * n + n if budget is not None else min(wave * n + n, req.episodes)
            specs = [episode_spec(req, cfg.seed, e) for e in range(wave * n, last)]
            collector.run(specs, on_episode, done=frozenset(have), calls_left=calls_left(wave))
            wave += 1
    return [have[e] for e in sorted(have) if e < wave * n]
