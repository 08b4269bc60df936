"""Everything a run holds open (tasks, agent, teacher, the vLLM student, display, metrics sinks) and where its files
live.

``open_run`` makes a fresh run directory (refusing to overwrite a different run) or reopens one for ``--resume``
with the config saved in it. It checks every value before it writes anything, and holds the directory's lock
until the run closes: a second process on the same directory is refused with the holder's PID. Phase markers are
empty files written atomically: a phase is done iff its marker exists, so a kill at any moment leaves a state the
resumed run can read.

With ``student.backend: vllm`` the run holds ONE :class:`~swe_dagger.agents.backends.vllm.student.VLLMStudent`
(its server starts on the first rollout and is synced to each new checkpoint); a missing vLLM install fails in
``open_run``, before any work, with the message that says how to install it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swe_dagger.dagger.config import ConfigError, RunConfig, load_resolved, save_resolved
from swe_dagger.dagger.config_checks import check_runnable
from swe_dagger.dagger.report import Reporter, open_reporter
from swe_dagger.dagger.run.dir_lock import DirLock
from swe_dagger.dagger.run.progress import Display
from swe_dagger.durable.files import atomic_write_text
from swe_dagger.envs.task import Task
from swe_dagger.teachers.protocol import Teacher

if TYPE_CHECKING:
    from swe_dagger.agents.backends.vllm.student import VLLMStudent


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked (exists without --resume, or missing for --resume)."""


@dataclass
class RunContext:
    cfg: RunConfig
    run_dir: Path
    train_tasks: list[Task]
    test_tasks: list[Task]
    agent: Any
    """``swe_dagger.agents.agent.Agent``: renders states for the student, the teacher and SFT alike."""
    teacher: Teacher
    init_student: Path
    display: Display
    report: Reporter
    """Where metrics go besides ``metrics.jsonl``: TensorBoard, W&B (no sinks = nothing)."""
    vllm_student: VLLMStudent | None = None
    """The run's vLLM server for student rollouts (``student.backend: vllm``), else ``None``."""
    lock: DirLock | None = None
    """The run directory's lock, held until :meth:`close`."""
    rollout_engine: Any = None
    """What ``rollout.engine`` keeps open for the run (``ray``: the cluster connection and its env actors, started
    by the first collection), closed with the run; ``None`` for the local engine."""

    def checkpoint(self, iteration: int) -> Path:
        return self.run_dir / "checkpoints" / f"iter_{iteration:03d}"

    def student_for(self, iteration: int) -> Path:
        """The weights that act in ``iteration``: the previous iteration's checkpoint, or the initial student."""
        return self.init_student if iteration == 0 else self.checkpoint(iteration - 1)

    def marker(self, iteration: int, phase: str) -> Path:
        return self.run_dir / "markers" / f"iter_{iteration:03d}.{phase}"

    def done(self, iteration: int, phase: str) -> bool:
        return self.marker(iteration, phase).exists()

    def mark(self, iteration: int, phase: str) -> None:
        atomic_write_text(self.marker(iteration, phase), "")

    @contextmanager
    def training(self) -> Iterator[None]:
        """The trainer's turn on the accelerator. A vLLM student sharing the GPU (``enable_sleep_mode``) sleeps, so
        its weights and KV cache leave the GPU for the update; the next rollout wakes it, once the trainer's tensors
        are gone (waking at the end of this block would find the trainer's model still referenced). No-op for the
        HF backend and on CPU."""
        student = self.vllm_student
        if student is not None and student.config.enable_sleep_mode:
            student.sleep()
        yield

    def teacher_usage(self) -> tuple[float, float | None]:
        """(seconds, dollars) the teacher has cost in this process (cache hits cost nothing; ``None`` = no price)."""
        usage = getattr(self.teacher, "usage", None)
        return float(getattr(usage, "seconds", 0.0)), getattr(usage, "dollars", None)

    def close(self) -> None:
        """Stop the vLLM student, close the teacher, the metrics sinks and the display, release the run dir; safe
        twice."""
        vllm, self.vllm_student = self.vllm_student, None
        teacher, self.teacher = self.teacher, _ClosedTeacher()
        engine, self.rollout_engine = self.rollout_engine, None
        try:
            if engine is not None:
                engine.close()
            if vllm is not None:
                vllm.close()
        finally:
            try:
                teacher.close()
            finally:
                try:
                    self.report.close()
                    self.display.close()
                finally:
                    if self.lock is not None:
                        self.lock.release()


class _ClosedTeacher:
    teacher_id = "closed"

    def label(self, states: Any) -> list[str]:
        raise RuntimeError("the run is closed")

    def close(self) -> None:
        pass


def _default_suite_files(cfg: RunConfig, display: Display) -> tuple[str, str] | None:
    """The default suite's (train, test) files when ``tasks`` names it (prepared once, the first time, with one
    line saying so), else ``None``."""
    if "default" not in (cfg.tasks.train, cfg.tasks.test):
        return None
    from swe_dagger.envs.synth.default_suite import SuiteCacheError, ensure_default_suite

    def announce(folder: Path) -> None:
        display.log(f"preparing the default task suite in {folder} (first time only, a few minutes)")

    try:
        suite = ensure_default_suite(cfg.tasks.cache_dir, max_tasks=cfg.tasks.suite_max_tasks, progress=cfg.progress,
                                     sandbox=cfg.env.sandbox, on_prepare=announce)
    except SuiteCacheError as exc:
        raise ConfigError(f"tasks.cache_dir: {exc}") from None
    return str(suite.train_path), str(suite.test_path)


def _load_task_file(spec: str, which: str, cfg: RunConfig, suite: tuple[str, str] | None) -> tuple[list[Task], str]:
    """The tasks of ``tasks.<which>`` and the file they came from (``default``: the suite's file)."""
    from swe_dagger.envs.loading import load_tasks

    if spec == "default" and suite is not None:
        spec = suite[0] if which == "train" else suite[1]
    tasks = load_tasks(spec)
    if cfg.tasks.kinds is not None:
        from swe_dagger.envs.synth.task_build import tasks_of_kinds

        try:
            tasks = tasks_of_kinds(tasks, cfg.tasks.kinds, f"tasks.{which} = {spec}")
        except ValueError as exc:
            raise ConfigError(f"tasks.kinds: {exc}") from None
    limit = cfg.tasks.max_train if which == "train" else cfg.tasks.max_test
    tasks = tasks[:limit] if limit is not None else tasks
    if not tasks:
        raise ConfigError(f"tasks.{which} = {spec!r} holds no tasks")
    unvalidated = [t.instance_id for t in tasks if not t.validated]
    if unvalidated and not cfg.env.allow_unvalidated:
        raise ConfigError(
            f"tasks.{which} = {spec}: {len(unvalidated)} of {len(tasks)} tasks are not validated "
            f"(e.g. {', '.join(unvalidated[:3])}). Run `swe-dagger tasks validate {spec}` and set tasks.{which} to "
            "the .validated.jsonl it writes, or set env.allow_unvalidated=true"
        )
    return tasks, spec


def _initial_student(cfg: RunConfig, run_dir: Path, corpus: list[Task]) -> Path:
    if cfg.student.model != "tiny":
        return Path(cfg.student.model)
    path = run_dir / "student_init"
    if not (path / "config.json").is_file():
        from swe_dagger.agents.tiny_student import build_tiny_student

        tmp = run_dir / ".student_init.tmp"
        texts = [t.problem_statement for t in corpus] + [t.patch for t in corpus]
        build_tiny_student(tmp, texts, params=cfg.student.tiny_params, seed=cfg.seed)
        tmp.rename(path)
    return path


def _vllm_python(cfg: RunConfig) -> str | None:
    """The interpreter with vLLM for ``student.backend: vllm`` (None for ``hf``); raises
    :class:`~swe_dagger.agents.backends.vllm.install.VLLMUnavailable` (says how to install it) when there is none."""
    if cfg.student.backend != "vllm":
        return None
    from swe_dagger.agents.backends.vllm.install import find_vllm_python

    return find_vllm_python()


def _vllm_student(cfg: RunConfig, init_student: Path, python: str | None) -> VLLMStudent | None:
    """The run's vLLM student over ``init_student`` (not started yet: the first rollout starts it)."""
    if python is None:
        return None
    import torch

    from swe_dagger.agents.backends.vllm.student import VLLMStudent, VLLMStudentConfig

    gpu = torch.cuda.is_available()  # the trainer then uses the same GPU: vLLM sleeps during updates
    return VLLMStudent(init_student, VLLMStudentConfig(
        python=python, dtype="auto" if gpu else "float32",  # CPU: the precision the trainer uses there
        max_model_len=_max_model_len(cfg, init_student), max_lora_rank=max(16, cfg.sft.lora_r),
        enable_sleep_mode=gpu,
    ))


def _max_model_len(cfg: RunConfig, model_dir: Path) -> int:
    """Room for the prompt budget and the reply twice over (the budget is approximate), at least 4096, at most the
    model's context."""
    want = max(4096, 2 * (cfg.student.max_prompt_tokens + cfg.student.max_new_tokens))
    try:
        context = json.loads((model_dir / "config.json").read_text()).get("max_position_embeddings")
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise ValueError(f"student {model_dir}: cannot read max_position_embeddings from config.json ({exc})") from exc
    return min(want, int(context)) if isinstance(context, int) else want


def open_run(cfg: RunConfig, *, resume: bool, progress: bool | None = None) -> RunContext:
    """Set up (or reopen with ``resume``) the run directory and everything the loop needs; ``progress`` (``None`` =
    the config's, the saved one when resuming) shows or hides the bars, nothing else.

    Every value is checked and the task files are loaded before anything is written; the run directory is locked
    (:class:`~swe_dagger.dagger.run.dir_lock.DirLock`) before it is read or written, and ``config.yaml`` is written
    last: a start that fails leaves no run behind, so the same command can be run again in the same directory."""
    run_dir = cfg.resolved_run_dir()
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"run_dir {run_dir} is a file, not a directory")
    with ExitStack() as undo:  # closes what was opened if the start fails; ``pop_all`` hands it to the context
        lock = DirLock(run_dir)
        undo.callback(lock.release)
        if run_dir.is_dir():
            lock.acquire()  # before reading it: another process may be writing it
        if resume:
            if not (run_dir / "config.yaml").is_file():
                raise RunDirError(f"--resume {run_dir}: no run there (config.yaml is missing; if a start failed "
                                  "there, run the command that started it again)")
            cfg = replace(load_resolved(run_dir), run_dir=str(run_dir))
        else:
            _refuse_existing_run(run_dir)
            cfg = replace(cfg, run_dir=str(run_dir))
        if progress is not None:
            cfg = replace(cfg, progress=progress)
        check_runnable(cfg)
        vllm_python = _vllm_python(cfg)  # before any work: a missing vLLM must not cost a suite build first
        if cfg.report.wandb:  # the same for a missing wandb
            from swe_dagger.dagger.report.wandb_sink import import_wandb

            import_wandb()
        if not cfg.progress:  # transformers' own bars (loading weights, writing shards) too
            import transformers.utils.logging

            transformers.utils.logging.disable_progress_bar()
        display = Display(enabled=cfg.progress)
        display.__enter__()
        undo.callback(display.close)
        # bad task files fail before the run directory exists
        suite = _default_suite_files(cfg, display)
        train_tasks, train_path = _load_task_file(cfg.tasks.train, "train", cfg, suite)
        test_tasks, test_path = _load_task_file(cfg.tasks.test, "test", cfg, suite)
        lock.acquire()  # creates the directory
        if not resume:
            _refuse_existing_run(run_dir)  # a concurrent start may have finished while the tasks loaded
            shutil.rmtree(run_dir / "student_init", ignore_errors=True)  # left by a failed start, maybe another cfg
        ctx = _open_parts(cfg, run_dir, train_tasks, test_tasks, display, vllm_python)
        ctx.lock = lock
        undo.callback(ctx.close)
        if not resume:
            from swe_dagger.dagger.run.provenance import record_run_provenance, run_provenance

            # last: from here on the directory holds a run (continue it with --resume)
            record_run_provenance(save_resolved(cfg, run_dir), run_provenance(
                {"train": (train_path, train_tasks), "test": (test_path, test_tasks)}))
        undo.pop_all()
    return ctx


def _refuse_existing_run(run_dir: Path) -> None:
    if (run_dir / "config.yaml").exists():
        raise RunDirError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or set run_dir=...")


def _open_parts(cfg: RunConfig, run_dir: Path, train_tasks: list[Task], test_tasks: list[Task], display: Display,
                vllm_python: str | None) -> RunContext:
    """The teacher (+ label cache), the metrics sinks, the initial student and the vLLM student, in ``run_dir``."""
    from swe_dagger.agents.agent import Agent, AgentConfig
    from swe_dagger.teachers.factory import make_teacher
    from swe_dagger.teachers.router import make_router

    cache_dir = run_dir / "teacher_cache" if cfg.teacher.cache else None
    teacher: Teacher
    try:
        teacher = make_router(cfg.teachers, cache_dir) if cfg.teachers else make_teacher(cfg.teacher, cache_dir)
    except (ValueError, TypeError, OSError) as exc:  # e.g. an option names a file that is not there
        what = "teachers" if cfg.teachers else f"{cfg.teacher.name!r} from teacher.options"
        raise ConfigError(f"teacher: cannot build {what}: {exc}") from exc
    ctx = RunContext(
        cfg=cfg, run_dir=run_dir, train_tasks=train_tasks, test_tasks=test_tasks,
        agent=Agent(AgentConfig.for_style(cfg.student.prompt, max_prompt_tokens=cfg.student.max_prompt_tokens)),
        teacher=teacher, init_student=Path(cfg.student.model), display=display, report=Reporter(),
    )
    try:
        ctx.report = open_reporter(cfg, run_dir)
        ctx.init_student = _initial_student(cfg, run_dir, train_tasks)
        ctx.vllm_student = _vllm_student(cfg, ctx.init_student, vllm_python)
    except BaseException:
        ctx.close()
        raise
    return ctx
