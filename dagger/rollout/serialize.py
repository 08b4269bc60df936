"""Trajectories as JSON and back, exactly (a round trip gives an equal frozen record)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from swe_dagger.agents.protocol import Conversation, Message
from swe_dagger.dagger.records import Trajectory, Turn


class RecordFormatError(ValueError):
    """A stored record does not have the expected shape; the message names the file/line and field."""


def conversation_to_json(conv: Conversation) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in conv]


def conversation_from_json(data: Any, where: str) -> Conversation:
    if not isinstance(data, list):
        raise RecordFormatError(f"{where}: expected a list of messages, got {type(data).__name__}")
    out = []
    for i, m in enumerate(data):
        if not isinstance(m, Mapping) or m.get("role") not in ("system", "user", "assistant"):
            raise RecordFormatError(f"{where}[{i}]: expected {{role: system|user|assistant, content: str}}, got {m!r}")
        out.append(Message(role=m["role"], content=str(m.get("content", ""))))
    return tuple(out)


def turn_to_json(turn: Turn) -> dict[str, Any]:
    return {
        "index": turn.index,
        "author": turn.author,
        "action": turn.action,
        "teacher_label": turn.teacher_label,
        "observation": turn.observation,
        "format_error": turn.format_error,
        "token_ids": list(turn.token_ids) if turn.token_ids is not None else None,
        "logprobs": list(turn.logprobs) if turn.logprobs is not None else None,
        "model_version": turn.model_version,
        "teacher_id": turn.teacher_id,
        "unlabeled": turn.unlabeled,
    }


def turn_from_json(data: Mapping[str, Any], where: str) -> Turn:
    try:
        return Turn(
            index=int(data["index"]),
            author=_author(data["author"], where),
            action=str(data["action"]),
            teacher_label=None if data["teacher_label"] is None else str(data["teacher_label"]),
            observation=str(data["observation"]),
            format_error=bool(data.get("format_error", False)),
            token_ids=None if data.get("token_ids") is None else tuple(int(t) for t in data["token_ids"]),
            logprobs=None if data.get("logprobs") is None else tuple(float(x) for x in data["logprobs"]),
            model_version=str(data.get("model_version", "")),
            teacher_id=None if data.get("teacher_id") is None else str(data["teacher_id"]),
            unlabeled=_unlabeled(data.get("unlabeled"), where),
        )
    except KeyError as exc:
        raise RecordFormatError(f"{where}: turn is missing field {exc.args[0]!r}") from None


def trajectory_to_json(traj: Trajectory) -> dict[str, Any]:
    return {
        "task_id": traj.task_id,
        "iteration": traj.iteration,
        "episode": traj.episode,
        "beta": traj.beta,
        "seed": traj.seed,
        "reward": traj.reward,
        "resolution": traj.resolution,
        "terminated": traj.terminated,
        "truncated": traj.truncated,
        "error": traj.error,
        "teacher_calls": traj.teacher_calls,
        "timings": dict(traj.timings),
        "patch": traj.patch,
        "failed_tests": list(traj.failed_tests) if traj.failed_tests is not None else None,
        "teacher_id": traj.teacher_id,
        "teacher_model": traj.teacher_model,
        "student_version": traj.student_version,
        "tampered": list(traj.tampered),
        "prefix": conversation_to_json(traj.prefix),
        "turns": [turn_to_json(t) for t in traj.turns],
    }


def trajectory_from_json(data: Mapping[str, Any], where: str) -> Trajectory:
    try:
        turns = data["turns"]
        if not isinstance(turns, list):
            raise RecordFormatError(f"{where}: field 'turns' must be a list")
        return Trajectory(
            task_id=str(data["task_id"]),
            prefix=conversation_from_json(data["prefix"], f"{where}: prefix"),
            turns=tuple(turn_from_json(t, f"{where}: turns[{i}]") for i, t in enumerate(turns)),
            reward=float(data["reward"]),
            resolution=data["resolution"],
            terminated=bool(data["terminated"]),
            truncated=bool(data["truncated"]),
            error=data.get("error"),
            iteration=int(data.get("iteration", 0)),
            beta=float(data.get("beta", 0.0)),
            seed=data.get("seed"),
            episode=int(data.get("episode", -1)),
            teacher_calls=int(data.get("teacher_calls", 0)),
            timings={str(k): float(v) for k, v in dict(data.get("timings", {})).items()},
            patch=None if data.get("patch") is None else str(data["patch"]),
            failed_tests=None if data.get("failed_tests") is None else tuple(str(t) for t in data["failed_tests"]),
            teacher_id=None if data.get("teacher_id") is None else str(data["teacher_id"]),
            teacher_model=None if data.get("teacher_model") is None else str(data["teacher_model"]),
            student_version=str(data.get("student_version") or ""),
            tampered=tuple(str(p) for p in data.get("tampered", [])),
        )
    except KeyError as exc:
        raise RecordFormatError(f"{where}: trajectory is missing field {exc.args[0]!r}") from None


def _author(value: Any, where: str) -> Any:
    if value not in ("student", "teacher"):
        raise RecordFormatError(f"{where}: author must be 'student' or 'teacher', got {value!r}")
    return value


def _unlabeled(value: Any, where: str) -> Any:
    if value not in (None, "agreed", "no_failure", "budget"):
        raise RecordFormatError(f"{where}: unlabeled must be null, 'agreed', 'no_failure' or 'budget', got {value!r}")
    return value
