"""``swe-dagger eval``: a checkpoint's student alone (β = 0, greedy) on a task file, results written to a folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from swe_dagger.agents.protocol import SamplingParams
from swe_dagger.dagger.durable import AppendLog, atomic_write_json
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.rollout.collector import Collector, EpisodeSpec
from swe_dagger.dagger.rollout.env_worker import make_swe_env
from swe_dagger.dagger.rollout.episode_log import append_trajectory, read_trajectories
from swe_dagger.dagger.run.dir_lock import DirLock
from swe_dagger.dagger.run.metrics import RolloutStats, rollout_stats
from swe_dagger.dagger.run.progress import Display
from swe_dagger.dagger.schedule import derive_seed
from swe_dagger.dagger.sft.checkpoint_files import CheckpointError, check_checkpoint
from swe_dagger.envs.task import Task


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    sandbox: str = "local"
    max_turns: int = 8
    num_envs: int = 4
    max_new_tokens: int = 96
    max_prompt_tokens: int = 768
    command_timeout_s: float = 30.0
    max_tasks: int | None = None
    seed: int = 0
    progress: bool = True
    prompt: str = "compact"
    """The prompt style the checkpoint was trained with (``student.prompt`` of its run: ``compact`` or ``default``)."""


def evaluate_checkpoint(checkpoint: Path, tasks_source: str, out_dir: Path, s: EvalSettings) -> RolloutStats:
    """One greedy episode per task (the first ``max_tasks``); writes ``episodes.jsonl`` and ``results.json``.

    The checkpoint's files and the task file are checked first (``CheckpointError``, ``TaskFormatError``), and
    ``out_dir`` is locked while the evaluation writes it (``DirLockedError`` names the process holding it)."""
    from swe_dagger.dagger.sft.checkpoints import load_student
    from swe_dagger.envs.loading import TaskFormatError, load_tasks

    check_checkpoint(checkpoint)
    tasks = load_tasks(tasks_source)[: s.max_tasks]
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
    from swe_dagger.agents.agent import Agent, AgentConfig
    from swe_dagger.agents.backends.hf import HFPolicy

    make_env = make_swe_env(tasks, sandbox=s.sandbox, max_turns=s.max_turns, command_timeout_s=s.command_timeout_s,
                            allow_unvalidated=True, prompt_style=s.prompt)
    specs = [EpisodeSpec(0, e, t.instance_id, 0.0, derive_seed(s.seed, "eval", e) % 2**31, label=False)
             for e, t in enumerate(tasks)]
    agent = Agent(AgentConfig.for_style(s.prompt, max_prompt_tokens=s.max_prompt_tokens))
    with Display(s.progress) as display, HFPolicy(model, tokenizer, model_version=checkpoint.name) as policy, \
            Collector(make_env, min(s.num_envs, len(tasks)), agent,
                      policy, None, sampling=SamplingParams(max_new_tokens=s.max_new_tokens), mixing="per_turn",
                      max_turns=s.max_turns, count_tokens=policy.count_tokens) as collector:
        display.start(f"eval {checkpoint.name}", total=len(specs))

        def record(traj: Trajectory) -> None:
            append_trajectory(log, traj)
            display.advance(info=f"{traj.task_id} {traj.resolution or '-'}")

        collector.run(specs, record)
    stats = rollout_stats(read_trajectories(log))
    atomic_write_json(out_dir / "results.json", {"checkpoint": str(checkpoint), "tasks": tasks_source,
                                                 **dataclasses.asdict(stats)})
    return stats
