"""A GRPO step's groups: what each episode is worth (``grpo.reward``), which groups carry signal, and how many groups
the step collects (``grpo.dynamic_sampling``).

A group's advantages are its rewards against their mean, so a group whose rewards are all equal gives no policy
gradient. Early in training (a student that never resolves a task) every group is all-zero. With dynamic sampling
(DAPO) the step keeps collecting groups on further tasks of its seeded task order while fewer than
``tasks_per_step`` groups have signal, at most ``max_resample_groups`` extra groups; the update then trains on the
groups with signal only (the others would only dilute the token-normalised loss). Episode ``e`` of a step belongs to
group ``e // group_size`` and the task order is fixed per step
(:func:`~swe_dagger.dagger.rollout.episodes.episode_spec`), so extra groups are just the next episodes of the same
log, and a resumed step re-decides from the logged rewards exactly what the first run decided.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.rollout import episode_log
from swe_dagger.dagger.rollout.episodes import CollectRequest, collect
from swe_dagger.dagger.run.context import RunContext
from swe_dagger.durable.files import AppendLog
from swe_dagger.envs.shaped_reward import shaped_reward
from swe_dagger.envs.task import Task

RewardFn = Callable[[Sequence[Trajectory]], list[float]]
"""Scored trajectories (no infrastructure error) → one training reward each."""


def episode_rewards(trajectories: Sequence[Trajectory], tasks: Sequence[Task], reward: str, *,
                    p2p_penalty: float = 1.0) -> list[float]:
    """The training reward of each scored trajectory: the env's (``binary``) or the shaped one (``shaped``).

    Shaped: an episode that never submitted was never graded and gets 0.0, like its binary reward. A graded episode
    whose record has no ``failed_tests`` (written before they were recorded) or whose task is not in ``tasks`` is an
    error, never a guessed number."""
    if reward not in ("binary", "shaped"):
        raise ValueError(f"reward must be 'binary' or 'shaped', got {reward!r}")
    by_id = {t.instance_id: t for t in tasks}
    out = []
    for t in trajectories:
        where = f"task {t.task_id!r} episode {t.episode}"
        if t.error is not None:
            raise ValueError(f"{where} has an infrastructure error and no reward: {t.error}")
        if reward == "binary" or t.resolution is None:
            out.append(t.reward if reward == "binary" else 0.0)
            continue
        if t.failed_tests is None:
            raise ValueError(f"{where} was graded ({t.resolution}) but its record has no failed_tests, so its shaped "
                             "reward cannot be computed (recorded by an older version? use grpo.reward=binary)")
        if t.task_id not in by_id:
            raise ValueError(f"{where}: the task is not among the {len(by_id)} tasks given")
        out.append(shaped_reward(by_id[t.task_id], t.failed_tests, p2p_penalty=p2p_penalty))
    return out


@dataclass(frozen=True)
class Group:
    """The scored episodes of one task in a step (ragged when some had infrastructure errors)."""

    task_id: str
    members: tuple[int, ...]
    """Indices into the step's scored trajectories."""
    rewards: tuple[float, ...]

    @property
    def has_signal(self) -> bool:
        """The rewards are not all equal (a group of one never has signal)."""
        return max(self.rewards) > min(self.rewards)


def groups_of(scored: Sequence[Trajectory], rewards: Sequence[float]) -> list[Group]:
    """Scored episodes grouped by task (a step's groups are on distinct tasks), in first-episode order."""
    if len(scored) != len(rewards):
        raise ValueError(f"{len(rewards)} rewards for {len(scored)} trajectories")
    members: dict[str, list[int]] = {}
    for i, t in enumerate(scored):
        members.setdefault(t.task_id, []).append(i)
    return [Group(task, tuple(idx), tuple(rewards[i] for i in idx)) for task, idx in members.items()]


def extra_groups(groups: Sequence[Group], *, requested: int, tasks_per_step: int, max_resample: int) -> int:
    """How many more groups dynamic sampling collects after ``requested`` groups gave ``groups``: those that would
    bring the groups with signal up to ``tasks_per_step``, within the budget of ``max_resample`` extra groups."""
    missing = tasks_per_step - sum(g.has_signal for g in groups)
    room = tasks_per_step + max_resample - requested
    return max(0, min(missing, room))


@dataclass(frozen=True)
class StepGroups:
    """Everything a step collected, with training rewards and groups."""

    trajectories: list[Trajectory]
    """Every episode in episode order (infrastructure errors included)."""
    scored: list[Trajectory]
    rewards: list[float]
    """Training reward per scored trajectory."""
    groups: list[Group]
    requested: int
    """Groups collected: ``tasks_per_step`` plus the resampled ones."""
    resampled: int

    def batch(self, only_signal: bool) -> tuple[list[Trajectory], list[float]]:
        """The episodes the update trains on (all scored, or those of groups with signal) and their rewards."""
        keep = sorted(i for g in self.groups if g.has_signal or not only_signal for i in g.members)
        return [self.scored[i] for i in keep], [self.rewards[i] for i in keep]


def collect_groups(ctx: RunContext, step: int, weights: Path, temperature: float, rewards_of: RewardFn, *,
                   logged: bool) -> StepGroups:
    """Collect (or, ``logged``, read back) step ``step``'s groups; with ``grpo.dynamic_sampling``, more groups while
    too few have signal."""
    g = ctx.cfg.grpo
    log = episode_log.episode_log(ctx.run_dir, "grpo", step)
    requested = -(-len(episode_log.read_trajectories(log)) // g.group_size) if logged else g.tasks_per_step
    while True:
        trajs = _episodes(ctx, step, weights, temperature, requested * g.group_size, log)
        scored = [t for t in trajs if t.error is None]
        rewards = rewards_of(scored)
        groups = groups_of(scored, rewards)
        more = 0 if logged or not g.dynamic_sampling else extra_groups(
            groups, requested=requested, tasks_per_step=g.tasks_per_step, max_resample=g.max_resample_groups)
        if more == 0:
            return StepGroups(trajs, scored, rewards, groups, requested, requested - g.tasks_per_step)
        ctx.display.log(f"grpo step {step}: {sum(x.has_signal for x in groups)} of {requested} groups have signal; "
                        f"sampling {more} more")
        requested += more


def _episodes(ctx: RunContext, step: int, weights: Path, temperature: float, episodes: int,
              log: AppendLog) -> list[Trajectory]:
    """Episodes ``[0, episodes)`` of the step: from the log when it has them all (no policy, no sandboxes), else
    collected (only the missing ones run)."""
    have = [t for t in episode_log.read_trajectories(log) if t.episode < episodes]
    if len(have) < episodes:
        g = ctx.cfg.grpo
        have = [t for t in collect(ctx, CollectRequest(
            kind="grpo", iteration=step, beta=0.0, tasks=ctx.train_tasks, student=weights, label=g.sft_coef > 0,
            episodes=episodes, temperature=temperature, group_size=g.group_size,
        )) if t.episode < episodes]
    return have
