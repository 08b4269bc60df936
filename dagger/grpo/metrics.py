"""Per-step GRPO metrics, computed from the records and the update's result, and their file.

Rows go to ``metrics/grpo_XXX.json`` and into ``metrics.jsonl`` after the DAgger rows, with ``phase: grpo`` and
``step``. Keys share the DAgger namespaces where they mean the same thing (``rollout/resolve_rate``,
``eval/agreement``, ``train/sft_loss``, ``time/…``) so one plot follows both phases.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from swe_dagger.dagger.grpo.advantages import group_metrics
from swe_dagger.dagger.grpo.update import GRPOUpdateResult
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.run.metrics import RolloutStats, Row, grpo_metrics_path, write_row


@dataclass(frozen=True)
class GroupStats:
    """Rewards of a step's groups (episodes with an infrastructure error are left out: they have no reward)."""

    groups: int
    reward_mean: float | None
    """Mean of the env's (binary) reward over the scored episodes."""
    reward_std_in_group: float | None
    """Mean over groups of the within-group std of the training reward (``grpo.reward``)."""
    frac_groups_with_signal: float | None
    """Share of groups whose training rewards differ (the others give no policy gradient)."""


@dataclass(frozen=True)
class SignalStats:
    """Whether a step had anything to learn from, beyond :class:`GroupStats` (``rollout/…``, ``train/…`` keys)."""

    groups_with_signal: int
    missing_signal_groups: int
    """``tasks_per_step`` minus the groups with signal (0 when at least that many had it): what dynamic sampling
    could not fill."""
    resampled_groups: int
    """Groups collected beyond ``tasks_per_step`` (dynamic sampling; 0 without it)."""
    temperature: float
    """The step's rollout temperature (``grpo.temperature``, possibly a schedule)."""
    advantage_abs_mean: float | None
    """Mean |advantage| over the episodes the update trained on (``None``: none)."""
    shaped_reward_mean: float | None = None
    """Mean shaped reward of the scored rollouts (``grpo.reward: shaped`` only)."""
    eval_shaped_reward_mean: float | None = None
    """The same on the held-out evaluation, when it ran."""
    submit_rate: float | None = None
    """Share of the scored rollouts that submitted and so were graded (:func:`submit_rate`). Only a graded episode
    can earn a reward other than 0, binary or shaped: at 0 no group can have signal under either reward."""

    def flat(self) -> dict[str, float]:
        out = {"rollout/groups_with_signal": float(self.groups_with_signal),
               "rollout/missing_signal_groups": float(self.missing_signal_groups),
               "rollout/resampled_groups": float(self.resampled_groups), "rollout/temperature": self.temperature}
        for key, value in (("train/advantage_abs_mean", self.advantage_abs_mean),
                           ("rollout/shaped_reward_mean", self.shaped_reward_mean),
                           ("eval/shaped_reward_mean", self.eval_shaped_reward_mean),
                           ("rollout/submit_rate", self.submit_rate)):
            if value is not None:
                out[key] = value
        return out


def submit_rate(trajectories: Sequence[Trajectory]) -> float | None:
    """Share of the scored trajectories (no infrastructure error) that submitted, i.e. were graded (``None``: none
    scored). An episode cut by the turn limit was never graded and earns 0 under every reward."""
    scored = [t for t in trajectories if t.error is None]
    return sum(t.resolution is not None for t in scored) / len(scored) if scored else None


def group_stats(trajectories: Sequence[Trajectory], rewards: Sequence[float] | None = None) -> GroupStats:
    """Group by task (groups may be ragged when some episodes failed for infrastructure reasons).

    ``rewards``: the training reward of each scored trajectory, in order (default: the env's); the within-group std
    and the signal share are of these, ``reward_mean`` is always the env's reward."""
    scored = [t for t in trajectories if t.error is None]
    trained = list(rewards) if rewards is not None else [t.reward for t in scored]
    if len(trained) != len(scored):
        raise ValueError(f"{len(trained)} rewards for {len(scored)} scored trajectories")
    groups: dict[str, list[float]] = {}
    for t, r in zip(scored, trained, strict=True):
        groups.setdefault(t.task_id, []).append(r)
    if not groups:
        return GroupStats(0, None, None, None)
    per_group = [group_metrics(torch.tensor(rs)) for rs in groups.values()]
    return GroupStats(
        groups=len(groups), reward_mean=sum(t.reward for t in scored) / len(scored),
        reward_std_in_group=sum(g.reward_std_in_group for g in per_group) / len(per_group),
        frac_groups_with_signal=sum(g.frac_groups_with_signal for g in per_group) / len(per_group),
    )


@dataclass(frozen=True)
class GRPOStepMetrics:
    step: int
    groups: GroupStats
    rollout: RolloutStats
    """The group rollouts (student alone, sampled); agreement when the teacher labeled them (``sft_coef > 0``)."""
    update: GRPOUpdateResult
    eval: RolloutStats | None
    """The student alone (greedy) on held-out tasks after the update; ``None`` when not evaluated this step."""
    teacher_seconds: float
    seconds: dict[str, float]
    """Wall time per part (collect, train, eval) in the process that ran it."""
    signal: SignalStats | None = None

    def flat(self) -> dict[str, float]:
        """Namespaced scalars (``rollout/…``, ``eval/…``, ``train/…``, ``time/…``) for TensorBoard and JSONL."""
        out: dict[str, float] = {}
        for prefix, stats in (("rollout", self.rollout), ("eval", self.eval)):
            if stats is not None:
                out.update({f"{prefix}/{k}": float(v) for k, v in dataclasses.asdict(stats).items() if v is not None})
        out.update({f"rollout/{k}": float(v) for k, v in dataclasses.asdict(self.groups).items() if v is not None})
        update = {k: v for k, v in dataclasses.asdict(self.update).items() if v is not None and k != "seconds"}
        out.update({f"train/{k}": float(v) for k, v in update.items()})
        if self.signal is not None:
            out.update(self.signal.flat())
        out["teacher/seconds"] = self.teacher_seconds
        out.update({f"time/{k}_s": v for k, v in self.seconds.items()})
        return out


def write_grpo_metrics(run_dir: Path, m: GRPOStepMetrics) -> None:
    row: Row = {"phase": "grpo", "step": m.step, **m.flat()}
    write_row(run_dir, grpo_metrics_path(run_dir, m.step), row)
