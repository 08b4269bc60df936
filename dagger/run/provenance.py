"""Where a run came from: the task suites (path + content hash), the package version and git commit, and the
teacher and student behind each label.

``record_run_provenance`` adds a ``provenance:`` section to ``config.yaml`` when a run starts; the config loaders
drop that section (``strip_provenance``), so a resumed run and a run reusing the file as ``--config`` load as before.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from swe_dagger.durable.files import atomic_write_text
from swe_dagger.envs.task import Task
from swe_dagger.typed import ConfigError

SECTION = "provenance"


def tasks_hash(tasks: Sequence[Task]) -> str:
    """sha256 of the tasks a run uses, in order (every field, canonical JSON): equal iff the same rows."""
    digest = hashlib.sha256()
    for task in tasks:
        row = dataclasses.asdict(task)
        digest.update(json.dumps(row, sort_keys=True, default=str, ensure_ascii=False).encode())
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


def package_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("swe-dagger")
    except PackageNotFoundError:
        return None


def source_root() -> Path:
    """The folder holding ``dagger/`` etc. (the checkout for an editable install)."""
    return Path(__file__).resolve().parents[2]


def git_commit(root: Path | None = None) -> str | None:
    """HEAD of the git checkout the package is imported from (``-dirty`` when it has uncommitted changes), or
    ``None`` when the code is not a swe-dagger checkout (an installed wheel, even one inside another repository)."""
    root = root or source_root()
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file() or 'name = "swe-dagger"' not in pyproject.read_text(encoding="utf-8"):
        return None
    try:
        top = _git(root, "rev-parse", "--show-toplevel")
        if Path(top).resolve() != root:
            return None
        head = _git(root, "rev-parse", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    return head + ("-dirty" if dirty else "")


def _git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.strip()


def run_provenance(suites: Mapping[str, tuple[str, Sequence[Task]]]) -> dict[str, Any]:
    """The ``provenance`` section: ``suites`` maps ``train``/``test`` to (resolved path, tasks used)."""
    return {
        "tasks": {which: {"path": path, "tasks": len(tasks), "content_hash": tasks_hash(tasks)}
                  for which, (path, tasks) in suites.items()},
        "package_version": package_version(),
        "git_commit": git_commit(),
    }


def record_run_provenance(config_path: Path, section: Mapping[str, Any]) -> None:
    """Append ``section`` as ``provenance:`` to the resolved ``config.yaml`` (atomically)."""
    text = config_path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    data[SECTION] = dict(section)
    atomic_write_text(config_path, yaml.safe_dump(data, sort_keys=False))


def held_out_tasks_of(checkpoint: Path) -> str:
    """The held-out task file of the run that saved ``checkpoint`` (``RUN_DIR/checkpoints/NAME``): the ``test`` path
    in its ``config.yaml``'s provenance. Raises ``ConfigError`` naming what is missing."""
    config = checkpoint.parent.parent / "config.yaml"
    if checkpoint.parent.name != "checkpoints" or not config.is_file():
        raise ConfigError(f"{checkpoint} is not inside a run directory (no {config}): give the task file with --tasks")
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        return str(data[SECTION]["tasks"]["test"]["path"])
    except (yaml.YAMLError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{config} names no held-out task file ({SECTION}.tasks.test.path: {exc}); give --tasks"
                         ) from None


def strip_provenance(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the ``provenance`` section (a record of the run, not a setting)."""
    return {k: v for k, v in data.items() if k != SECTION}


def teacher_model(teacher: object) -> str | None:
    """The model behind a teacher when it names one (``chat``: its ``model``; wrappers such as the label cache are
    looked through via ``inner``); ``None`` for the oracle and others without a model."""
    seen = 0
    while teacher is not None and seen < 8:
        model = getattr(teacher, "model", None)
        if isinstance(model, str) and model:
            return model
        teacher, seen = getattr(teacher, "inner", None), seen + 1
    return None
