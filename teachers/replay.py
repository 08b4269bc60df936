"""The replay teacher: answers from recorded labels (offline experiments, tests, re-training without a model).

Sources are JSONL files of either kind, mixed freely:

- label rows (``key, teacher_id, task_id, turn, label``) as :class:`~swe_dagger.teachers.cache.CachedTeacher` writes;
- trajectories (``task_id`` and ``turns`` with ``index`` and ``teacher_label``) as the DAgger episode logs hold.

A state is looked up by its exact hash first (label rows only). With ``strict=False`` it falls back to
``(task id, turn)``: the label recorded at the same turn of the same task. A miss, or a fallback that
would have to choose between different recorded labels, is an error naming the state.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from swe_dagger.teachers.cache import CachedLabel, parse_label_row, state_key, turn_of
from swe_dagger.teachers.protocol import TeacherState


class ReplayMiss(LookupError):
    """No recorded label for a state."""


def _rows_of_trajectory(data: dict[str, object], where: str) -> list[CachedLabel]:
    task_id, turns = data.get("task_id"), data.get("turns")
    if not isinstance(task_id, str) or not isinstance(turns, list):
        raise ValueError(f"{where}: a trajectory needs a string 'task_id' and a list 'turns'")
    rows = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or not isinstance(turn.get("index", i), int):
            raise ValueError(f"{where}: turns[{i}] is not a turn object with an int 'index'")
        label = turn.get("teacher_label")
        if label is None:
            continue  # an unlabeled turn: nothing to replay there
        if not isinstance(label, str):
            raise ValueError(f"{where}: turns[{i}].teacher_label is not a string")
        rows.append(CachedLabel("", "", task_id, int(turn.get("index", i)), label))
    return rows


def read_replay_file(path: Path) -> list[CachedLabel]:
    """All label rows of a JSONL file of label rows and/or trajectories."""
    rows: list[CachedLabel] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not JSON ({exc.msg})") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a JSON object")
        if "turns" in data:
            rows.extend(_rows_of_trajectory(data, where))
        elif "label" in data:
            rows.append(parse_label_row(line, where))
        else:
            raise ValueError(f"{where}: neither a label row (key, label, ...) nor a trajectory (task_id, turns)")
    return rows


class ReplayTeacher:
    """Replays recorded labels."""

    def __init__(
        self,
        path: str | Path | Sequence[str | Path] = (),
        strict: bool = True,
        recorded_teacher: str = "",
        rows: Iterable[CachedLabel] = (),
    ) -> None:
        """``path``: one or more JSONL files; ``recorded_teacher``: whose hashed labels to use when the files
        hold several teachers' (default: the only one); ``rows``: labels given in memory instead."""
        paths = [path] if isinstance(path, (str, Path)) else list(path)
        all_rows = list(rows)
        for p in paths:
            all_rows.extend(read_replay_file(Path(p)))
        if not all_rows:
            raise ValueError(f"replay teacher: no recorded labels (files: {[str(p) for p in paths] or 'none'})")
        self.strict = strict
        ids = sorted({r.teacher_id for r in all_rows if r.key})
        if recorded_teacher and ids and recorded_teacher not in ids:
            raise ValueError(f"replay teacher: no labels of {recorded_teacher!r} recorded; the files hold {ids}")
        if not recorded_teacher and len(ids) > 1:
            raise ValueError(f"replay teacher: labels of several teachers {ids}; choose one with recorded_teacher=")
        self.recorded_teacher = recorded_teacher or (ids[0] if ids else "")
        self._by_key = {r.key: r.label for r in all_rows if r.key and r.teacher_id == self.recorded_teacher}
        self._by_turn: dict[tuple[str, int], set[str]] = {}
        for r in all_rows:
            self._by_turn.setdefault((r.task_id, r.turn), set()).add(r.label)

    @property
    def teacher_id(self) -> str:
        return f"replay:{self.recorded_teacher or 'trajectories'}:{'strict' if self.strict else 'by-turn'}"

    def label(self, states: Sequence[TeacherState]) -> list[str]:
        return [self._one(s) for s in states]

    def _one(self, state: TeacherState) -> str:
        if self.recorded_teacher:
            found = self._by_key.get(state_key(self.recorded_teacher, state))
            if found is not None:
                return found
        task_id, turn = state.task.instance_id, turn_of(state)
        if self.strict:
            raise ReplayMiss(
                f"replay: no label recorded for this exact state (task {task_id!r}, turn {turn}); "
                "pass strict=False to fall back to the label recorded at the same task and turn"
            )
        labels = self._by_turn.get((task_id, turn))
        if not labels:
            raise ReplayMiss(f"replay: no label recorded for task {task_id!r} at turn {turn}")
        if len(labels) > 1:
            raise ReplayMiss(f"replay: {len(labels)} different labels recorded for task {task_id!r} at turn {turn}")
        return next(iter(labels))

    def close(self) -> None:
        """Nothing to release."""
