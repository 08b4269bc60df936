"""Evaluate an agent on SWE-bench instances: N worker threads, one episode per instance, resume-safe outputs.

The actor is a student policy (``agents.make_policy``) or a teacher acting alone (e.g. the oracle). Each worker
prepares its instance (docker: the official image, pulled if missing; local: the per-instance venv), runs one
episode in ``swe_dagger/SWE-v0``, and writes ``trajectories/<instance_id>.json`` atomically (outcome + trajectory).
An episode cut by the turn limit is auto-submitted: its final diff is graded like a submission (as SWE-agent does),
so ``preds.jsonl`` and our verdicts always describe the same patch. A rerun skips finished instances and retries
errored ones. At the end: ``preds.jsonl`` (harness format, checked with swebench's loader), ``results.json`` and a
table with the per-repo breakdown.

Output folder::

    config.json  trajectories/<id>.json  preds.jsonl  results.json  [harness/ + harness.json with --harness]
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.protocol import Completion, Conversation, Policy, SamplingParams
from swe_dagger.dagger.eval.swebench_report import (
    InstanceOutcome,
    Status,
    outcome_from_json,
    outcome_json,
    print_results,
)
from swe_dagger.dagger.eval.swebench_report import write_results as write_results_file
from swe_dagger.dagger.records import Author, Trajectory, Turn
from swe_dagger.dagger.rollout.env_worker import env_task_prompt, failed_tests
from swe_dagger.dagger.rollout.serialize import trajectory_to_json
from swe_dagger.dagger.run.provenance import teacher_model
from swe_dagger.durable.files import atomic_write_json, read_json
from swe_dagger.envs.swebench.harness import Prediction, load_predictions, write_predictions
from swe_dagger.envs.swebench.local_mode import LocalModeConfig
from swe_dagger.envs.task import Task
from swe_dagger.teachers.protocol import Teacher, TeacherState

History = list[tuple[str, str]]


@dataclass(frozen=True)
class SwebenchEvalConfig:
    """How to run the evaluation."""

    mode: Literal["docker", "local"] = "docker"
    """``docker``: official per-instance images; ``local``: per-instance venvs in the bubblewrap sandbox."""
    workers: int = 4
    """Instances run at once (threads; each holds one sandbox)."""
    max_turns: int = 50
    command_timeout_s: float = 120.0
    test_timeout_s: float = 1800.0
    """Limit on grading one patch (the instance's eval script)."""
    namespace: str = "swebench"
    """Docker Hub namespace of the instance images."""
    pull: bool = True
    """Pull missing images (off: a missing image is an error naming it)."""
    model_name: str = "swe-dagger"
    """``model_name_or_path`` in ``preds.jsonl``."""
    local: LocalModeConfig = field(default_factory=LocalModeConfig)
    progress: bool = True
    prompt: Literal["default", "compact"] = "default"
    """Prompt style of the agent (``compact``: for a student trained with ``student.prompt: compact``)."""


class Actor(Protocol):
    """Who decides the next action: a student policy or a teacher acting alone."""

    author: Author

    def act(self, task: Task, conversation: Conversation, diff: Callable[[], str]) -> tuple[str, Completion | None]:
        ...


class PolicyActor:
    """A student policy; ``serial`` guards a policy that must not generate from two threads at once (in-process)."""

    author: Author = "student"

    def __init__(self, policy: Policy, sampling: SamplingParams, *, serial: bool = True) -> None:
        self.policy, self.sampling = policy, sampling
        self._lock = threading.Lock() if serial else None

    def act(self, task: Task, conversation: Conversation, diff: Callable[[], str]) -> tuple[str, Completion | None]:
        if self._lock is None:
            (completion,) = self.policy.generate([conversation], self.sampling)
        else:
            with self._lock:
                (completion,) = self.policy.generate([conversation], self.sampling)
        return completion.text, completion


class TeacherActor:
    """A teacher acting alone (e.g. the oracle: an upper bound and a check of the whole pipeline)."""

    author: Author = "teacher"

    def __init__(self, teacher: Teacher) -> None:
        self.teacher = teacher
        self._lock = threading.Lock()

    def act(self, task: Task, conversation: Conversation, diff: Callable[[], str]) -> tuple[str, Completion | None]:
        state = TeacherState(task, conversation, diff())
        with self._lock:
            (label,) = self.teacher.label([state])
        return label, None


def prepare_task(task: Task, cfg: SwebenchEvalConfig) -> Task:
    """``task`` ready for ``cfg.mode``: image present (pulled) or venv built. Raises with a clear message."""
    if cfg.mode == "docker":
        from swe_dagger.envs.swebench.images import docker_task, ensure_image

        ready = docker_task(task, cfg.namespace)
        ensure_image(str(ready.image), pull=cfg.pull)
        return ready
    from swe_dagger.envs.swebench.local_mode import local_task

    return local_task(task, cfg.local)


def _episode(ready: Task, actor: Actor, agent: Agent, cfg: SwebenchEvalConfig) -> tuple[InstanceOutcome, Trajectory]:
    from swe_dagger.envs.swe_env import SWEEnv

    with SWEEnv([ready], sandbox=cfg.mode, max_turns=cfg.max_turns, command_timeout_s=cfg.command_timeout_s,
                allow_unvalidated=True, test_timeout_s=cfg.test_timeout_s,
                task_prompt=env_task_prompt(cfg.prompt)) as env:
        observation, _ = env.reset(options={"task_id": ready.instance_id})
        prefix = agent.initial_messages(observation)
        turns: list[Turn] = []
        terminated = truncated = False
        info: dict[str, Any] = {}
        reward = 0.0
        while not (terminated or truncated):
            conversation = agent.render(prefix, [(t.action, t.observation) for t in turns])
            action, completion = actor.act(ready, conversation, env.workspace_diff)
            observation, reward, terminated, truncated, info = env.step(action)
            turns.append(Turn(
                index=len(turns), author=actor.author, action=action,
                teacher_label=action if actor.author == "teacher" else None, observation=observation,
                format_error=bool(info.get("format_error")), token_ids=completion.token_ids if completion else None,
                logprobs=completion.logprobs if completion else None,
                model_version=completion.model_version if completion else "",
            ))
        error: str | None = info.get("error")
        if terminated:
            patch, resolution = str(info.get("patch", "")), info.get("resolution")
            failed = failed_tests(info) if resolution is not None else None
        else:  # auto-submit the final diff, graded as a submission is: the trajectory and results.json agree
            patch, resolution, failed = env.workspace_diff(), None, None
            if patch.strip():
                graded = env.evaluate(patch)
                resolution, failed = graded.resolution, graded.report.f2p_failure + graded.report.p2p_failure
    traj = Trajectory(task_id=ready.instance_id, prefix=prefix, turns=tuple(turns), reward=float(reward),
                      resolution=resolution, terminated=terminated, truncated=truncated, error=error,
                      teacher_calls=len(turns) if actor.author == "teacher" else 0, patch=patch,
                      failed_tests=failed,
                      teacher_id=actor.teacher.teacher_id if isinstance(actor, TeacherActor) else None,
                      teacher_model=teacher_model(actor.teacher) if isinstance(actor, TeacherActor) else None,
                      student_version=next((t.model_version for t in turns if t.model_version), ""),
                      tampered=tuple(info.get("tampered") or ()))
    status: Status = "error" if error else "empty_patch" if not patch.strip() else \
        "resolved" if resolution == "FULL" else "unresolved"
    outcome = InstanceOutcome(ready.instance_id, ready.repo, status, resolution, terminated, patch, len(turns), error)
    return outcome, traj


def run_instance(task: Task, actor: Actor, agent: Agent, cfg: SwebenchEvalConfig) -> tuple[InstanceOutcome,
                                                                                            Trajectory | None]:
    """One instance end to end; a failure of our machinery becomes an ``error`` outcome naming it (never a 0)."""
    try:
        return _episode(prepare_task(task, cfg), actor, agent, cfg)
    except Exception as exc:  # recorded as an error outcome, shown in the table, retried on resume
        message = f"{type(exc).__name__}: {exc}"
        return InstanceOutcome(task.instance_id, task.repo, "error", None, False, "", 0, message), None


def _path(out_dir: Path, instance_id: str) -> Path:
    return out_dir / "trajectories" / f"{instance_id}.json"


def read_outcome(out_dir: Path, instance_id: str) -> InstanceOutcome | None:
    path = _path(out_dir, instance_id)
    if not path.is_file():
        return None
    return outcome_from_json(read_json(path)["outcome"], str(path))


def _write(out_dir: Path, outcome: InstanceOutcome, traj: Trajectory | None) -> None:
    data = {"outcome": outcome_json(outcome), "trajectory": trajectory_to_json(traj) if traj is not None else None}
    atomic_write_json(_path(out_dir, outcome.instance_id), data)


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(), disable=not enabled,
                    console=Console(stderr=True))


def _running(outcomes: Sequence[InstanceOutcome]) -> str:
    resolved = sum(o.status == "resolved" for o in outcomes)
    errors = sum(o.status == "error" for o in outcomes)
    rate = f"{100 * resolved / len(outcomes):.1f}%" if outcomes else "-"
    return f"resolved {resolved}/{len(outcomes)} ({rate})" + (f", {errors} errors" if errors else "")


def evaluate_swebench(tasks: Sequence[Task], actor: Actor, out_dir: Path, cfg: SwebenchEvalConfig,
                      *, agent: Agent | None = None, meta: dict[str, Any] | None = None) -> list[InstanceOutcome]:
    """Run every task not finished in ``out_dir`` yet; write preds/results; return all outcomes in task order."""
    if cfg.workers < 1:
        raise ValueError(f"workers must be >= 1, got {cfg.workers}")
    if len({t.instance_id for t in tasks}) != len(tasks):
        raise ValueError("tasks: duplicate instance ids")
    agent = agent or Agent(AgentConfig.for_style(cfg.prompt))
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "config.json", {**(meta or {}), **_config_json(cfg),
                                                "instances": [t.instance_id for t in tasks]})
    previous = {t.instance_id: read_outcome(out_dir, t.instance_id) for t in tasks}
    done = [o for o in previous.values() if o is not None and o.status != "error"]
    todo = [t for t in tasks if t.instance_id not in {o.instance_id for o in done}]
    finished = list(done)
    with _progress(cfg.progress) as progress, ThreadPoolExecutor(max_workers=cfg.workers) as pool:
        bar = progress.add_task(f"SWE-bench ({cfg.mode})", total=len(tasks), completed=len(done),
                                info=_running(finished))
        futures = [pool.submit(run_instance, t, actor, agent, cfg) for t in todo]
        for future in as_completed(futures):
            outcome, traj = future.result()
            _write(out_dir, outcome, traj)
            finished.append(outcome)
            if outcome.status == "error":  # on the console as it happens, not only in results.json
                progress.console.print(f"[red]error[/red] {outcome.instance_id}: {escape(outcome.error or '')}",
                                       highlight=False, soft_wrap=True)
            progress.update(bar, advance=1, info=_running(finished))
    outcomes = [o for t in tasks if (o := read_outcome(out_dir, t.instance_id)) is not None]
    write_outputs(out_dir, outcomes, cfg.model_name, meta or {})
    if cfg.progress:
        print_results(outcomes, f"SWE-bench ({cfg.mode}): {out_dir}")
    return outcomes


def write_outputs(out_dir: Path, outcomes: Sequence[InstanceOutcome], model_name: str,
                  meta: dict[str, Any]) -> None:
    """``preds.jsonl`` (errored instances left out: they have no patch yet) and ``results.json``."""
    preds = [Prediction(o.instance_id, model_name, o.model_patch) for o in outcomes if o.status != "error"]
    load_predictions(write_predictions(out_dir / "preds.jsonl", preds))  # must pass swebench's own loader
    write_results_file(out_dir, outcomes, {**meta, "model_name_or_path": model_name})


def _config_json(cfg: SwebenchEvalConfig) -> dict[str, Any]:
    data = dataclasses.asdict(cfg)
    data["local"] = {k: str(v) if isinstance(v, Path) else v for k, v in data["local"].items()}
    return data
