"""``swe-dagger eval``: a checkpoint's student alone (β = 0, greedy) on a task file, results written to a folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from swe_dagger.agents.protocol import SamplingParams
from swe_dagger.dagger.config import EnvConfig
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.rollout.collector import Collector
from swe_dagger.dagger.rollout.env_worker import make_swe_env
from swe_dagger.dagger.rollout.episode_log import append_trajectory, read_trajectories
from swe_dagger.dagger.rollout.episodes import CollectRequest, episode_spec
from swe_dagger.dagger.run.dir_lock import DirLock
from swe_dagger.dagger.run.metrics import RolloutStats, rollout_stats
from swe_dagger.dagger.run.progress import Display
from swe_dagger.dagger.sft.checkpoint_files import CheckpointError, check_checkpoint
from swe_dagger.durable.files import AppendLog, atomic_write_json
from swe_dagger.envs.task import Task


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """How a checkpoint is evaluated; :func:`settings_for` takes every value from the run that saved it."""

    env: EnvConfig = dataclasses.field(default_factory=EnvConfig)
    """The run's ``env`` section (sandbox, turns, command limit, stable timings, ...); its tasks are taken as given
    (``allow_unvalidated``)."""
    num_envs: int = 4
    max_new_tokens: int = 160
    max_prompt_tokens: int = 512
    max_tasks: int | None = None
    kinds: tuple[str, ...] | None = None
    """Only synthesized tasks of these mutation kinds, before ``max_tasks`` (a run's ``tasks.kinds``)."""
    seed: int = 0
    progress: bool = True
    prompt: str = "compact"
    """The prompt style the checkpoint was trained with (``student.prompt`` of its run: ``compact`` or ``default``)."""
    rollout_dtype: str = "float32"
    episodes: int | None = None
    """Greedy episodes to run (``None``: one per task); a run's ``eval.episodes`` when evaluating its held-out tasks."""
    iteration: int = 0
    """Which iteration's episode order and seeds (a run's ``checkpoints/iter_XXX`` was evaluated as iteration XXX)."""


def settings_for(checkpoint: Path, *, held_out: bool) -> EvalSettings:
    """The settings the run that saved ``checkpoint`` (``RUN_DIR/checkpoints/NAME``) evaluated it with: its prompt
    style, token limits, turns, sandbox, seed, rollout dtype; and, on its own held-out tasks (``held_out``), the
    same episodes (``eval.episodes``, the iteration's task order and seeds), so the numbers are the run's. A
    checkpoint outside a run gets the defaults of ``swe-dagger train`` (``dagger/default.yaml``)."""
    from swe_dagger.dagger.config import load_config, load_resolved

    run_dir = checkpoint.parent.parent
    in_run = checkpoint.parent.name == "checkpoints" and (run_dir / "config.yaml").is_file()
    cfg = load_resolved(run_dir) if in_run else load_config()
    iteration = checkpoint.name.removeprefix("iter_")
    s = EvalSettings(env=cfg.env, num_envs=cfg.dagger.num_envs, max_new_tokens=cfg.student.max_new_tokens,
                     max_prompt_tokens=cfg.student.max_prompt_tokens, seed=cfg.seed, prompt=cfg.student.prompt,
                     rollout_dtype=cfg.student.rollout_dtype)
    if in_run and held_out:
        s = dataclasses.replace(s, max_tasks=cfg.tasks.max_test, kinds=cfg.tasks.kinds, episodes=cfg.eval.episodes,
                                iteration=int(iteration) if iteration.isdigit() else 0)
    return s


def evaluate_checkpoint(checkpoint: Path, tasks_source: str, out_dir: Path, s: EvalSettings) -> RolloutStats:
    """Greedy episodes on the tasks (the first ``max_tasks``; see :class:`EvalSettings`); writes ``episodes.jsonl``
    and ``results.json``.

    The checkpoint's files and the task file are checked first (``CheckpointError``, ``TaskFormatError``), and
    ``out_dir`` is locked while the evaluation writes it (``DirLockedError`` names the process holding it)."""
    from swe_dagger.dagger.sft.checkpoints import load_student
    from swe_dagger.envs.loading import TaskFormatError, load_tasks

    check_checkpoint(checkpoint)
    tasks = load_tasks(tasks_source)
    if s.kinds is not None:
        from swe_dagger.envs.synth.task_build import tasks_of_kinds

        tasks = tasks_of_kinds(tasks, s.kinds, f"--tasks {tasks_source}")
    tasks = tasks[: s.max_tasks]
    if not tasks:
        raise TaskFormatError(f"--tasks {tasks_source}: no tasks")
    with DirLock(out_dir):
        log = AppendLog(out_dir / "episodes.jsonl")
        if log.path.exists() and log.path.stat().st_size:
            raise FileExistsError(f"{log.path} exists; pick another --out")
        try:
            model, tokenizer = load_student(checkpoint, trainable=False)
        except (OSError, ValueError, KeyError) as exc:  # what the file checks cannot see (e.g. an unknown model_type)
            raise CheckpointError(f"{checkpoint}: cannot load the student: {exc}") from exc
        return _run(checkpoint, tasks, tasks_source, out_dir, log, model, tokenizer, s)


def _run(checkpoint: Path, tasks: list[Task], tasks_source: str, out_dir: Path, log: AppendLog, model: Any,
         tokenizer: Any, s: EvalSettings) -> RolloutStats:
    import torch

    from swe_dagger.agents.agent import Agent, AgentConfig
    from swe_dagger.agents.backends.hf import HFPolicy

    make_env = make_swe_env(tasks, dataclasses.replace(s.env, allow_unvalidated=True), prompt_style=s.prompt)
    request = CollectRequest(kind="eval", iteration=s.iteration, beta=0.0, tasks=tasks, student=checkpoint,
                             label=False, episodes=len(tasks) if s.episodes is None else s.episodes, greedy=True)
    specs = [episode_spec(request, s.seed, e) for e in range(request.episodes)]  # the run's own eval episodes
    agent = Agent(AgentConfig.for_style(s.prompt, max_prompt_tokens=s.max_prompt_tokens))
    model.to(getattr(torch, s.rollout_dtype))
    with Display(s.progress) as display, HFPolicy(model, tokenizer, model_version=checkpoint.name) as policy, \
            Collector(make_env, min(s.num_envs, len(specs)), agent,
                      policy, None, sampling=SamplingParams(max_new_tokens=s.max_new_tokens), mixing="per_turn",
                      max_turns=s.env.max_turns, count_tokens=policy.count_tokens,
                      model_version=checkpoint.name) as collector:
        display.start(f"eval {checkpoint.name}", total=len(specs))

        def record(traj: Trajectory) -> None:
            append_trajectory(log, traj)
            display.advance(info=f"{traj.task_id} {traj.resolution or '-'}")

        collector.run(specs, record)  # in waves of num_envs, as the run's evaluation ran them
    stats = rollout_stats(read_trajectories(log))
    atomic_write_json(out_dir / "results.json", {"checkpoint": str(checkpoint), "tasks": tasks_source,
                                                 **dataclasses.asdict(stats)})
    return stats
