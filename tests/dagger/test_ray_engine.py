"""The Ray engine (``rollout.engine: ray``) against the local one, on a real Ray cluster started in this process:
real env actors with bwrap sandboxes, real git repos and pytest grading, the oracle teacher. A scripted student
stands in for the student's decisions.

- the same specs give the same trajectories and label rows on both engines;
- an env actor killed mid-episode (``ray.kill`` or SIGKILL of its process): the episode is rebuilt on another actor
  and finishes as it would have; no label lost or doubled; the teacher labels exactly as many states.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import replace
from typing import Any

import pytest

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.protocol import Completion, Conversation, SamplingParams
from swe_dagger.dagger.config import EnvConfig
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.rollout.collector import Collector, EpisodeSpec
from swe_dagger.dagger.rollout.config import RolloutConfig
from swe_dagger.dagger.rollout.env_worker import EnvWorker, make_swe_env
from swe_dagger.dagger.sft.dataset import label_rows
from swe_dagger.envs.task import Task
from swe_dagger.teachers.factory import TeacherConfig, make_teacher
from swe_dagger.teachers.protocol import TeacherState

LOOK = "THOUGHT: look first.\n\n```bash\ncat shapes/core.py\n```"


@pytest.fixture(scope="module")
def ray_cluster(ray_module: Any) -> Iterator[Any]:
    """A one-node Ray cluster in this process, with room for 2 env actors of the local sandbox."""
    ray = ray_module
    # num_cpus=0: no prestarted idle workers; a node's agents must come up within Ray's fixed start-up timeouts,
    # and on a machine starved of CPU they sometimes do not: a second start is the remedy
    for attempt in range(3):
        try:
            ray.init(num_cpus=0, resources={"sandbox_local": 2}, object_store_memory=80 * 2**20,
                     include_dashboard=False, log_to_driver=False, logging_level="WARNING")
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    try:
        yield ray
    finally:
        ray.shutdown()


class Looker:
    """Stands in for the student's decisions: always looks at the code (a deterministic observation)."""

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        return [Completion(text=LOOK, model_version="scripted") for _ in conversations]

    def close(self) -> None:
        pass


class CountingTeacher:
    """The oracle, counting the states it labels; ``before_label(call)`` runs first (the fault tests kill there)."""

    def __init__(self, before_label: Any = None) -> None:
        self.inner = make_teacher(TeacherConfig())
        self.teacher_id = self.inner.teacher_id
        self.states = 0
        self.calls = 0
        self.before_label = before_label

    def label(self, states: Sequence[TeacherState]) -> list[str]:
        self.calls += 1
        if self.before_label is not None:
            self.before_label(self.calls)
        self.states += len(states)
        return self.inner.label(states)

    def close(self) -> None:
        self.inner.close()


def run(tasks: list[Task], make_worker: Any, teacher: CountingTeacher,
        on_collector: Any = None) -> list[Trajectory]:
    # 120 s: on a loaded machine a 30 s limit turned one engine's pytest step into a timeout observation
    make = make_swe_env(tasks, EnvConfig(max_turns=4, command_timeout_s=120, allow_unvalidated=True))
    specs = [EpisodeSpec(0, i, t.instance_id, 0.5, seed=200 + i) for i, t in enumerate(tasks)]
    out: list[Trajectory] = []
    with closing(teacher), Collector(make, 2, Agent(AgentConfig(max_prompt_tokens=1024)), Looker(), teacher,
                                     sampling=SamplingParams(max_new_tokens=16), mixing="per_turn", max_turns=4,
                                     make_worker=make_worker) as collector:
        if on_collector is not None:
            on_collector(collector)
        collector.run(specs, out.append)
    return [replace(t, timings={}) for t in out]


@pytest.fixture(scope="module")
def local_run(shape_tasks: list[Task]) -> tuple[list[Trajectory], int]:
    teacher = CountingTeacher()
    return run(shape_tasks[:2], EnvWorker, teacher), teacher.states


PYTEST_DURATION = re.compile(r" in \d+\.\d+s\b")


def steady(trajs: list[Trajectory]) -> list[Trajectory]:
    """``trajs`` with pytest's wall time (``1 passed in 0.72s``) taken out of the observations: the one part of an
    episode that differs between two runs of the same seed on a loaded machine."""
    return [replace(t, turns=tuple(replace(u, observation=PYTEST_DURATION.sub(" in _s",
                                                                                                  u.observation))
                                                for u in t.turns)) for t in trajs]


def engine(ray: Any) -> Any:
    from swe_dagger.dagger.rollout.ray_engine import RayEngine

    return RayEngine(RolloutConfig(engine="ray", ray_actor_cpus=0), sandbox="local", actors=2, log=lambda _: None)


def test_ray_engine_gives_the_local_engines_trajectories_and_labels(
        ray_cluster: Any, shape_tasks: list[Task], local_run: tuple[list[Trajectory], int]) -> None:
    expected, expected_states = local_run
    teacher = CountingTeacher()
    with closing(engine(ray_cluster)) as eng:
        got = run(shape_tasks[:2], eng.worker, teacher)
        assert len({s.pid for s in eng.pool.slots}) == 2 and eng.pool.lost_actors == 0
    assert {a for t in got for a in (turn.author for turn in t.turns)} == {"student", "teacher"}
    assert steady(got) == steady(expected)
    assert [label_rows(t) for t in steady(got)] == [label_rows(t) for t in steady(expected)]
    assert teacher.states == expected_states


@pytest.mark.parametrize("how", ["ray.kill", "SIGKILL"])
def test_an_actor_killed_mid_episode_is_rebuilt_elsewhere_without_losing_or_repeating_labels(
        ray_cluster: Any, shape_tasks: list[Task], local_run: tuple[list[Trajectory], int], how: str) -> None:
    expected, expected_states = local_run
    collector: list[Collector] = []
    killed: list[int] = []

    def kill_first_actor(call: int) -> None:
        if call != 2:  # the second turn: episode 0 has stepped once on its actor
            return
        slot = collector[0].workers[0].slot
        killed.append(slot.pid)
        if how == "ray.kill":
            ray_cluster.kill(slot.actor, no_restart=True)
        else:
            os.kill(slot.pid, signal.SIGKILL)

    teacher = CountingTeacher(kill_first_actor)
    with closing(engine(ray_cluster)) as eng:
        got = run(shape_tasks[:2], eng.worker, teacher, on_collector=collector.append)
        assert eng.pool.lost_actors == 1 and killed and killed[0] not in {s.pid for s in eng.pool.slots}
    assert [t.episode for t in got] == [0, 1]  # each episode once
    assert steady(got) == steady(expected)  # turns, actions, labels, rewards: as if nothing happened
    assert [label_rows(t) for t in steady(got)] == [label_rows(t) for t in steady(expected)]
    assert teacher.states == expected_states  # no state labeled twice


def test_an_actor_that_dies_before_it_ran_is_replaced(ray_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from swe_dagger.dagger.rollout.ray_engine import ActorPool

    spawn, doomed = ActorPool._spawn, list[Any]()

    def spawn_and_kill_the_first(pool: ActorPool) -> Any:
        slot = spawn(pool)
        if not doomed:  # killed before its worker ran it: what a node leaving during start-up does to its actors
            doomed.append(slot)
            ray_cluster.kill(slot.actor, no_restart=True)
        return slot

    monkeypatch.setattr(ActorPool, "_spawn", spawn_and_kill_the_first)
    pool = ActorPool(ray_cluster, 2, {"num_cpus": 0, "resources": {"sandbox_local": 1}})
    try:
        assert pool.lost_actors == 1 and doomed[0] not in pool.slots
        assert all(s.node is not None for s in pool.slots) and len({s.pid for s in pool.slots}) == 2
    finally:
        pool.close()


def test_a_cluster_without_room_is_one_error_naming_the_resource(ray_cluster: Any) -> None:
    from swe_dagger.dagger.rollout.ray_engine import RayEngine

    with pytest.raises(RuntimeError, match=r"cannot host 5 env actors \(sandbox_docker: needs 5, the cluster has 0"):
        RayEngine(RolloutConfig(engine="ray", ray_actor_cpus=0), sandbox="docker", actors=5, log=lambda _: None)


def test_without_ray_the_engine_is_one_config_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from swe_dagger.dagger.config import load_config
    from swe_dagger.dagger.config_checks import check_runnable
    from swe_dagger.typed import ConfigError

    monkeypatch.setitem(sys.modules, "ray", None)  # what an install without the extra sees
    with pytest.raises(ConfigError, match=r"rollout.engine: .*pip install 'swe-dagger\[ray\]'"):
        check_runnable(load_config(overrides=["rollout.engine=ray"]))
