"""ChatTeacher against a real ``transformers serve`` of a tiny random student on 127.0.0.1.

A random model never writes a valid action, which is exactly what this checks end to end: its replies are retried
with the format error fed back, then reported as a TeacherError, never returned as labels.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from swe_dagger.agents.protocol import Message
from swe_dagger.agents.serve import TransformersServer
from swe_dagger.agents.tiny_student import build_tiny_student
from swe_dagger.envs.task import Task
from swe_dagger.teachers.chat import ChatTeacher, TeacherError
from swe_dagger.teachers.protocol import TeacherState

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TransformersServer]:
    model_dir: Path = build_tiny_student(tmp_path_factory.mktemp("student"), params="300k", vocab_size=1000)
    with TransformersServer(model_dir) as server:
        yield server


def test_garbage_from_a_real_server_is_retried_then_reported(served: TransformersServer) -> None:
    task = Task(instance_id="demo__demo-7", repo="demo/demo", base_commit="0" * 40, problem_statement="p", patch="")
    state = TeacherState(task, (Message("system", "be terse"), Message("user", "fix the bug")), workspace_diff="")
    with ChatTeacher(served.model_id, served.url, max_tokens=16, invalid_retries=1) as teacher:
        start = time.monotonic()
        with pytest.raises(TeacherError, match=r"'demo__demo-7' at turn 0 after 2 replies"):
            teacher.label([state])
        elapsed = time.monotonic() - start
        usage = teacher.usage
    assert usage.calls == 2 and usage.invalid_replies == 2
    assert 0 < usage.completion_tokens <= 32 and usage.prompt_tokens > 0
    print(f"chat-teacher latency against transformers serve: {elapsed / usage.calls * 1000:.0f} ms/request")
