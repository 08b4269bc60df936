"""The collector: episodes over N concurrent envs, the mixture policy acting, the teacher labeling every state.

Episodes run in *waves* of ``num_envs`` (episode indices [0, N), [N, 2N), ...), all turns of a wave in lock step:

1. the actor of each live episode is drawn (``ActorChooser``, seeded per episode);
2. each state is rendered by the agent; the workspace diffs are read in parallel;
3. ONE teacher call labels every state that needs it: teacher-acted states (their label is the action — no second
   call) and, when labeling, the student-acted states ``dagger.relabel`` picks (:mod:`.relabel`), while the
   collection's teacher-call budget lasts (then the student acts and nothing is labeled);
4. ONE student call generates the replies of all student-acted states;
5. the chosen actions are stepped in parallel; finished episodes become frozen ``Trajectory`` records.

A wave's batches depend only on the wave, so re-running it after a crash reproduces its episodes exactly; the
caller is told which episodes it already has and only the others are handed back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from swe_dagger.agents.protocol import Completion, Conversation, Policy, SamplingParams, StateRenderer
from swe_dagger.dagger.records import Author, Trajectory, Turn, Unlabeled
from swe_dagger.dagger.rollout.env_worker import EnvWorker, MakeWorker, Reset, Worker
from swe_dagger.dagger.rollout.prefetch import Prefetch, close_ready
from swe_dagger.dagger.rollout.relabel import Relabel, asks_teacher
from swe_dagger.dagger.run.metrics import agrees
from swe_dagger.dagger.run.provenance import teacher_model
from swe_dagger.dagger.schedule import ActorChooser, MixingMode, derive_seed
from swe_dagger.envs.task import Task
from swe_dagger.teachers.protocol import Teacher, TeacherState
from swe_dagger.teachers.router import label_sources


@dataclass(frozen=True)
class EpisodeSpec:
    """What to run: which task, under which β and seed, and whether student states get teacher labels."""

    iteration: int
    episode: int
    task_id: str
    beta: float
    seed: int
    label: bool = True
    relabel: Relabel = "all"
    """Which student states get labels (:mod:`~swe_dagger.dagger.rollout.relabel`)."""
    horizon: int | None = None
    """``prefix`` mixing: the student acts for the first ``horizon`` turns (``None``: drawn from β)."""


@dataclass
class _Live:
    """Main-thread bookkeeping of one running episode (never shared with workers)."""

    spec: EpisodeSpec
    worker: Worker
    chooser: ActorChooser
    task: Task
    prefix: Conversation
    turns: list[Turn] = field(default_factory=list)
    teacher_calls: int = 0
    env_s: float = 0.0
    started: float = field(default_factory=time.perf_counter)


class Collector:
    """Runs episode specs with a student ``Policy`` and a ``Teacher`` over ``num_envs`` env workers: the package's
    one episode loop (training collection, ``swe-dagger eval``, and ``swebench-eval`` with one env per instance).
    Either side may be ``None`` when the specs never need it (β = 0 without labels; β = 1). An episode whose env a
    ``prepared`` :class:`~swe_dagger.dagger.rollout.prefetch.Prefetch` reset ahead starts in that env.
    ``make_worker`` builds a worker from the env factory: a thread's ``EnvWorker`` here, an ``AutoSubmitWorker``
    (turn-limit cuts graded as submissions), or an env on a Ray actor
    (:meth:`~swe_dagger.dagger.rollout.ray_engine.RayEngine.worker`)."""

    def __init__(
        self,
        make_env: Callable[[], Any],
        num_envs: int,
        agent: Any,
        policy: Policy | None,
        teacher: Teacher | None,
        *,
        sampling: SamplingParams,
        mixing: MixingMode,
        max_turns: int,
        count_tokens: Callable[[str], int] | None = None,
        model_version: str = "",
        prepared: Prefetch | None = None,
        make_worker: MakeWorker = EnvWorker,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        # envs reset ahead for some episodes (``rollout overlap``): a wave takes them instead of resetting its own
        self._prepared = prepared.take() if prepared is not None else {}
        self.prepared_used = 0
        self.agent: StateRenderer = agent
        self._initial = agent.initial_messages
        self.policy, self.teacher = policy, teacher
        self.sampling, self.mixing, self.max_turns = sampling, mixing, max_turns
        self.count_tokens, self.model_version = count_tokens, model_version
        self._teacher_model = teacher_model(teacher)
        self._closed = False
        self._calls_left: int | None = None
        self._pool = ThreadPoolExecutor(max_workers=num_envs, thread_name_prefix="env")
        try:
            self.workers = list(self._pool.map(lambda _: make_worker(make_env), range(num_envs)))
        except BaseException:
            self.workers = []
            self.close()
            raise

    def run(
        self,
        specs: Sequence[EpisodeSpec],
        on_episode: Callable[[Trajectory], None],
        *,
        done: frozenset[int] = frozenset(),
        calls_left: int | None = None,
    ) -> None:
        """Run ``specs`` wave by wave; ``on_episode`` gets each finished episode not in ``done``, in index order.
        ``calls_left``: teacher labels these specs may still use (``None`` = no limit); states past it go unlabeled
        and the student acts (the budget is spent in turn order, so a re-run wave spends it the same way)."""
        n = len(self.workers)
        self._calls_left = calls_left
        for start in range(0, len(specs), n):
            wave = list(specs[start : start + n])
            if all(s.episode in done for s in wave):
                continue
            for traj in sorted(self._run_wave(wave), key=lambda t: t.episode):
                if traj.episode not in done:
                    on_episode(traj)

    def _run_wave(self, wave: list[EpisodeSpec]) -> list[Trajectory]:
        resets = list(self._pool.map(self._reset, range(len(wave)), wave))
        live = [
            _Live(spec, worker, ActorChooser(self.mixing, spec.beta, self.max_turns, derive_seed(spec.seed, "mix"),
                                             horizon=spec.horizon),
                  r.task, self._initial(r.observation))
            for spec, worker, r in zip(wave, self.workers, resets, strict=False)
        ]
        finished: list[Trajectory] = []
        step_index = 0
        while live:
            finished.extend(self._tick(live, step_index))
            live = [ep for ep in live if not any(t.episode == ep.spec.episode for t in finished)]
            step_index += 1
        return finished

    def _reset(self, k: int, spec: EpisodeSpec) -> Reset:
        """Worker ``k`` reset for ``spec``: the env prepared for it if there is one (the worker's own closes)."""
        ready = self._prepared.pop((spec.task_id, spec.seed), None)
        if ready is None:
            return self.workers[k].reset(spec.task_id, spec.seed)
        self.workers[k], old = ready.worker, self.workers[k]
        self.prepared_used += 1
        old.close()
        return ready.reset

    def _tick(self, live: list[_Live], step_index: int) -> list[Trajectory]:
        """One turn of every live episode; returns the episodes that ended."""
        actors = [ep.chooser.actor(len(ep.turns)) for ep in live]
        convs = [self.agent.render(ep.prefix, [(t.action, t.observation) for t in ep.turns], self.count_tokens)
                 for ep in live]
        wants_label, unlabeled = self._wants_labels(actors, live)
        labels = self._label([ep for ep, w in zip(live, wants_label, strict=True) if w],
                             [c for c, w in zip(convs, wants_label, strict=True) if w])
        label_of = dict(zip([i for i, w in enumerate(wants_label) if w], labels, strict=True))
        source_of = dict(zip(label_of, label_sources(self.teacher, len(labels)), strict=True))
        student_idx = [i for i, a in enumerate(actors) if a == "student"]
        completions = self._generate([convs[i] for i in student_idx], live, step_index)
        completion_of = dict(zip(student_idx, completions, strict=True))
        actions = [label_of[i] if a == "teacher" else completion_of[i].text for i, a in enumerate(actors)]
        steps = list(self._pool.map(lambda p: p[0].worker.step(p[1]), zip(live, actions, strict=True)))
        ended = []
        for i, (ep, step) in enumerate(zip(live, steps, strict=True)):
            ep.env_s += step.seconds
            ep.teacher_calls += int(i in label_of)
            comp = completion_of.get(i)
            label = label_of.get(i)
            if label is not None and actors[i] == "student" and ep.spec.relabel == "disagreement" \
                    and agrees(actions[i], label):
                label, unlabeled[i] = None, "agreed"  # the teacher would do the same: nothing to learn here
            ep.turns.append(Turn(
                index=len(ep.turns), author=actors[i], action=actions[i], teacher_label=label,
                observation=step.observation, format_error=step.format_error,
                token_ids=comp.token_ids if comp else None, logprobs=comp.logprobs if comp else None,
                model_version=(comp.model_version or self.model_version) if comp else "",
                teacher_id=source_of.get(i) if label is not None else None, unlabeled=unlabeled[i],
            ))
            if step.terminated or step.truncated:
                ended.append(self._trajectory(ep, step))
        return ended

    def _wants_labels(self, actors: list[Author], live: list[_Live]) -> tuple[list[bool], list[Unlabeled | None]]:
        """Which states go to the teacher (the relabel rule, then the call budget in turn order); ``actors`` is
        updated in place where the budget takes the teacher's turn away (the student acts instead)."""
        wants: list[bool] = []
        why: list[Unlabeled | None] = []
        for i, ep in enumerate(live):
            asked = actors[i] == "teacher" or (ep.spec.label and asks_teacher(ep.spec.relabel, ep.turns))
            reason: Unlabeled | None = "no_failure" if ep.spec.label and not asked else None
            if asked and self._calls_left is not None:
                if self._calls_left <= 0:
                    asked, reason, actors[i] = False, "budget" if ep.spec.label else None, "student"
                else:
                    self._calls_left -= 1
            wants.append(asked)
            why.append(reason)
        return wants, why

    def _label(self, eps: list[_Live], convs: list[Conversation]) -> list[str]:
        if not eps:
            return []
        if self.teacher is None:
            raise RuntimeError("a teacher label was needed (β > 0 or labeling on) but the collector has no teacher")
        diffs = list(self._pool.map(lambda ep: ep.worker.diff(), eps))
        states = [TeacherState(ep.task, conv, d) for ep, conv, d in zip(eps, convs, diffs, strict=True)]
        labels = self.teacher.label(states)
        if len(labels) != len(states):
            raise RuntimeError(f"teacher {self.teacher.teacher_id} returned {len(labels)} labels for {len(states)}")
        return labels

    def _generate(self, convs: list[Conversation], live: list[_Live], step_index: int) -> list[Completion]:
        if not convs:
            return []
        if self.policy is None:
            raise RuntimeError("a student action was needed (β < 1) but the collector has no student policy")
        seed = derive_seed(*(ep.spec.seed for ep in live), step_index)
        completions = self.policy.generate(convs, replace(self.sampling, seed=seed % 2**31))
        if len(completions) != len(convs):
            raise RuntimeError(f"student policy returned {len(completions)} completions for {len(convs)} prompts")
        return completions

    def _trajectory(self, ep: _Live, last: Any) -> Trajectory:
        return Trajectory(
            task_id=ep.spec.task_id, prefix=ep.prefix, turns=tuple(ep.turns), reward=last.reward,
            resolution=last.resolution, terminated=last.terminated, truncated=last.truncated, error=last.error,
            iteration=ep.spec.iteration, beta=ep.spec.beta, seed=ep.spec.seed, episode=ep.spec.episode,
            teacher_calls=ep.teacher_calls,
            timings={"wall_s": time.perf_counter() - ep.started, "env_s": ep.env_s},
            patch=last.patch if last.patch is not None or last.error else ep.worker.diff(),
            failed_tests=last.failed_tests,
            teacher_id=self.teacher.teacher_id if self.teacher is not None and ep.teacher_calls else None,
            teacher_model=self._teacher_model if ep.teacher_calls else None,
            student_version=self.model_version or next((t.model_version for t in ep.turns if t.model_version), ""),
            tampered=last.tampered,
        )

    def close(self) -> None:
        """Close every env (and its sandbox), prepared ones not used included; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            for worker in self.workers:
                worker.close()
        finally:
            self._pool.shutdown(wait=True)
            unused, self._prepared = list(self._prepared.values()), {}
            close_ready(unused)

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
