"""dagger.relabel, the teacher budget, the prefix horizon curriculum and a teacher router, over real envs (bwrap
sandboxes, real git repos, pytest grading) and the real oracle. Scripted students stand in for decisions only."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing

import pytest

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.protocol import Completion, Conversation, SamplingParams
from swe_dagger.dagger.budget import plan_iteration
from swe_dagger.dagger.config import EnvConfig
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.rollout.collector import Collector, EpisodeSpec
from swe_dagger.dagger.rollout.env_worker import make_swe_env
from swe_dagger.dagger.rollout.relabel import failed_command
from swe_dagger.dagger.rollout.serialize import trajectory_from_json, trajectory_to_json
from swe_dagger.dagger.run.metrics import labels_by_teacher, rollout_stats
from swe_dagger.dagger.schedule import ActorChooser, horizon_for
from swe_dagger.envs.task import Task
from swe_dagger.teachers.oracle import OracleTeacher
from swe_dagger.teachers.protocol import Teacher
from swe_dagger.teachers.router import Route, RouterTeacher


def reply(command: str) -> str:
    return f"THOUGHT: try.\n\n```bash\n{command}\n```"


class TurnScript:
    """A student whose reply at turn t is ``replies[t]`` (turn = assistant messages so far in the conversation)."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        turns = [sum(m.role == "assistant" for m in c) for c in conversations]
        return [Completion(text=self.replies[min(t, len(self.replies) - 1)]) for t in turns]

    def close(self) -> None:
        pass


def run(tasks: list[Task], student, specs: list[EpisodeSpec], *, teacher: Teacher | None = None, max_turns: int = 4,
        mixing="per_turn", calls_left: int | None = None) -> list[Trajectory]:
    make = make_swe_env(tasks, EnvConfig(max_turns=max_turns, allow_unvalidated=True))
    out: list[Trajectory] = []
    with closing(teacher or OracleTeacher()) as t, \
            Collector(make, 2, Agent(AgentConfig(max_prompt_tokens=1024)), student, t,
                      sampling=SamplingParams(max_new_tokens=16), mixing=mixing, max_turns=max_turns) as collector:
        collector.run(specs, out.append, calls_left=calls_left)
    return [trajectory_from_json(trajectory_to_json(x), "roundtrip") for x in out]  # the fields survive the log


def spec(task: Task, episode: int = 0, beta: float = 0.0, **kw) -> EpisodeSpec:
    return EpisodeSpec(0, episode, task.instance_id, beta, seed=7 + episode, **kw)


def test_failure_relabel_asks_only_after_a_failing_command(shape_tasks: list[Task]) -> None:
    assert failed_command("<returncode>2</returncode>\nno such file")
    assert not failed_command("<returncode>0</returncode>")
    student = TurnScript([reply("ls"), reply("false"), reply("ls"), reply("cat missing.txt")])
    (traj,) = run(shape_tasks[:1], student, [spec(shape_tasks[0], relabel="failure")])
    assert [t.teacher_label is not None for t in traj.turns] == [False, False, True, False]
    assert [t.unlabeled for t in traj.turns] == ["no_failure", "no_failure", None, "no_failure"]
    assert traj.teacher_calls == 1 and rollout_stats([traj]).calls_saved == 3


def test_disagreement_keeps_labels_only_where_the_student_differs(shape_tasks: list[Task]) -> None:
    (probe,) = run(shape_tasks[:1], TurnScript([reply("ls")]), [spec(shape_tasks[0])], max_turns=1)
    first = probe.turns[0].teacher_label  # what the oracle does at the first state
    assert first is not None
    student = TurnScript([first, reply("ls -la")])
    (traj,) = run(shape_tasks[:1], student, [spec(shape_tasks[0], relabel="disagreement")], max_turns=2)
    assert traj.turns[0].teacher_label is None and traj.turns[0].unlabeled == "agreed"
    assert traj.turns[1].teacher_label is not None and traj.turns[1].unlabeled is None
    stats = rollout_stats([traj])
    assert traj.teacher_calls == 2 and stats.labels_agreed == 1 and stats.calls_saved == 0
    assert stats.agreement == 0.5 and stats.first_turn_agreement == 1.0  # the dropped label still counts as agreeing
    (all_,) = run(shape_tasks[:1], student, [spec(shape_tasks[0])], max_turns=2)  # relabel: all keeps both
    assert [t.teacher_label is not None for t in all_.turns] == [True, True]


def test_call_budget_stops_labeling_and_teacher_acting_without_crashing(shape_tasks: list[Task]) -> None:
    student = TurnScript([reply("ls")])
    specs = [spec(t, e, beta=0.5) for e, t in enumerate(shape_tasks[:2])]
    trajs = run(shape_tasks[:2], student, specs, calls_left=3)
    assert sum(t.teacher_calls for t in trajs) == 3
    turns = [turn for t in trajs for turn in t.turns]
    assert sum(turn.teacher_label is not None for turn in turns) == 3
    spent_at = max(turn.index for turn in turns if turn.teacher_label is not None)
    late = [turn for turn in turns if turn.index > spent_at]
    assert late and all(turn.author == "student" and turn.unlabeled == "budget" for turn in late)


def test_budget_plan_spends_evenly_and_caps_beta() -> None:
    plans = []
    spent = 0
    for i in range(4):
        p = plan_iteration(budget=10, spent=spent, iteration=i, iterations=4, beta=0.5, labels_per_iteration=8,
                           episodes=4, max_turns=6)
        plans.append(p)
        spent += p.calls or 0
    assert [p.calls for p in plans] == [3, 3, 2, 2] and spent == 10
    assert [p.labels for p in plans] == [3, 3, 2, 2] and plans[0].beta == pytest.approx(3 / 8)
    over = plan_iteration(budget=10, spent=12, iteration=3, iterations=4, beta=0.5, labels_per_iteration=None,
                          episodes=4, max_turns=6)
    assert over.calls == 0 and over.beta == 0.0 and over.labels is None
    free = plan_iteration(budget=None, spent=99, iteration=0, iterations=1, beta=0.5, labels_per_iteration=48,
                          episodes=4, max_turns=6)
    assert (free.calls, free.beta, free.labels) == (None, 0.5, 48)


def test_prefix_horizon_grows_and_the_teacher_takes_over(shape_tasks: list[Task]) -> None:
    assert [horizon_for(i, start=1, step=2, max_turns=6) for i in range(5)] == [1, 3, 5, 6, 6]
    chooser = ActorChooser("prefix", 0.9, 6, seed=3, horizon=2)
    assert [chooser.actor(t) for t in range(4)] == ["student", "student", "teacher", "teacher"]
    with pytest.raises(ValueError, match="needs prefix mixing"):
        ActorChooser("per_turn", 0.5, 6, seed=3, horizon=2)
    (traj,) = run(shape_tasks[:1], TurnScript([reply("ls")]), [spec(shape_tasks[0], horizon=2)], mixing="prefix",
                  max_turns=6)
    assert [t.author for t in traj.turns[:3]] == ["student", "student", "teacher"]
    assert all(t.author == "teacher" for t in traj.turns[2:]) and traj.resolution == "FULL"  # the oracle finishes


class Invalid:
    teacher_id = "cheap-model"

    def label(self, states):
        return ["no command here" for _ in states]

    def close(self) -> None:
        pass


def test_router_labels_record_which_teacher_gave_them(shape_tasks: list[Task]) -> None:
    oracle = OracleTeacher()
    router = RouterTeacher([Route(Invalid(), cost=0.0), Route(oracle, cost=1.0)])
    specs = [spec(t, e, beta=0.5) for e, t in enumerate(shape_tasks[:2])]
    trajs = run(shape_tasks[:2], TurnScript([reply("ls")]), specs, teacher=router)
    labeled = [t for traj in trajs for t in traj.turns if t.teacher_label is not None]
    assert labeled and all(t.teacher_id == oracle.teacher_id for t in labeled)
    assert labels_by_teacher(trajs) == {oracle.teacher_id: len(labeled)}
    assert router.stats.escalations == len(labeled)  # every state went past the cheap model's invalid reply


def test_config_keys_parse_and_bad_values_name_the_key(tmp_path) -> None:
    from swe_dagger.dagger.config import ConfigError, load_config
    from swe_dagger.dagger.config_checks import check_runnable

    path = tmp_path / "run.yaml"
    path.write_text("teachers:\n  - {name: oracle, tasks: 'shapes__*', cost: 0}\n"
                    "  - {name: oracle, options: {reproduce: 'true'}, cost: 2}\n"
                    "dagger: {relabel: failure, teacher_budget: 100, mixing: prefix, horizon_start: 1}\n")
    cfg = load_config(path)
    assert [(t.tasks, t.cost) for t in cfg.teachers] == [("shapes__*", 0.0), (None, 2.0)]
    assert (cfg.dagger.relabel, cfg.dagger.teacher_budget, cfg.dagger.horizon_start) == ("failure", 100, 1)
    check_runnable(cfg)
    for override, needle in [("dagger.relabel=some", r"dagger\.relabel"),
                             ("dagger.teacher_budget=-1", r"dagger\.teacher_budget must be >= 0"),
                             ("dagger.mixing=per_turn", "horizon curriculum needs mixing: prefix")]:
        with pytest.raises(ConfigError, match=needle):
            load_config(path, [override])
    path.write_text("teachers:\n  - {name: oracle, options: {colour: red}}\n")
    with pytest.raises(ConfigError, match=r"teachers\[0\]\.options: .*colour"):
        check_runnable(load_config(path))
    path.write_text("teachers:\n  - {name: oracle, tasks: 're:('}\n")
    with pytest.raises(ConfigError, match=r"teachers\[0\]\.tasks: .*not a valid regex"):
        check_runnable(load_config(path))
