"""Overlap (``dagger.overlap``): while the student trains, the next collection's envs are reset in the background.

What runs during SFT must not depend on the weights SFT is producing. A reset does not: it is a function of the
episode's task and seed (a fresh workspace at the base commit and the task prompt), both fixed by the episode's
index (:func:`~swe_dagger.dagger.rollout.episodes.episode_spec`). So the loop names the collection that follows the
training step (the held-out evaluation, or the next iteration's collection when this one is not evaluated) and a
:class:`~swe_dagger.dagger.rollout.prefetch.Prefetch` resets the envs of its first episodes while SFT runs; the
collection then starts its episodes in them. Episodes already in the collection's log (a resumed run) are not prepared.

Records are untouched: only the collector writes episodes, as without overlap, and an env prepared for an episode
that never runs (the collection stopped at its label budget, the run failed or was interrupted) is closed unused —
by the collector, by the next :meth:`Lookahead.prepare`, or by :meth:`Lookahead.close` at the end of the phase.
A killed run leaves its prepared workspaces to the next run's start-up sweep, like every other workspace.
"""

from __future__ import annotations

from swe_dagger.dagger.rollout.episode_log import episode_log, read_trajectories
from swe_dagger.dagger.rollout.episodes import CollectRequest, env_factory, episode_spec, worker_factory
from swe_dagger.dagger.rollout.prefetch import Prefetch
from swe_dagger.dagger.run.context import RunContext


class Lookahead:
    """At most one collection's envs in preparation; does nothing unless ``dagger.overlap`` is on."""

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx
        self._pending: tuple[CollectRequest, Prefetch] | None = None

    def prepare(self, req: CollectRequest | None) -> None:
        """Start resetting the envs of ``req``'s first ``req.episodes`` episodes (none: only close what was
        pending); the envs of a previous ``prepare`` that no collection took are closed."""
        self.close()
        if req is None or not self._ctx.cfg.dagger.overlap:
            return
        have = {t.episode for t in read_trajectories(episode_log(self._ctx.run_dir, req.kind, req.iteration))}
        specs = [episode_spec(req, self._ctx.cfg.seed, e) for e in range(req.episodes) if e not in have]
        if specs:
            keys = [(s.task_id, s.seed) for s in specs]
            self._pending = (req, Prefetch(env_factory(self._ctx, req.tasks), keys,
                                                   worker_factory(self._ctx)))

    def take(self, req: CollectRequest) -> Prefetch | None:
        """The envs prepared for ``req`` (same kind and iteration), for its collector; ``None`` if there are none."""
        if self._pending is None:
            return None
        pending, prefetch = self._pending
        if (pending.kind, pending.iteration) != (req.kind, req.iteration):
            self.close()
            return None
        return prefetch  # still ours to close: a no-op once the collector has taken its envs

    def close(self) -> None:
        """Close the envs prepared and not taken; safe to call twice."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending[1].close()
            if pending[1].error is not None:
                self._ctx.display.log(f"overlap: {pending[1].error}; the collection reset those envs itself")

    def __enter__(self) -> Lookahead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
