"""The teacher router: task patterns, cheapest first, escalation on an invalid reply, fallback on an error, per-teacher
metering — over the real oracle on a real repo; scripted teachers stand in for a cheap model's *decisions* only."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from swe_dagger.agents.protocol import Message
from swe_dagger.teachers.cost import MeteredTeacher, usage_of
from swe_dagger.teachers.oracle import OracleTeacher
from swe_dagger.teachers.protocol import TeacherError, TeacherState
from swe_dagger.teachers.router import (
    Route,
    RouterTeacher,
    TeacherRouteConfig,
    label_sources,
    make_router,
    task_matcher,
)

LS = "THOUGHT: look.\n\n```bash\nls\n```"


class Scripted:
    """A teacher whose decision is fixed: always ``reply``, or raising ``error``."""

    def __init__(self, teacher_id: str, reply: str = LS, error: Exception | None = None) -> None:
        self.teacher_id, self.reply, self.error = teacher_id, reply, error
        self.asked: list[str] = []
        self.closed = 0

    def label(self, states: Sequence[TeacherState]) -> list[str]:
        self.asked += [s.task.instance_id for s in states]
        if self.error is not None:
            raise self.error
        return [self.reply for _ in states]

    def close(self) -> None:
        self.closed += 1


def _state(task, instance_id: str | None = None) -> TeacherState:
    if instance_id is not None:
        task = dataclasses.replace(task, instance_id=instance_id)
    return TeacherState(task, (Message("system", "s"), Message("user", task.problem_statement)), "")


def test_task_patterns_route_each_state_to_its_teacher(tiny_repo) -> None:
    django, other = Scripted("django-model"), Scripted("general")
    router = RouterTeacher([Route(django, tasks="django__*"), Route(other)])
    states = [_state(tiny_repo.task, "django__django-1"), _state(tiny_repo.task, "sympy__sympy-2")]
    assert router.label(states) == [LS, LS]
    assert django.asked == ["django__django-1"] and other.asked == ["sympy__sympy-2"]
    assert router.last_sources == ["django-model", "general"]
    assert label_sources(router, 2) == ["django-model", "general"]
    assert task_matcher("re:sym.y") is not None and Route(other, tasks="re:sym.y").matches(states[1].task)
    with pytest.raises(ValueError, match="not a valid regex"):
        RouterTeacher([Route(other, tasks="re:(")])


def test_cheapest_first_escalates_invalid_replies_to_the_oracle(tiny_repo) -> None:
    cheap = Scripted("cheap", reply="I think you should edit the file.")  # no bash block: invalid
    oracle = MeteredTeacher(OracleTeacher())
    router = RouterTeacher([Route(oracle, cost=10.0), Route(cheap, cost=0.1)])
    states = [_state(tiny_repo.task), _state(tiny_repo.task, "other-task")]
    labels = router.label(states)
    assert cheap.asked == [states[0].task.instance_id, "other-task"]  # asked first: it is cheaper
    assert all("```bash" in label for label in labels) and router.last_sources == [oracle.teacher_id] * 2
    assert router.stats.escalations == 2 and router.stats.fallbacks == 0
    usage = usage_of(oracle)
    assert usage is not None and usage.labels == 2 and router.usage.labels == 2  # metered per teacher


def test_fallback_on_error_and_a_clear_error_when_nobody_labels(tiny_repo) -> None:
    down = Scripted("down", error=ConnectionError("endpoint unreachable"))
    oracle = OracleTeacher()
    router = RouterTeacher([Route(down), Route(oracle, cost=1.0)])
    with pytest.warns(UserWarning, match="down raised ConnectionError"):
        (label,) = router.label([_state(tiny_repo.task)])
    assert "```bash" in label and router.last_sources == [oracle.teacher_id] and router.stats.fallbacks == 1
    alone = RouterTeacher([Route(Scripted("down2", error=TeacherError("no valid action", [None])))])
    with pytest.warns(UserWarning), pytest.raises(TeacherError, match="down2 raised TeacherError: no valid action"):
        alone.label([_state(tiny_repo.task)])
    nowhere = RouterTeacher([Route(Scripted("django-only"), tasks="django__*")])
    with pytest.raises(TeacherError, match="no teacher route matches task"):
        nowhere.label([_state(tiny_repo.task)])


def test_make_router_meters_and_caches_each_teacher_and_closes_all(tiny_repo, tmp_path) -> None:
    router = make_router([TeacherRouteConfig("oracle", {}, tasks="re:.", cost=0.0),
                          TeacherRouteConfig("oracle", {"reproduce": "true"}, cost=1.0)], tmp_path)
    router.label([_state(tiny_repo.task)])
    assert [u.labels for u in router.usages] == [1, 0]
    (cache,) = tmp_path.iterdir()  # the first (cheapest) route's own cache file; the second was never asked
    assert cache.name.startswith("oracle") and "repro" not in cache.name and len(cache.read_text().splitlines()) == 1
    router.close()
    router.close()
    with pytest.raises(ValueError, match="same teacher id"):
        make_router([TeacherRouteConfig("oracle", {}), TeacherRouteConfig("oracle", {})], tmp_path)
