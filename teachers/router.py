"""Several teachers behind one: route each state by task pattern, cheapest first, escalating and falling back.

A :class:`RouterTeacher` holds :class:`Route` entries (a teacher, a task pattern, a cost). For each state the
candidates are the routes whose pattern matches the task, cheapest first (ties keep the listed order). Each
candidate labels the states still open in one batch; a state goes on to the next candidate when

* the reply is *invalid* (no single bash block: :func:`~swe_dagger.envs.actions.parse_action` refuses it) —
  *escalation*, or
* the candidate *raised* (endpoint down, :class:`~swe_dagger.teachers.protocol.TeacherError`) — *fallback*; the
  labels a failed batch did get are kept.

A state no candidate labels validly ends the batch in a ``TeacherError`` naming the task and every reason. The
router records which teacher gave each label of the last batch (:attr:`RouterTeacher.last_sources`), so the
collector stamps it on the turn; each route's teacher is metered (and cached) on its own, so costs are per teacher.
"""

from __future__ import annotations

import fnmatch
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from swe_dagger.envs.actions import FormatError, parse_action
from swe_dagger.envs.task import Task
from swe_dagger.teachers.cost import TeacherUsage, usage_of
from swe_dagger.teachers.factory import TeacherConfig, check_teacher_fields, make_teacher
from swe_dagger.teachers.protocol import Teacher, TeacherError, TeacherState


def task_matcher(pattern: str | None) -> re.Pattern[str] | None:
    """``None``/``*`` = every task; ``re:EXPR`` = a regex searched in the instance id and the repo; anything else
    a glob matched against the instance id or the repo (``django__*``, ``*-1234``, ``owner/*``)."""
    if pattern is None or pattern.strip() in ("", "*"):
        return None
    if pattern.startswith("re:"):
        try:
            return re.compile(pattern[3:])
        except re.error as exc:
            raise ValueError(f"task pattern {pattern!r} is not a valid regex: {exc}") from None
    return re.compile(fnmatch.translate(pattern))


@dataclass(frozen=True)
class Route:
    """One teacher of a router: which tasks it may label and what a label from it costs (relative units)."""

    teacher: Teacher
    tasks: str | None = None
    """Task pattern (see :func:`task_matcher`); ``None`` = every task."""
    cost: float = 0.0
    """Cheapest first; equal costs keep the order given."""

    def matches(self, task: Task) -> bool:
        matcher = task_matcher(self.tasks)
        if matcher is None:
            return True
        if self.tasks is not None and self.tasks.startswith("re:"):
            return any(matcher.search(s) for s in (task.instance_id, task.repo))
        return any(matcher.fullmatch(s) for s in (task.instance_id, task.repo))


def valid_reply(text: str) -> bool:
    """A reply the env can execute: exactly one bash block (the format check of the env itself)."""
    try:
        parse_action(text)
    except FormatError:
        return False
    return True


@dataclass(frozen=True)
class RouterStats:
    """How often the router went past its first candidate."""

    escalations: int = 0
    """States passed on because a teacher's reply was invalid."""
    fallbacks: int = 0
    """States passed on because a teacher raised."""


class RouterTeacher:
    """A :class:`~swe_dagger.teachers.protocol.Teacher` over several routes (see the module docstring)."""

    def __init__(self, routes: Sequence[Route]) -> None:
        if not routes:
            raise ValueError("a teacher router needs at least one route (teachers: [...] is empty)")
        for route in routes:
            task_matcher(route.tasks)  # a bad pattern fails here, not at the first label
        self.routes = list(routes)
        self.stats = RouterStats()
        self.last_sources: list[str] = []
        self._closed = False

    @property
    def teacher_id(self) -> str:
        return "router(" + ",".join(r.teacher.teacher_id for r in self.routes) + ")"

    def candidates(self, task: Task) -> list[int]:
        """Indices of the routes that may label ``task``, cheapest first."""
        order = sorted(range(len(self.routes)), key=lambda k: (self.routes[k].cost, k))
        return [k for k in order if self.routes[k].matches(task)]

    def label(self, states: Sequence[TeacherState]) -> list[str]:
        chains = [self.candidates(s.task) for s in states]
        for state, chain in zip(states, chains, strict=True):
            if not chain:
                raise TeacherError(f"no teacher route matches task {state.task.instance_id!r} (patterns: "
                                   f"{[r.tasks for r in self.routes]})")
        labels: list[str | None] = [None] * len(states)
        sources = [""] * len(states)
        reasons: list[list[str]] = [[] for _ in states]
        step = 0
        while True:
            todo: dict[int, list[int]] = {}  # route index -> open states that try it at this step
            for i, chain in enumerate(chains):
                if labels[i] is None and step < len(chain):
                    todo.setdefault(chain[step], []).append(i)
            if not todo:
                break
            for k, idx in todo.items():
                self._try(self.routes[k], idx, states, labels, sources, reasons)
            step += 1
        self.last_sources = sources
        missing = [i for i, text in enumerate(labels) if text is None]
        if missing:
            first = missing[0]
            raise TeacherError(f"{len(missing)} state(s) got no valid label from any teacher; task "
                               f"{states[first].task.instance_id}: {'; '.join(reasons[first])}", labels)
        return [text for text in labels if text is not None]

    def _try(self, route: Route, idx: list[int], states: Sequence[TeacherState], labels: list[str | None],
             sources: list[str], reasons: list[list[str]]) -> None:
        """Ask ``route`` for the states ``idx``; keep its valid labels, note why the others move on."""
        tid = route.teacher.teacher_id
        try:
            got: Sequence[str | None] = route.teacher.label([states[i] for i in idx])
            error = None
        except Exception as exc:  # fallback: the next candidate gets these states
            got = exc.labels if isinstance(exc, TeacherError) and len(exc.labels) == len(idx) else [None] * len(idx)
            error = f"{tid} raised {type(exc).__name__}: {exc}"
            warnings.warn(f"teacher router: {error}; falling back for {len(idx)} state(s)", stacklevel=3)
        if len(got) != len(idx):
            raise RuntimeError(f"teacher {tid!r} returned {len(got)} labels for {len(idx)} states")
        for i, text in zip(idx, got, strict=True):
            if text is not None and valid_reply(text):
                labels[i], sources[i] = text, tid
            elif text is None:
                reasons[i].append(error or f"{tid} gave no label")
                self.stats = replace(self.stats, fallbacks=self.stats.fallbacks + 1)
            else:
                reasons[i].append(f"{tid} replied without exactly one bash block")
                self.stats = replace(self.stats, escalations=self.stats.escalations + 1)

    @property
    def usages(self) -> list[TeacherUsage]:
        """Per-teacher usage (metered routes only), in route order."""
        return [u for u in (usage_of(r.teacher) for r in self.routes) if u is not None]

    @property
    def usage(self) -> TeacherUsage:
        """All routes' usage summed (``dollars`` only when some route is priced)."""
        total = TeacherUsage(teacher_id=self.teacher_id)
        for u in self.usages:
            dollars = total.dollars if u.dollars is None else (total.dollars or 0.0) + u.dollars
            total = replace(total, calls=total.calls + u.calls, labels=total.labels + u.labels,
                            prompt_tokens=total.prompt_tokens + u.prompt_tokens,
                            completion_tokens=total.completion_tokens + u.completion_tokens,
                            seconds=total.seconds + u.seconds, dollars=dollars)
        return total

    def close(self) -> None:
        """Close every route's teacher (all of them, even when one raises); safe twice."""
        if self._closed:
            return
        self._closed = True
        errors = []
        for route in self.routes:
            try:
                route.teacher.close()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


def label_sources(teacher: object, count: int) -> list[str | None]:
    """Which teacher gave each of the last ``count`` labels: a router's :attr:`~RouterTeacher.last_sources` (looked
    up through ``inner`` wrappers), else the teacher's own id for all."""
    node, seen = teacher, 0
    while node is not None and seen < 16:
        if isinstance(node, RouterTeacher) and len(node.last_sources) == count:
            return list(node.last_sources)
        node, seen = getattr(node, "inner", None), seen + 1
    tid = getattr(teacher, "teacher_id", None)
    return [tid if isinstance(tid, str) else None] * count


@dataclass(frozen=True)
class TeacherRouteConfig:
    """One teacher of the run config's ``teachers:`` list (README "Several teachers"), before it is built."""

    name: str
    """Registry name, plugin or ``pkg.module:Class``, as ``teacher.name``."""
    options: dict[str, str] = field(default_factory=dict)
    """Constructor options, as ``teacher.options``."""
    tasks: str | None = None
    """Which tasks it may label: a glob on the instance id or repo (``django__*``), ``re:REGEX``, or null = all."""
    cost: float = 0.0
    """Relative cost: the cheapest matching teacher is asked first; an invalid reply or an error goes to the next."""
    price_per_1k_prompt: float | None = None
    """$ per 1000 prompt tokens (metering of model-backed teachers)."""
    price_per_1k_completion: float | None = None

    def __post_init__(self) -> None:
        check_teacher_fields("teachers[]", self.name, self.price_per_1k_prompt, self.price_per_1k_completion)
        if not (math.isfinite(self.cost) and self.cost >= 0):
            raise ValueError(f"teachers[].cost must be a finite number >= 0, got {self.cost!r}")

    def teacher(self) -> TeacherConfig:
        """The route's teacher as the factory builds it (cached where the router's teachers are)."""
        return TeacherConfig(name=self.name, options=dict(self.options), price_per_1k_prompt=self.price_per_1k_prompt,
                             price_per_1k_completion=self.price_per_1k_completion)


def make_router(specs: Sequence[TeacherRouteConfig], cache_dir: Path | None) -> RouterTeacher:
    """A router over ``specs``, each teacher built by the factory: metered on its own, cached in its own file."""
    routes: list[Route] = []
    try:
        for spec in specs:
            teacher = make_teacher(spec.teacher(), cache_dir)
            routes.append(Route(teacher, spec.tasks, spec.cost))
        ids = [r.teacher.teacher_id for r in routes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"teachers: two routes have the same teacher id {ids} (labels could not say which gave "
                             "them); give them different options")
        return RouterTeacher(routes)
    except BaseException:
        for route in routes:
            route.teacher.close()
        raise
