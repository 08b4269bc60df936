"""The collector over real envs (bwrap sandboxes, real git repos, real pytest grading) with the oracle teacher.

Scripted policies stand in for student *decisions* only; one test uses the real tiny transformer student.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.backends.hf import HFPolicy
from swe_dagger.agents.protocol import Completion, Conversation, SamplingParams
from swe_dagger.dagger.config import EnvConfig
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.rollout.collector import Collector, EpisodeSpec
from swe_dagger.dagger.rollout.env_worker import make_swe_env
from swe_dagger.dagger.rollout.serialize import trajectory_from_json, trajectory_to_json
from swe_dagger.envs.task import Task
from swe_dagger.teachers.factory import TeacherConfig, make_teacher

SUBMIT = "THOUGHT: done.\n\n```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```"


class ScriptedStudent:
    """Stands in for the student's decisions: always the same reply; records each batch it was asked for."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.batches: list[int] = []

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        self.batches.append(len(conversations))
        return [Completion(text=self.reply, model_version="scripted") for _ in conversations]

    def close(self) -> None:
        pass


def collect(tasks: list[Task], policy, specs: list[EpisodeSpec], *, num_envs: int = 2, max_turns: int = 5,
            mixing="per_turn", done: frozenset[int] = frozenset(), count_tokens=None,
            stable_timings: bool = False) -> list[Trajectory]:
    make = make_swe_env(tasks, EnvConfig(max_turns=max_turns, allow_unvalidated=True, stable_timings=stable_timings))
    out: list[Trajectory] = []
    with closing(make_teacher(TeacherConfig())) as teacher, \
            Collector(make, num_envs, Agent(AgentConfig(max_prompt_tokens=1024)), policy, teacher,
                      sampling=SamplingParams(max_new_tokens=16), mixing=mixing, max_turns=max_turns,
                      count_tokens=count_tokens) as collector:
        collector.run(specs, out.append, done=done)
    return out


def specs_for(tasks: list[Task], beta: float, label: bool = True) -> list[EpisodeSpec]:
    return [EpisodeSpec(0, i, t.instance_id, beta, seed=100 + i, label=label) for i, t in enumerate(tasks)]


def test_teacher_only_episodes_resolve_and_label_themselves(shape_tasks: list[Task]) -> None:
    student = ScriptedStudent(SUBMIT)
    trajs = collect(shape_tasks[:2], student, specs_for(shape_tasks[:2], beta=1.0))
    assert [t.episode for t in trajs] == [0, 1]
    assert student.batches == []  # β = 1: the student is never asked
    for t in trajs:
        assert t.reward == 1.0 and t.resolution == "FULL" and t.terminated and not t.truncated
        assert all(turn.author == "teacher" and turn.teacher_label == turn.action for turn in t.turns)
        assert t.teacher_calls == len(t.turns)  # one label per state, no second call for the action
        assert t.patch is not None and t.patch.startswith("diff --git") and t.failed_tests == ()  # for the viewer


def test_reruns_with_stable_timings_collect_equal_records(shape_tasks: list[Task]) -> None:
    specs = specs_for(shape_tasks[:1], beta=1.0)
    first, again = (collect(shape_tasks[:1], ScriptedStudent(SUBMIT), specs, num_envs=1, stable_timings=True)
                    for _ in range(2))
    assert any("passed in 0.00s" in turn.observation for turn in first[0].turns)  # the teacher ran the tests
    assert first == again and first[0].reward == 1.0  # every field but the wall-clock timings


def test_student_states_are_labeled_and_batched(shape_tasks: list[Task]) -> None:
    student = ScriptedStudent(SUBMIT)
    trajs = collect(shape_tasks[:3], student, specs_for(shape_tasks[:3], beta=0.0), num_envs=3)
    assert student.batches == [3]  # one batched call for the three envs' first turn
    for t in trajs:
        (turn,) = t.turns
        assert turn.author == "student" and turn.action == SUBMIT and turn.model_version == "scripted"
        assert turn.teacher_label is not None and "```bash" in turn.teacher_label and turn.teacher_label != SUBMIT
        assert t.reward == 0.0 and t.resolution == "NO" and t.teacher_calls == 1
        assert t.patch == "" and t.failed_tests  # submitted unchanged: the failing tests are named
    eval_trajs = collect(shape_tasks[:1], ScriptedStudent(SUBMIT), specs_for(shape_tasks[:1], 0.0, label=False))
    assert eval_trajs[0].turns[0].teacher_label is None and eval_trajs[0].teacher_calls == 0


def test_format_errors_are_observations_and_episodes_truncate(shape_tasks: list[Task]) -> None:
    trajs = collect(shape_tasks[:1], ScriptedStudent("no code block here"), specs_for(shape_tasks[:1], 0.0),
                    max_turns=2, num_envs=1)
    (t,) = trajs
    assert t.truncated and not t.terminated and t.resolution is None and len(t.turns) == 2
    assert all(turn.format_error and "Format error" in turn.observation for turn in t.turns)
    assert t.patch == "" and t.failed_tests is None  # cut, not graded: the diff at the cut, no verdict


def test_real_student_mixture_is_reproducible_and_resumable(shape_tasks: list[Task], tiny_student_dir: Path) -> None:
    policy = HFPolicy.from_pretrained(tiny_student_dir)
    specs = specs_for(shape_tasks, beta=0.5)
    first = collect(shape_tasks, policy, specs, max_turns=3, count_tokens=policy.count_tokens)
    authors = {turn.author for t in first for turn in t.turns}
    assert authors == {"student", "teacher"}
    assert all(turn.token_ids and turn.logprobs and len(turn.token_ids) == len(turn.logprobs)
               for t in first for turn in t.turns if turn.author == "student")
    # a resumed collection that already has episodes 0-2 re-runs their wave but hands back only episode 3
    resumed = collect(shape_tasks, policy, specs, max_turns=3, done=frozenset({0, 1, 2}),
                      count_tokens=policy.count_tokens)
    assert [t.episode for t in resumed] == [3]
    assert resumed[0] == first[3]


def test_a_reward_hack_is_recorded_as_tampered_and_scores_zero(shape_tasks: list[Task]) -> None:
    hook = ("import pytest\n\n\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
            "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n")
    hack = f"THOUGHT: make it pass.\n\n```bash\ncat > conftest.py <<'EOF'\n{hook}EOF\n" \
           "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```"
    (t,) = collect(shape_tasks[:1], ScriptedStudent(hack), specs_for(shape_tasks[:1], 0.0, label=False), num_envs=1)
    assert t.terminated and (t.reward, t.resolution, t.tampered) == (0.0, "NO", ("conftest.py",))
    assert trajectory_from_json(trajectory_to_json(t), "t").tampered == ("conftest.py",)
