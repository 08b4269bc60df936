"""Evaluate an agent on SWE-bench instances: N worker threads, one episode per instance, resume-safe outputs.

The actor is a student policy (``agents.make_policy``) or a teacher acting alone (e.g. the oracle). Each worker
prepares its instance (docker: the official image, pulled if missing; local: the per-instance venv), runs one
episode in ``swe_dagger/SWE-v0`` on the rollout loop (:class:`~swe_dagger.dagger.rollout.collector.Collector`, one
env), and writes ``trajectories/<instance_id>.json`` atomically: the trajectory, and the outcome read off it
(:func:`~swe_dagger.dagger.eval.swebench_report.instance_outcome`; ``results.json`` and ``preds.jsonl`` are built
from those outcomes). An episode cut by the turn limit is auto-submitted
(:class:`~swe_dagger.dagger.rollout.env_worker.AutoSubmitWorker`): its final diff is graded like a submission (as
SWE-agent does), so ``preds.jsonl`` and our verdicts always describe the same patch. A rerun skips finished
instances and retries errored ones. At the end: ``preds.jsonl`` (harness format, checked with swebench's loader),
``results.json`` and a table with the per-repo breakdown.

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
from swe_dagger.dagger.config import EnvConfig
from swe_dagger.dagger.eval.swebench_report import (
    InstanceOutcome,
    instance_outcome,
    outcome_from_json,
    outcome_json,
    print_results,
)
from swe_dagger.dagger.eval.swebench_report import write_results as write_results_file
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.rollout.collector import Collector, EpisodeSpec
from swe_dagger.dagger.rollout.env_worker import AutoSubmitWorker, make_swe_env
from swe_dagger.dagger.rollout.serialize import trajectory_to_json
from swe_dagger.dagger.schedule import derive_seed
from swe_dagger.durable.files import atomic_write_json, read_json
from swe_dagger.envs.swebench.harness import Prediction, load_predictions, write_predictions
from swe_dagger.envs.swebench.local_mode import LocalModeConfig
from swe_dagger.envs.task import Task
from swe_dagger.teachers.protocol import Teacher, TeacherState

SWEBENCH_ENV = EnvConfig(sandbox="docker", max_turns=50, command_timeout_s=120.0, allow_unvalidated=True)
"""The env settings of ``swe-dagger swebench-eval`` unless told otherwise."""


@dataclass(frozen=True)
class SwebenchEvalConfig:
    """How to run the evaluation."""

    env: EnvConfig = SWEBENCH_ENV
    """Each episode's env, as a run's ``env`` section: ``sandbox`` is the mode, ``docker`` (official per-instance
    images) or ``local`` (per-instance venvs in the bubblewrap sandbox); turns, command limit, ``stable_timings``."""
    workers: int = 4
    """Instances run at once (threads; each holds one sandbox)."""
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

    def __post_init__(self) -> None:
        if self.env.sandbox not in ("docker", "local"):
            raise ValueError(f"env.sandbox (the mode) must be docker or local, got {self.env.sandbox!r}")

    @property
    def mode(self) -> str:
        """``docker`` or ``local``: the sandbox, and how an instance is prepared (:func:`prepare_task`)."""
        return self.env.sandbox


class Actor(Protocol):
    """Who acts in every turn: a student policy (β = 0) or a teacher acting alone (β = 1)."""

    beta: float
    policy: Policy | None
    teacher: Teacher | None
    sampling: SamplingParams


class _SerialPolicy:
    """``policy`` generating for one instance thread at a time (an in-process model must not run in two)."""

    def __init__(self, policy: Policy) -> None:
        self.inner, self._lock = policy, threading.Lock()

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        with self._lock:
            return self.inner.generate(conversations, sampling)

    def close(self) -> None:
        """The caller owns ``inner`` and closes it."""


class _SerialTeacher:
    """``teacher`` labeling for one instance thread at a time; provenance looks through ``inner``."""

    def __init__(self, teacher: Teacher) -> None:
        self.inner, self.teacher_id, self._lock = teacher, teacher.teacher_id, threading.Lock()

    def label(self, states: Sequence[TeacherState]) -> list[str]:
        with self._lock:
            return self.inner.label(states)

    def close(self) -> None:
        """The caller owns ``inner`` and closes it."""


class PolicyActor:
    """A student policy; ``serial`` guards a policy that must not generate from two threads at once (in-process)."""

    beta = 0.0
    teacher: Teacher | None = None

    def __init__(self, policy: Policy, sampling: SamplingParams, *, serial: bool = True) -> None:
        self.policy: Policy | None = _SerialPolicy(policy) if serial else policy
        self.sampling = sampling


class TeacherActor:
    """A teacher acting alone (e.g. the oracle: an upper bound and a check of the whole pipeline)."""

    beta = 1.0
    policy: Policy | None = None
    sampling = SamplingParams()

    def __init__(self, teacher: Teacher) -> None:
        self.teacher: Teacher | None = _SerialTeacher(teacher)


def prepare_task(task: Task, cfg: SwebenchEvalConfig) -> Task:
    """``task`` ready for ``cfg.mode``: image present (pulled) or venv built. Raises with a clear message."""
    if cfg.mode == "docker":
        from swe_dagger.envs.swebench.images import docker_task, ensure_image

        ready = docker_task(task, cfg.namespace)
        ensure_image(str(ready.image), pull=cfg.pull)
        return ready
    from swe_dagger.envs.swebench.local_mode import local_task

    return local_task(task, cfg.local)


def instance_env(ready: Task, cfg: SwebenchEvalConfig) -> Callable[[], Any]:
    """The env factory of an instance's episode (``ready``: after :func:`prepare_task`): ``cfg.env`` over that task."""
    return make_swe_env([ready], cfg.env, prompt_style=cfg.prompt, test_timeout_s=cfg.test_timeout_s)


def _episode(ready: Task, index: int, actor: Actor, agent: Agent, cfg: SwebenchEvalConfig) -> Trajectory:
    """Episode ``index`` of the evaluation, on the rollout loop with one env of its own (the instance's sandbox)."""
    make_env = instance_env(ready, cfg)
    seed = derive_seed("swebench", ready.instance_id) % 2**31
    spec = EpisodeSpec(0, index, ready.instance_id, actor.beta, seed, label=False)
    done: list[Trajectory] = []
    with Collector(make_env, 1, agent, actor.policy, actor.teacher, sampling=actor.sampling, mixing="per_turn",
                   max_turns=cfg.env.max_turns, make_worker=AutoSubmitWorker) as collector:
        collector.run([spec], done.append)
    return done[0]


def run_instance(task: Task, index: int, actor: Actor, agent: Agent,
                 cfg: SwebenchEvalConfig) -> tuple[InstanceOutcome, Trajectory | None]:
    """Instance ``index`` end to end; its outcome is read off the trajectory (:func:`instance_outcome`). A failure
    of our machinery becomes an ``error`` outcome naming it (never a 0)."""
    try:
        traj = _episode(prepare_task(task, cfg), index, actor, agent, cfg)
        return instance_outcome(traj, task.repo), traj
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
        index = {t.instance_id: i for i, t in enumerate(tasks)}
        futures = [pool.submit(run_instance, t, index[t.instance_id], actor, agent, cfg) for t in todo]
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
