"""The oracle through the real env (``gymnasium.make("swe_dagger/SWE-v0")``, local bubblewrap sandbox, real grading)."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from typing import Any

import gymnasium
import pytest

import swe_dagger.envs  # noqa: F401  (registers swe_dagger/SWE-v0)
from swe_dagger.agents.protocol import Message
from swe_dagger.envs.task import Task
from swe_dagger.teachers.oracle import OracleTeacher
from swe_dagger.teachers.protocol import Teacher, TeacherState

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap missing (scripts/setup.sh)")


def oracle_episode(env: Any, teacher: Teacher, task: Task, student_actions: list[str]) -> tuple[float, int]:
    """Student actions first, then the teacher until the episode ends; returns (reward, turns)."""
    obs, _ = env.reset(options={"task_id": task.instance_id})
    msgs = [Message("user", obs)]
    for action in student_actions:
        obs, _, terminated, truncated, _ = env.step(action)
        assert not (terminated or truncated)
        msgs += [Message("assistant", action), Message("user", obs)]
    while True:
        state = TeacherState(task, tuple(msgs), env.unwrapped.workspace_diff())
        (action,) = teacher.label([state])
        obs, reward, terminated, truncated, info = env.step(action)
        assert "error" not in info, info.get("error")
        msgs += [Message("assistant", action), Message("user", obs)]
        if terminated or truncated:
            return float(reward), len(msgs) // 2


def _bash(command: str) -> str:
    return f"THOUGHT: let me try this.\n\n```bash\n{command}\n```"


STUDENT_MESSES = [
    "sed -i 's/return a \\/ b/return 0/' calc/ops.py && rm calc/utils.py",
    "echo 'def square(x): return x' > calc/extra.py && echo junk > notes.txt",
    "sed -i '1,12d' calc/ops.py && git add -A",
]


@pytest.fixture(scope="module")
def env(venv_task: Task) -> Iterator[Any]:
    env = gymnasium.make("swe_dagger/SWE-v0", tasks=[venv_task], sandbox="local", allow_unvalidated=True)
    yield env
    env.close()


@pytest.mark.parametrize(("style", "turns"), [("visible", 10), ("patch", 8)])
def test_oracle_resolves_the_task_through_the_env_and_submitting_at_once_does_not(
    env: Any, venv_task: Task, style: str, turns: int
) -> None:
    assert oracle_episode(env, OracleTeacher(style=style), venv_task, []) == (1.0, turns)
    assert oracle_episode(env, _Submitter(), venv_task, [])[0] == 0.0


@pytest.mark.parametrize("style", ["visible", "patch"])
def test_oracle_resolves_the_task_through_the_env_after_student_messes(env: Any, venv_task: Task, style: str) -> None:
    oracle = OracleTeacher(run_tests=False, style=style)
    for mess in random.Random(0).sample(STUDENT_MESSES, len(STUDENT_MESSES)):
        assert oracle_episode(env, oracle, venv_task, [_bash(mess)])[0] == 1.0, mess


class _Submitter:
    """Submits at once: the baseline that must not be resolved."""

    teacher_id = "submit-now"

    def label(self, states: list[TeacherState]) -> list[str]:
        return [_bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT") for _ in states]

    def close(self) -> None:
        pass
