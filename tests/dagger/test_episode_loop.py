"""The one episode loop (``Collector``) in the shapes it takes outside training: a student alone with no teacher,
a teacher alone with no student, and SWE-bench eval's auto-submit at the turn limit (``AutoSubmitWorker``), whose
outcome is read off the trajectory. Real bwrap sandboxes, real git repos, real pytest grading; scripted replies
stand in for decisions only."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.protocol import Completion, Conversation, SamplingParams
from swe_dagger.dagger.config import EnvConfig
from swe_dagger.dagger.eval.swebench_report import instance_outcome
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.rollout.collector import Collector, EpisodeSpec
from swe_dagger.dagger.rollout.env_worker import AutoSubmitWorker, EnvWorker, MakeWorker, make_swe_env
from swe_dagger.envs.actions import SUBMIT_MARKER
from swe_dagger.envs.task import Task
from swe_dagger.teachers.protocol import Teacher, TeacherState

SUBMIT = f"THOUGHT: done.\n\n```bash\necho {SUBMIT_MARKER}\n```"


class ScriptedPolicy:
    """A stand-in for the student's decisions: fixed replies in order; remembers every conversation it saw."""

    def __init__(self, replies: Sequence[str]) -> None:
        self.replies = list(replies)
        self.seen: list[Conversation] = []

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        self.seen.extend(conversations)
        return [Completion(text=self.replies.pop(0), model_version="scripted-v1") for _ in conversations]

    def close(self) -> None:
        pass


class FixThenIdle:
    """A stand-in for a teacher's decisions: apply the gold patch on the first turn, then look around."""

    teacher_id = "fix-then-idle"

    def __init__(self, fix: bool = True) -> None:
        self.fix = fix

    def label(self, states: Sequence[TeacherState]) -> list[str]:
        return [f"THOUGHT: fix.\n\n```bash\ngit apply <<'EOF'\n{s.task.patch}EOF\n```" if self.fix and not
                s.workspace_diff else "THOUGHT: look.\n\n```bash\ngit status --short\n```" for s in states]

    def close(self) -> None:
        pass


def run_one(task: Task, policy: ScriptedPolicy | None, teacher: Teacher | None, beta: float, *, max_turns: int,
            make_worker: MakeWorker = EnvWorker) -> Trajectory:
    make = make_swe_env([task], EnvConfig(max_turns=max_turns, allow_unvalidated=True))
    out: list[Trajectory] = []
    with Collector(make, 1, Agent(AgentConfig(max_prompt_tokens=None)), policy, teacher, sampling=SamplingParams(),
                   mixing="per_turn", max_turns=max_turns, make_worker=make_worker) as collector:
        collector.run([EpisodeSpec(0, 0, task.instance_id, beta, seed=1, label=False)], out.append)
    (traj,) = out
    return traj


def test_a_student_alone_fixes_and_submits_and_sees_the_env_verbatim(shape_tasks: list[Task]) -> None:
    task = shape_tasks[0]
    fix = f"THOUGHT: fix it.\n\n```bash\ngit apply <<'EOF'\n{task.patch}EOF\ncat shapes/core.py\n```"
    policy = ScriptedPolicy([fix, SUBMIT])
    traj = run_one(task, policy, None, 0.0, max_turns=4)  # no teacher: none is needed at β = 0 without labels
    assert traj.terminated and not traj.truncated and len(traj.turns) == 2
    assert (traj.reward, traj.resolution, traj.error, traj.failed_tests) == (1.0, "FULL", None, ())
    assert "return w * h" in traj.turns[0].observation
    assert policy.seen[1][-1].content == traj.turns[0].observation, "the policy saw the env's output verbatim"
    assert all(t.author == "student" and t.teacher_label is None for t in traj.turns) and traj.teacher_calls == 0
    assert traj.student_version == "scripted-v1"  # the collector was given no version: the completions name it


def test_a_student_turn_without_a_policy_is_an_error_naming_it(shape_tasks: list[Task]) -> None:
    with pytest.raises(RuntimeError, match="no student policy"):
        run_one(shape_tasks[0], None, FixThenIdle(), 0.0, max_turns=2)


def test_the_turn_limit_auto_submits_the_final_diff(shape_tasks: list[Task]) -> None:
    task = shape_tasks[1]
    cut = run_one(task, None, FixThenIdle(), 1.0, max_turns=2)  # training's worker: a cut is not graded
    assert cut.truncated and cut.resolution is None and cut.failed_tests is None and "return 2 * (w + h)" in str(
        cut.patch)
    auto = run_one(task, None, FixThenIdle(), 1.0, max_turns=2, make_worker=AutoSubmitWorker)
    assert auto.truncated and not auto.terminated and len(auto.turns) == 2 and auto.teacher_calls == 2
    assert (auto.resolution, auto.failed_tests, auto.patch) == ("FULL", (), cut.patch)  # graded as a submission
    assert all(t.author == "teacher" and t.teacher_label == t.action for t in auto.turns)
    outcome = instance_outcome(auto, task.repo)  # results.json's row, read off the trajectory
    assert (outcome.status, outcome.resolution, outcome.submitted, outcome.turns) == ("resolved", "FULL", False, 2)
    assert outcome.model_patch == auto.patch


def test_an_empty_diff_at_the_limit_is_not_graded(shape_tasks: list[Task]) -> None:
    traj = run_one(shape_tasks[2], None, FixThenIdle(fix=False), 1.0, max_turns=1, make_worker=AutoSubmitWorker)
    assert traj.truncated and (traj.patch, traj.resolution, traj.failed_tests) == ("", None, None)
    outcome = instance_outcome(traj, "shapes/shapes")
    assert (outcome.status, outcome.resolution, outcome.submitted) == ("empty_patch", None, False)
