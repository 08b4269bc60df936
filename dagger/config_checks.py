"""What the config's dataclasses cannot check alone: names that must resolve in a registry (teacher, sandbox) and
paths that must exist on this machine (the student: a complete checkpoint, see
:mod:`~swe_dagger.dagger.sft.checkpoint_files`). ``open_run`` calls :func:`check_runnable` before it writes
anything, so a bad value is one ``ConfigError`` naming its key, never a traceback in a half-made run directory.
"""

from __future__ import annotations

import re
from pathlib import Path

from swe_dagger.agents.factory import StudentConfig
from swe_dagger.dagger.config import RunConfig
from swe_dagger.dagger.sft.checkpoint_files import CheckpointError, check_checkpoint
from swe_dagger.typed import ConfigError

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
"""A Hugging Face hub id (``gpt2``, ``owner/name``): what ``student.model`` may be when it is not a local path."""


def check_runnable(cfg: RunConfig) -> None:
    """Raise ``ConfigError`` naming the key when the student, the teacher or the sandbox named in ``cfg`` cannot be
    used here. Builds nothing and writes nothing."""
    check_student(cfg.student)
    _check_teacher(cfg)
    check_sandbox(cfg.env.sandbox, "env.sandbox")
    if cfg.rollout.engine == "ray":
        from swe_dagger.dagger.rollout.ray_engine import import_ray

        try:
            import_ray()
        except ImportError as exc:
            raise ConfigError(f"rollout.engine: {exc}") from None


def check_student(student: StudentConfig) -> None:
    """``tiny`` with a parseable ``tiny_params``, a model directory, or (``hf`` backend) a hub id."""
    if student.model == "tiny":
        from swe_dagger.agents.tiny_student import parse_param_count

        try:
            parse_param_count(student.tiny_params)
        except ValueError as exc:
            raise ConfigError(f"student.tiny_params: {exc}") from None
        return
    path = Path(student.model).expanduser()
    if path.exists():
        try:
            check_checkpoint(path)
        except CheckpointError as exc:
            raise ConfigError(f"student.model: {exc}") from None
        if student.backend == "vllm" and not (path / "config.json").is_file():
            raise ConfigError(f"student.model: {path} holds adapters only; student.backend=vllm needs a full model")
        return
    if student.backend == "vllm":
        raise ConfigError(f"student.model: {student.model} is not a local model directory, and student.backend=vllm "
                          "serves the run's own checkpoints from disk (download hub models first)")
    if not _HUB_ID.fullmatch(student.model):
        raise ConfigError(f"student.model: {student.model} does not exist (give a model directory, a hub id "
                          "such as owner/name, or tiny)")


def _check_teacher(cfg: RunConfig) -> None:
    from swe_dagger.sandbox.registry import UnknownNameError
    from swe_dagger.teachers.factory import TeacherOptionError, check_teacher
    from swe_dagger.teachers.router import task_matcher

    entries = [(f"teachers[{k}]", r.name, r.options) for k, r in enumerate(cfg.teachers)] or [
        ("teacher", cfg.teacher.name, cfg.teacher.options)]
    for where, name, options in entries:
        try:
            check_teacher(name, dict(options))
        except (UnknownNameError, ImportError, ValueError, TypeError) as exc:
            key = f"{where}.options" if isinstance(exc, TeacherOptionError) else f"{where}.name"
            raise ConfigError(f"{key}: {exc}") from None
    for k, route in enumerate(cfg.teachers):
        try:
            task_matcher(route.tasks)
        except ValueError as exc:
            raise ConfigError(f"teachers[{k}].tasks: {exc}") from None


def check_sandbox(name: str, key: str) -> None:
    """``name`` is a sandbox backend (``local``, ``docker``, a plugin); else ``ConfigError`` naming ``key``."""
    from swe_dagger.sandbox.factory import BACKENDS
    from swe_dagger.sandbox.registry import UnknownNameError

    try:
        BACKENDS.resolve(name)
    except (UnknownNameError, ImportError, ValueError) as exc:
        raise ConfigError(f"{key}: {exc}") from None
