"""A label cache on disk keyed by (teacher id, state hash): a resumed run never pays for a label twice.

The cache is an append-only JSONL file, one row per label (:class:`CachedLabel`), loaded when opened. When a batch
fails (:class:`~swe_dagger.teachers.protocol.TeacherError`), the labels it did get are written before the error
goes on, so the resumed run asks only for the rest.
Each batch of new labels is appended with one ``write`` on an ``O_APPEND`` descriptor and fsync'd, so
rows of concurrent writers do not interleave and a crash loses at most the batch being written. A torn
last line (a crash mid-write) is cut off with a warning; a corrupt line anywhere else is an error.
The same rows are what :class:`~swe_dagger.teachers.replay.ReplayTeacher` replays.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from swe_dagger.durable.files import append_bytes
from swe_dagger.teachers.cost import TeacherUsage, usage_of
from swe_dagger.teachers.protocol import Teacher, TeacherError, TeacherState


def state_key(teacher_id: str, state: TeacherState) -> str:
    """sha256 over the teacher id, the task id, the conversation and the workspace diff."""
    payload = json.dumps(
        [
            teacher_id,
            state.task.instance_id,
            [[m.role, m.content] for m in state.messages],
            state.workspace_diff,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def turn_of(state: TeacherState) -> int:
    """The state's turn index: how many assistant replies its conversation holds."""
    return sum(1 for m in state.messages if m.role == "assistant")


@dataclass(frozen=True)
class CachedLabel:
    """One cached (or recorded) label."""

    key: str
    teacher_id: str
    task_id: str
    turn: int
    label: str

    @staticmethod
    def of(teacher_id: str, state: TeacherState, label: str) -> CachedLabel:
        return CachedLabel(state_key(teacher_id, state), teacher_id, state.task.instance_id, turn_of(state), label)


_FIELDS = {"key": str, "teacher_id": str, "task_id": str, "turn": int, "label": str}


def parse_label_row(line: str, where: str) -> CachedLabel:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    for name, kind in _FIELDS.items():
        if not isinstance(data.get(name), kind):
            raise ValueError(f"{where}: field {name!r} missing or not {kind.__name__}")
    return CachedLabel(**{name: data[name] for name in _FIELDS})


def read_label_rows(path: Path, *, repair: bool = False) -> Iterator[CachedLabel]:
    """The rows of a label JSONL file. ``repair``: cut a torn last line off the file (with a warning)."""
    data = path.read_bytes()
    body, _, tail = data.rpartition(b"\n")
    if tail.strip():
        if not repair:
            raise ValueError(f"{path}: last line is incomplete (a write was cut off)")
        warnings.warn(f"{path}: dropping a torn last line of {len(tail)} bytes (a write was cut off)", stacklevel=2)
        with path.open("r+b") as fh:
            fh.truncate(len(body) + 1 if body else 0)
    for number, line in enumerate(body.decode().splitlines(), 1):
        if line.strip():
            yield parse_label_row(line, f"{path}:{number}")


def append_label_rows(path: Path, rows: Sequence[CachedLabel]) -> None:
    """Append rows in one write, then fsync."""
    if not rows:
        return
    append_bytes(path, "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in rows).encode())


class CachedTeacher:
    """Wraps a teacher: labels found in the cache file are returned, only the misses go to ``inner``."""

    def __init__(self, inner: Teacher, path: str | Path) -> None:
        self.inner = inner
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._labels: dict[str, str] = {}
        if self.path.exists():
            for row in read_label_rows(self.path, repair=True):
                self._labels[row.key] = row.label
        self.hits = 0
        self.misses = 0
        self._closed = False

    @property
    def teacher_id(self) -> str:
        return self.inner.teacher_id

    @property
    def usage(self) -> TeacherUsage | None:
        """The metered usage below this cache (hits cost nothing, so they are not in it); None if unmetered."""
        return usage_of(self.inner)

    def __len__(self) -> int:
        return len(self._labels)

    def label(self, states: Sequence[TeacherState]) -> list[str]:
        teacher_id = self.inner.teacher_id
        keys = [state_key(teacher_id, s) for s in states]
        todo: dict[str, TeacherState] = {}
        for key, state in zip(keys, states, strict=True):
            if key not in self._labels:
                todo.setdefault(key, state)
        self.misses += len(todo)
        self.hits += len(states) - len(todo)
        if todo:
            try:
                fresh = self.inner.label(list(todo.values()))
            except TeacherError as exc:  # keep the labels the failed batch did get: they were paid for
                if len(exc.labels) == len(todo):
                    self._keep(teacher_id, list(todo.values()), exc.labels)
                raise
            if len(fresh) != len(todo):
                raise RuntimeError(f"teacher {teacher_id!r} returned {len(fresh)} labels for {len(todo)} states")
            self._keep(teacher_id, list(todo.values()), fresh)
        return [self._labels[k] for k in keys]

    def _keep(self, teacher_id: str, states: Sequence[TeacherState], labels: Sequence[str | None]) -> None:
        rows = [CachedLabel.of(teacher_id, s, text) for s, text in zip(states, labels, strict=True) if text is not None]
        append_label_rows(self.path, rows)
        self._labels.update((r.key, r.label) for r in rows)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.inner.close()

    def __enter__(self) -> CachedTeacher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
