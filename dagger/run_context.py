"""Everything a run holds open (tasks, agent, teacher, display, TensorBoard) and where its files live.

``open_run`` makes a fresh run directory (refusing to overwrite a different run) or reopens one for ``--resume``
with the config saved in it. Phase markers are empty files written atomically: a phase is done iff its marker
exists, so a kill at any moment leaves a state the resumed run can read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from swe_dagger.dagger.config import RunConfig, load_resolved, save_resolved
from swe_dagger.dagger.durable import atomic_write_text
from swe_dagger.dagger.progress import Display
from swe_dagger.envs.task import Task
from swe_dagger.teachers.protocol import Teacher


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
    tb: Any | None
    """A ``torch.utils.tensorboard.SummaryWriter`` or ``None``."""

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

    def close(self) -> None:
        """Close the teacher, TensorBoard and the display; safe twice."""
        teacher, self.teacher = self.teacher, _ClosedTeacher()
        tb, self.tb = self.tb, None
        try:
            teacher.close()
        finally:
            if tb is not None:
                tb.close()
            self.display.close()


class _ClosedTeacher:
    teacher_id = "closed"

    def label(self, states: Any) -> list[str]:
        raise RuntimeError("the run is closed")

    def close(self) -> None:
        pass


def _load_task_file(spec: str, which: str, cfg: RunConfig, display: Display) -> list[Task]:
    from swe_dagger.envs.loading import load_tasks

    if spec == "default":
        from swe_dagger.envs.synth.default_suite import ensure_default_suite

        display.log("preparing the default task suite (cached after the first run)")
        suite = ensure_default_suite(cfg.tasks.cache_dir, max_tasks=cfg.tasks.suite_max_tasks, progress=cfg.progress,
                                     sandbox=cfg.env.sandbox)
        spec = str(suite.train_path if which == "train" else suite.test_path)
    tasks = load_tasks(spec)
    limit = cfg.tasks.max_train if which == "train" else cfg.tasks.max_test
    tasks = tasks[:limit] if limit is not None else tasks
    if not tasks:
        raise ValueError(f"tasks.{which} = {spec!r} holds no tasks")
    return tasks


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


def open_run(cfg: RunConfig, *, resume: bool) -> RunContext:
    """Set up (or reopen with ``resume``) the run directory and everything the loop needs."""
    run_dir = cfg.resolved_run_dir()
    if resume:
        if not (run_dir / "config.yaml").is_file():
            raise RunDirError(f"--resume {run_dir}: no run there (config.yaml is missing)")
        cfg = replace(load_resolved(run_dir), run_dir=str(run_dir))
    elif (run_dir / "config.yaml").exists():
        raise RunDirError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or set run_dir=...")
    else:
        cfg = replace(cfg, run_dir=str(run_dir))
        save_resolved(cfg, run_dir)
    display = Display(enabled=cfg.progress)
    display.__enter__()
    from swe_dagger.agents.agent import Agent, AgentConfig
    from swe_dagger.teachers.factory import TeacherConfig, make_teacher

    train_tasks = _load_task_file(cfg.tasks.train, "train", cfg, display)
    test_tasks = _load_task_file(cfg.tasks.test, "test", cfg, display)
    teacher = make_teacher(TeacherConfig(
        name=cfg.teacher.name, options=dict(cfg.teacher.options),
        cache_dir=run_dir / "teacher_cache" if cfg.teacher.cache else None,
    ))
    tb = None
    if cfg.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        tb = SummaryWriter(str(run_dir / "tb"))
    return RunContext(
        cfg=cfg, run_dir=run_dir, train_tasks=train_tasks, test_tasks=test_tasks,
        agent=Agent(AgentConfig(max_prompt_tokens=cfg.student.max_prompt_tokens)), teacher=teacher,
        init_student=_initial_student(cfg, run_dir, train_tasks), display=display, tb=tb,
    )
