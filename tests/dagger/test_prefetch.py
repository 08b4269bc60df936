"""Envs reset ahead (``dagger.overlap``): real bwrap workspaces of real git repos, the oracle teacher; a scripted
student stands in for the decisions. The collector must start its episodes in the prepared envs and every prepared
env must be closed whether it was used, left over, or abandoned by an error."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.protocol import Completion, Conversation, SamplingParams
from swe_dagger.dagger.config import DaggerConfig, EnvConfig, RunConfig
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.rollout.collector import Collector, EpisodeSpec
from swe_dagger.dagger.rollout.env_worker import make_swe_env
from swe_dagger.dagger.rollout.episodes import CollectRequest, episode_spec
from swe_dagger.dagger.rollout.overlap import Lookahead
from swe_dagger.dagger.rollout.prefetch import Prefetch
from swe_dagger.envs.swe_env import SWEEnv
from swe_dagger.envs.task import Task
from swe_dagger.teachers.factory import TeacherConfig, make_teacher

LOOK = "THOUGHT: look.\n\n```bash\nls\n```"


class ScriptedStudent:
    """Stands in for the student's decisions: always ``ls``; raises on its ``fail_on``-th call (1-based)."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls, self.fail_on = 0, fail_on

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("student crashed")
        return [Completion(text=LOOK, model_version="scripted") for _ in conversations]

    def close(self) -> None:
        pass


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Any]]:
    """Every workspace an env opens for a reset: (task id, opening thread's name, sandbox)."""
    seen: list[tuple[str, str, Any]] = []
    real = SWEEnv._new_sandbox

    def spy(self: SWEEnv, task: Task) -> Any:
        sandbox = real(self, task)
        seen.append((task.instance_id, threading.current_thread().name, sandbox))
        return sandbox

    monkeypatch.setattr(SWEEnv, "_new_sandbox", spy)
    return seen


def _make(tasks: list[Task]) -> Any:
    return make_swe_env(tasks, EnvConfig(max_turns=1, allow_unvalidated=True))


def _specs(tasks: list[Task]) -> list[EpisodeSpec]:
    return [EpisodeSpec(0, i, t.instance_id, 0.0, seed=100 + i) for i, t in enumerate(tasks)]


def _collect(tasks: list[Task], specs: list[EpisodeSpec], prepared: Prefetch | None,
             student: ScriptedStudent, num_envs: int = 2) -> tuple[list[Trajectory], int]:
    out: list[Trajectory] = []
    with closing(make_teacher(TeacherConfig())) as teacher, \
            Collector(_make(tasks), num_envs, Agent(AgentConfig(max_prompt_tokens=1024)), student, teacher,
                      sampling=SamplingParams(max_new_tokens=16), mixing="per_turn", max_turns=1,
                      prepared=prepared) as collector:
        collector.run(specs, out.append)
        return out, collector.prepared_used


def _plain(traj: Trajectory) -> tuple[Any, ...]:
    return (traj.task_id, traj.prefix, [(t.action, t.teacher_label, t.observation) for t in traj.turns], traj.patch)


def test_collector_starts_episodes_in_prepared_envs(shape_tasks: list[Task], opened: list) -> None:
    tasks, specs = shape_tasks[:2], _specs(shape_tasks[:2])
    baseline, used = _collect(tasks, specs, None, ScriptedStudent(), num_envs=1)
    assert used == 0 and all(name.startswith("env") for _, name, _ in opened)
    opened.clear()

    prefetch = Prefetch(_make(tasks), [(specs[0].task_id, specs[0].seed)])  # the first wave, during "SFT"
    assert prefetch.wait(timeout=120)
    trajs, used = _collect(tasks, specs, prefetch, ScriptedStudent(), num_envs=1)
    assert used == 1
    # each episode's workspace opened once: the first wave's ahead, the second wave's by the collector
    assert [(tid, name.split("_")[0]) for tid, name, _ in opened] == [(specs[0].task_id, "prefetch"),
                                                                      (specs[1].task_id, "env")]
    assert [_plain(t) for t in trajs] == [_plain(t) for t in baseline]  # same episodes as without overlap
    assert all(not sb.host_dir.exists() for _, _, sb in opened)  # all closed with the collector


def test_prepared_envs_are_closed_when_collection_fails(shape_tasks: list[Task], opened: list) -> None:
    tasks, specs = shape_tasks[:4], _specs(shape_tasks[:4])
    prefetch = Prefetch(_make(tasks), [(s.task_id, s.seed) for s in specs])  # two waves ahead
    assert prefetch.wait(timeout=120)
    with pytest.raises(RuntimeError, match="student crashed"):
        _collect(tasks, specs, prefetch, ScriptedStudent(fail_on=1))  # dies in the first wave
    prepared = [sb for _, name, sb in opened if name == "prefetch"]
    assert len(prepared) == 4 and all(not sb.host_dir.exists() for sb in prepared)  # second wave's: unused, closed
    prefetch.close()  # the collector took them: nothing left, and safe after it


def test_prefetch_never_taken_is_closed(shape_tasks: list[Task], opened: list) -> None:
    specs = _specs(shape_tasks[:2])
    with Prefetch(_make(shape_tasks[:2]), [(s.task_id, s.seed) for s in specs]) as prefetch:
        pass  # an error during SFT: the envs are never taken
    assert all(not sb.host_dir.exists() for _, _, sb in opened)
    prefetch.close()
    assert prefetch.take() == {}


def test_prefetch_reports_a_failed_reset(shape_tasks: list[Task]) -> None:
    prefetch = Prefetch(_make(shape_tasks[:1]), [("no-such-task", 1), (shape_tasks[0].instance_id, 2)])
    assert prefetch.take() == {}  # stops at the failure; the collector's own reset meets it again
    assert prefetch.error is not None and "no-such-task" in prefetch.error


def _ctx(tmp_path: Path, overlap: bool, tasks: list[Task]) -> Any:
    """The parts of a RunContext the lookahead reads (a run dir, the config, a display)."""
    cfg = RunConfig(dagger=DaggerConfig(overlap=overlap), env=EnvConfig(allow_unvalidated=True, max_turns=1))
    return SimpleNamespace(cfg=cfg, run_dir=tmp_path, test_tasks=tasks, display=SimpleNamespace(log=print))


def _req(tasks: list[Task], kind: str = "eval", iteration: int = 0) -> CollectRequest:
    return CollectRequest(kind=kind, iteration=iteration, beta=0.0, tasks=tasks, student=Path("ckpt"), label=False,
                          episodes=2)


def test_lookahead_prepares_the_named_collection_only_when_on(
        shape_tasks: list[Task], opened: list, tmp_path: Path) -> None:
    tasks = shape_tasks[:2]
    with Lookahead(_ctx(tmp_path, False, tasks)) as off:
        off.prepare(_req(tasks))
        assert off.take(_req(tasks)) is None and opened == []
    with Lookahead(_ctx(tmp_path, True, tasks)) as on:
        on.prepare(_req(tasks))
        prefetch = on.take(_req(tasks))
        assert prefetch is not None and prefetch.wait(timeout=120)
        ready = prefetch.take()
        expected = {(s.task_id, s.seed) for s in (episode_spec(_req(tasks), 0, e) for e in range(2))}
        assert set(ready) == expected  # the episodes the collection will run, by task and seed
        for r in ready.values():
            r.worker.close()
        on.prepare(_req(tasks, kind="train", iteration=1))
        assert on.take(_req(tasks)) is None  # another collection came next: what was prepared is closed
    assert all(not sb.host_dir.exists() for _, _, sb in opened)
