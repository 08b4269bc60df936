"""Load SWE-bench task rows (JSON, JSONL, parquet, a Hugging Face dataset, or in-memory rows) into :class:`Task`.

Every row is checked field by field; a malformed row raises :class:`TaskFormatError` naming the file, the row
(number and ``instance_id`` when known) and the field, so a broken suite fails at load time, not mid-training.
Beyond types: the ``instance_id`` is a safe file name, ``FAIL_TO_PASS`` is not empty, the patches are complete
diffs, and ``base_commit`` exists in ``repo_path`` (see :mod:`~swe_dagger.envs.task_checks`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from swe_dagger.durable.files import atomic_write_text
from swe_dagger.envs.task import Task
from swe_dagger.envs.task_checks import id_problem, missing_commits, patch_problem


class TaskFormatError(ValueError):
    """A task row (or task file) is malformed; the message names where and which field."""


_REQUIRED = ("instance_id", "repo", "base_commit", "problem_statement", "patch")
_OPTIONAL_TEXT = ("test_patch", "version", "hints_text", "created_at", "environment_setup_commit")
_TEST_LISTS = {"FAIL_TO_PASS": "fail_to_pass", "PASS_TO_PASS": "pass_to_pass"}
_PATHS = ("repo_path", "venv")
_OPTIONAL_STR = ("image", "test_cmd")
_KNOWN = {*_REQUIRED, *_OPTIONAL_TEXT, *_TEST_LISTS, *_TEST_LISTS.values(), *_PATHS, *_OPTIONAL_STR, "extra"}


def _where(where: str, row: Mapping[str, Any]) -> str:
    iid = row.get("instance_id")
    return f"{where} ({iid})" if isinstance(iid, str) and iid else where


def _text(row: Mapping[str, Any], key: str, where: str, *, required: bool) -> str:
    value = row.get(key)
    if value is None:
        if required:
            raise TaskFormatError(f"{where}: missing required field {key!r}")
        return ""
    if not isinstance(value, str):
        raise TaskFormatError(f"{where}: field {key!r} must be a string, got {type(value).__name__}")
    return value


def _test_list(row: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = row.get(key, row.get(_TEST_LISTS[key]))
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError as exc:
            raise TaskFormatError(f"{where}: field {key!r} is a string but not a JSON list ({exc})") from exc
    if hasattr(value, "tolist"):  # numpy arrays from parquet/datasets
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not all(isinstance(t, str) for t in value):
        raise TaskFormatError(f"{where}: field {key!r} must be a list of test ids (strings)")
    return tuple(value)


def _path(row: Mapping[str, Any], key: str, where: str, base_dir: Path | None) -> Path | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, (str, Path)):
        raise TaskFormatError(f"{where}: field {key!r} must be a path string, got {type(value).__name__}")
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_dir():
        raise TaskFormatError(f"{where}: field {key!r}: {path} is not a directory")
    if key == "venv" and not (path / "bin" / "python").exists():
        raise TaskFormatError(f"{where}: field 'venv': {path} has no bin/python (not a virtualenv)")
    return path.resolve()


def _extra(row: Mapping[str, Any], where: str) -> dict[str, str]:
    extra: dict[str, str] = {}
    nested = row.get("extra") or {}
    if not isinstance(nested, Mapping):
        raise TaskFormatError(f"{where}: field 'extra' must be a mapping of strings")
    for key, value in [*nested.items(), *((k, v) for k, v in row.items() if k not in _KNOWN)]:
        if value is None:
            continue  # absent value (parquet/datasets fill missing columns with None)
        extra[str(key)] = value if isinstance(value, str) else json.dumps(value, default=str)
    return extra


def task_from_row(row: Mapping[str, Any], where: str = "row", base_dir: Path | None = None) -> Task:
    """Build one :class:`Task` from a SWE-bench row (+ local extensions); ``where`` names the row in errors.

    Relative ``repo_path``/``venv`` are resolved against ``base_dir`` (the directory of the task file).
    """
    if not isinstance(row, Mapping):
        raise TaskFormatError(f"{where}: a task row must be a mapping, got {type(row).__name__}")
    where = _where(where, row)
    values = {key: _text(row, key, where, required=True) for key in _REQUIRED}
    for key in ("instance_id", "repo"):
        if not values[key].strip():
            raise TaskFormatError(f"{where}: field {key!r} is empty")
    if (problem := id_problem(values["instance_id"])) is not None:
        raise TaskFormatError(f"{where}: field 'instance_id' {problem}")
    values.update({key: _text(row, key, where, required=False) for key in _OPTIONAL_TEXT})
    for key in ("patch", "test_patch"):
        if values[key] and (problem := patch_problem(values[key])) is not None:
            raise TaskFormatError(f"{where}: field {key!r} is not a complete diff: {problem}")
    repo_path = _path(row, "repo_path", where, base_dir)
    if not values["base_commit"].strip() and repo_path is None:
        raise TaskFormatError(f"{where}: field 'base_commit' is empty (allowed only with a repo_path directory)")
    optional = {key: _text(row, key, where, required=False) or None for key in _OPTIONAL_STR}
    fail_to_pass = _test_list(row, "FAIL_TO_PASS", where)
    if not fail_to_pass:
        raise TaskFormatError(f"{where}: field 'FAIL_TO_PASS' is missing or empty: the task names no test that the "
                              "fix must make pass, so no patch could ever be graded")
    return Task(
        **values,
        fail_to_pass=fail_to_pass,
        pass_to_pass=_test_list(row, "PASS_TO_PASS", where),
        repo_path=repo_path,
        venv=_path(row, "venv", where, base_dir),
        image=optional["image"],
        test_cmd=optional["test_cmd"],
        extra=_extra(row, where),
    )


def _read_text(path: Path) -> str:
    """The file as UTF-8 text; bad bytes name the line they are on."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TaskFormatError(f"{path}: cannot read the task file ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TaskFormatError(f"{path}: line {line} is not UTF-8 text (byte {exc.start}: {exc.reason})") from None


def _rows_from_file(path: Path) -> list[Any]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = []
        for number, line in enumerate(_read_text(path).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise TaskFormatError(f"{path}: line {number} is not valid JSON ({exc})") from exc
        return rows
    if suffix == ".json":
        try:
            data = json.loads(_read_text(path))
        except json.JSONDecodeError as exc:
            raise TaskFormatError(f"{path}: not valid JSON ({exc})") from exc
        if isinstance(data, Mapping):
            data = data.get("rows", data.get("tasks", [data]))
        if not isinstance(data, list):
            raise TaskFormatError(f"{path}: expected a JSON list of task rows")
        return data
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return list(pq.read_table(path).to_pylist())
        except (pa.ArrowException, OSError) as exc:
            raise TaskFormatError(f"{path}: not a readable parquet file ({exc})") from None
    raise TaskFormatError(f"{path}: unknown task file type {suffix!r} (expected .json, .jsonl or .parquet)")


def _rows_from_hub(name: str) -> list[Any]:
    """``owner/dataset`` or ``owner/dataset:split`` (default split ``test``); needs the network."""
    dataset_name, _, split = name.partition(":")
    try:
        import datasets
    except ImportError as exc:
        raise TaskFormatError(f"{name!r} is not a file; loading a Hugging Face dataset needs `pip install datasets`")\
            from exc
    try:
        return list(datasets.load_dataset(dataset_name, split=split or "test"))
    except Exception as exc:  # network down, unknown dataset: say what we tried
        raise TaskFormatError(f"{name!r}: not a local file and the Hugging Face dataset failed to load: {exc}") from exc


def load_tasks(source: str | Path | Sequence[Mapping[str, Any]]) -> list[Task]:
    """Load tasks from a .json/.jsonl/.parquet file, a Hugging Face dataset name, or a list of row mappings."""
    base_dir: Path | None = None
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if path.exists():
            rows, label, base_dir = _rows_from_file(path), str(path), path.resolve().parent
        elif isinstance(source, str) and "/" in source and not path.suffix and not source.startswith((".", "/")):
            rows, label = _rows_from_hub(source), source
        else:
            raise TaskFormatError(f"task file {path} does not exist")
    else:
        rows, label = list(source), "rows"
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        task = task_from_row(row, f"{label}: row {number}", base_dir)
        if task.instance_id in seen:
            first = seen[task.instance_id]
            iid = task.instance_id
            raise TaskFormatError(f"{label}: row {number}: field 'instance_id' {iid!r} duplicates row {first}")
        seen[task.instance_id] = number
        tasks.append(task)
    if problems := missing_commits(tasks):
        iid = min(problems, key=seen.__getitem__)
        more = f" (and {len(problems) - 1} more rows)" if len(problems) > 1 else ""
        raise TaskFormatError(f"{label}: row {seen[iid]} ({iid}): field 'base_commit': {problems[iid]}{more}")
    return tasks


def task_to_row(task: Task, base_dir: Path | None = None) -> dict[str, Any]:
    """The SWE-bench row for ``task`` (F2P/P2P as lists); paths under ``base_dir`` are written relative to it."""
    row: dict[str, Any] = {}
    for f in fields(task):
        value = getattr(task, f.name)
        if f.name in _TEST_LISTS.values():
            row[f.name.upper()] = list(value)
        elif f.name in _PATHS:
            if value is not None:
                path = Path(value)
                if base_dir is not None and path.is_relative_to(base_dir.resolve()):
                    path = path.relative_to(base_dir.resolve())
                row[f.name] = str(path)
        elif f.name == "extra":
            row.update({k: v for k, v in value.items() if k not in _KNOWN})
        elif value is not None:
            row[f.name] = value
    return row


def save_tasks(tasks: Sequence[Task], path: str | Path) -> Path:
    """Write ``tasks`` as JSONL that :func:`load_tasks` reads back to equal tasks (local extensions included)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base_dir = path.resolve().parent
    lines = [json.dumps(task_to_row(task, base_dir), ensure_ascii=False) for task in tasks]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return path
