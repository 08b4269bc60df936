"""Label cache (resume never pays twice), cost metering, and replay — on real oracle labels of a real repo."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from swe_dagger.agents.protocol import Message
from swe_dagger.teachers.cache import CachedTeacher, state_key
from swe_dagger.teachers.cost import MeteredTeacher
from swe_dagger.teachers.oracle import OracleTeacher
from swe_dagger.teachers.protocol import TeacherState
from swe_dagger.teachers.replay import ReplayMiss, ReplayTeacher


def _states(task, n: int) -> list[TeacherState]:
    """``n`` distinct states of one task (conversations of growing length, clean workspace)."""
    msgs = [Message("system", "s"), Message("user", task.problem_statement)]
    out = []
    for i in range(n):
        out.append(TeacherState(task, tuple(msgs), ""))
        msgs += [Message("assistant", f"THOUGHT: {i}\n\n```bash\nls\n```"), Message("user", "ok")]
    return out


def test_state_key_covers_teacher_task_messages_and_diff(tiny_repo) -> None:
    s = _states(tiny_repo.task, 2)
    assert state_key("oracle", s[0]) == state_key("oracle", TeacherState(tiny_repo.task, s[0].messages, ""))
    keys = {state_key("oracle", s[0]), state_key("other", s[0]), state_key("oracle", s[1])}
    keys.add(state_key("oracle", TeacherState(tiny_repo.task, s[0].messages, "diff --git a/x b/x\n")))
    assert len(keys) == 4


def test_resumed_cache_never_pays_twice(tiny_repo, tmp_path: Path) -> None:
    states = _states(tiny_repo.task, 5)
    path = tmp_path / "cache" / "oracle.jsonl"
    with CachedTeacher(MeteredTeacher(OracleTeacher()), path) as first:
        labels = first.label(states[:3])
        assert first.label(states[:3] + states[:1]) == labels + labels[:1]
        assert (first.hits, first.misses, first.usage.labels) == (4, 3, 3)
    resumed = CachedTeacher(MeteredTeacher(OracleTeacher()), path)
    assert len(resumed) == 3
    assert resumed.label(states) == OracleTeacher().label(states)
    assert resumed.usage.labels == 2, "only the two new states reached the teacher"
    assert resumed.usage.calls == 1
    assert len(path.read_text().splitlines()) == 5
    resumed.close()
    resumed.close()  # idempotent


def test_torn_last_line_is_cut_with_a_warning_and_corrupt_lines_are_errors(tiny_repo, tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    states = _states(tiny_repo.task, 2)
    CachedTeacher(OracleTeacher(), path).label(states[:1])
    good = path.read_bytes()
    path.write_bytes(good + b'{"key": "abc", "teach')
    with pytest.warns(UserWarning, match="torn last line"):
        cache = CachedTeacher(OracleTeacher(), path)
    assert len(cache) == 1 and path.read_bytes() == good
    path.write_bytes(b'{"key": 1}\n' + good)
    with pytest.raises(ValueError, match=r"c\.jsonl:1: field 'key' missing or not str"):
        CachedTeacher(OracleTeacher(), path)


@dataclass(frozen=True)
class _Tokens:
    prompt_tokens: int
    completion_tokens: int


class _WordCountingTeacher:
    """A model-like teacher that reports token usage (words in, words out), as the chat teacher does."""

    teacher_id = "words"

    def __init__(self) -> None:
        self.usage = _Tokens(0, 0)

    def label(self, states: Sequence[TeacherState]) -> list[str]:
        out = []
        for s in states:
            prompt = sum(len(m.content.split()) for m in s.messages)
            text = f"THOUGHT: {len(s.messages)} messages.\n\n```bash\nls\n```\n"
            self.usage = _Tokens(self.usage.prompt_tokens + prompt, self.usage.completion_tokens + len(text.split()))
            out.append(text)
        return out

    def close(self) -> None:
        pass


def test_metering_counts_calls_tokens_time_and_dollars(tiny_repo) -> None:
    states = _states(tiny_repo.task, 3)
    inner = _WordCountingTeacher()
    metered = MeteredTeacher(inner, price_per_1k_prompt=2.0, price_per_1k_completion=10.0)
    metered.label(states[:2])
    metered.label(states[2:])
    u = metered.usage
    assert (u.calls, u.labels) == (2, 3)
    assert (u.prompt_tokens, u.completion_tokens) == (inner.usage.prompt_tokens, inner.usage.completion_tokens)
    assert u.prompt_tokens > 0 and u.seconds > 0
    assert u.dollars == pytest.approx(u.prompt_tokens * 0.002 + u.completion_tokens * 0.01)
    assert "words: 2 calls, 3 labels" in u.summary()
    assert MeteredTeacher(OracleTeacher()).usage.dollars is None  # no price configured, no $ claimed


def test_replay_answers_recorded_states_exactly_and_misses_loudly(tiny_repo, fresh_clone, kit, tmp_path: Path) -> None:
    path = tmp_path / "oracle.jsonl"
    recorded = kit.run_episode(CachedTeacher(OracleTeacher(run_tests=False), path), tiny_repo.task, fresh_clone)
    assert recorded.submitted
    replay = ReplayTeacher(path)
    second = tiny_repo.clone(tmp_path / "again")
    replayed = kit.run_episode(replay, tiny_repo.task, second)
    assert replayed.commands == recorded.commands
    assert kit.tree_of(second, tiny_repo.task.base_commit) == tiny_repo.gold_tree
    other = _states(tiny_repo.task, 2)[1]  # a state never recorded
    with pytest.raises(ReplayMiss, match="turn 1"):
        replay.label([other])
    assert ReplayTeacher(path, strict=False).label([other]) == [recorded.messages[4].content]


def test_replay_from_dagger_trajectory_logs_by_task_and_turn(tiny_repo, tmp_path: Path) -> None:
    labels = ["THOUGHT: a\n\n```bash\nls\n```\n", "THOUGHT: b\n\n```bash\npwd\n```\n"]
    traj = {
        "task_id": tiny_repo.task.instance_id,
        "prefix": [],
        "turns": [
            {"index": 0, "author": "student", "action": "x", "teacher_label": labels[0], "observation": "o"},
            {"index": 1, "author": "teacher", "action": labels[1], "teacher_label": labels[1], "observation": "o"},
            {"index": 2, "author": "student", "action": "y", "teacher_label": None, "observation": "o"},
        ],
    }
    path = tmp_path / "train_iter_000.jsonl"
    path.write_text(json.dumps(traj) + "\n")
    replay = ReplayTeacher(path, strict=False)
    states = _states(tiny_repo.task, 3)
    assert replay.label(states[:2]) == labels
    with pytest.raises(ReplayMiss, match="at turn 2"):
        replay.label(states[2:])
    path.write_text(json.dumps({"task_id": "x"}) + "\n")
    with pytest.raises(ValueError, match=r"train_iter_000\.jsonl:1: neither a label row"):
        ReplayTeacher(path)
