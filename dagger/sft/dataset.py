"""The aggregated DAgger dataset on disk: D_i = D_{i-1} ∪ the labels of iteration i.

Layout in the run directory::

    episodes/train_iter_000.jsonl   the episode log (dagger/rollout/episode_log.py) the labels come from
    data/labels_iter_000.jsonl      label rows of iteration 0, written atomically once its collection is complete

A label row is one state (the conversation prefix + the (action, observation) history before the turn) and the
teacher's reply there, with provenance. Each file loads with ``datasets.load_dataset("json", data_files=...)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swe_dagger.agents.protocol import Conversation
from swe_dagger.dagger.records import Author, Trajectory
from swe_dagger.dagger.rollout.serialize import (
    RecordFormatError,
    conversation_from_json,
    conversation_to_json,
)
from swe_dagger.durable.files import atomic_write_text


@dataclass(frozen=True)
class LabelRow:
    """One supervised example: at this state the teacher says ``label``."""

    iteration: int
    beta: float
    task_id: str
    episode: int
    turn: int
    author: Author
    """Who acted at this state in the episode (the label is the teacher's either way)."""
    prefix: Conversation
    history: tuple[tuple[str, str], ...]
    """(action, observation) pairs executed before this state."""
    label: str
    student_action: str | None
    """The student's reply at this state when it acted (for agreement); ``None`` on teacher turns."""
    reward: float
    resolution: str | None
    teacher_id: str | None = None
    """The teacher that gave ``label`` (``None``: a row written before rows named it)."""
    teacher_model: str | None = None
    """The model behind that teacher when it names one (chat teachers); ``None`` for the oracle."""
    student_version: str | None = None
    """The student checkpoint the episode ran with (``None``: a row written before rows named it)."""


def label_rows(traj: Trajectory) -> list[LabelRow]:
    """Every labeled state of ``traj`` (teacher-acted turns are labeled by their own action)."""
    rows = []
    history: list[tuple[str, str]] = []
    for turn in traj.turns:
        if turn.teacher_label is not None:
            rows.append(
                LabelRow(
                    iteration=traj.iteration,
                    beta=traj.beta,
                    task_id=traj.task_id,
                    episode=traj.episode,
                    turn=turn.index,
                    author=turn.author,
                    prefix=traj.prefix,
                    history=tuple(history),
                    label=turn.teacher_label,
                    student_action=turn.action if turn.author == "student" else None,
                    reward=traj.reward,
                    resolution=traj.resolution,
                    teacher_id=turn.teacher_id or traj.teacher_id,
                    teacher_model=traj.teacher_model,
                    student_version=traj.student_version or None,
                )
            )
        history.append((turn.action, turn.observation))
    return rows


def _row_to_json(row: LabelRow) -> dict[str, Any]:
    return {
        "iteration": row.iteration,
        "beta": row.beta,
        "task_id": row.task_id,
        "episode": row.episode,
        "turn": row.turn,
        "author": row.author,
        "prefix": conversation_to_json(row.prefix),
        "history": [list(pair) for pair in row.history],
        "label": row.label,
        "student_action": row.student_action,
        "reward": row.reward,
        "resolution": row.resolution,
        "teacher_id": row.teacher_id,
        "teacher_model": row.teacher_model,
        "student_version": row.student_version,
    }


def _row_from_json(data: dict[str, Any], where: str) -> LabelRow:
    try:
        return LabelRow(
            iteration=int(data["iteration"]),
            beta=float(data["beta"]),
            task_id=str(data["task_id"]),
            episode=int(data["episode"]),
            turn=int(data["turn"]),
            author=data["author"],
            prefix=conversation_from_json(data["prefix"], f"{where}: prefix"),
            history=tuple((str(a), str(o)) for a, o in data["history"]),
            label=str(data["label"]),
            student_action=data["student_action"],
            reward=float(data["reward"]),
            resolution=data["resolution"],
            teacher_id=data.get("teacher_id"),
            teacher_model=data.get("teacher_model"),
            student_version=data.get("student_version"),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise RecordFormatError(f"{where}: bad label row ({exc!r})") from None


def labels_path(run_dir: Path, iteration: int) -> Path:
    return run_dir / "data" / f"labels_iter_{iteration:03d}.jsonl"


def write_iteration_labels(
    run_dir: Path, iteration: int, trajectories: Iterable[Trajectory], limit: int | None = None
) -> int:
    """Write iteration ``iteration``'s label rows atomically (the first ``limit`` in episode/turn order when a
    label budget applies; the rest stay in the episode log); returns how many were written."""
    rows = [row for traj in trajectories for row in label_rows(traj)][:limit]
    text = "".join(json.dumps(_row_to_json(r), ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    atomic_write_text(labels_path(run_dir, iteration), text)
    return len(rows)


def read_labels(path: Path) -> list[LabelRow]:
    if not path.is_file():
        raise FileNotFoundError(f"label file {path} is missing (was the collection of that iteration finished?)")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordFormatError(f"{path}:{n}: not JSON ({exc})") from None
            rows.append(_row_from_json(data, f"{path}:{n}"))
    return rows


def aggregate(run_dir: Path, iterations: Sequence[int]) -> list[LabelRow]:
    """D = the union of the label rows of ``iterations``, in (iteration, episode, turn) order."""
    return [row for i in iterations for row in read_labels(labels_path(run_dir, i))]
