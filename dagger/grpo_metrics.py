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

from swe_dagger.dagger.advantages import group_metrics
from swe_dagger.dagger.grpo_trainer import GRPOUpdateResult
from swe_dagger.dagger.metrics import RolloutStats, Row, write_row
from swe_dagger.dagger.records import Trajectory


@dataclass(frozen=True)
class GroupStats:
    """Rewards of a step's groups (episodes with an infrastructure error are left out: they have no reward)."""

    groups: int
    reward_mean: float | None
    """Mean reward over the scored episodes."""
    reward_std_in_group: float | None
    """Mean over groups of the within-group reward std."""
    frac_groups_with_signal: float | None
    """Share of groups whose rewards differ (the others give no policy gradient)."""


def group_stats(trajectories: Sequence[Trajectory]) -> GroupStats:
    """Group by task (groups may be ragged when some episodes failed for infrastructure reasons)."""
    groups: dict[str, list[float]] = {}
    for t in trajectories:
        if t.error is None:
            groups.setdefault(t.task_id, []).append(t.reward)
    if not groups:
        return GroupStats(0, None, None, None)
    per_group = [group_metrics(torch.tensor(rewards)) for rewards in groups.values()]
    rewards = [r for rs in groups.values() for r in rs]
    return GroupStats(
        groups=len(groups), reward_mean=sum(rewards) / len(rewards),
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

    def flat(self) -> dict[str, float]:
        """Namespaced scalars (``rollout/…``, ``eval/…``, ``train/…``, ``time/…``) for TensorBoard and JSONL."""
        out: dict[str, float] = {}
        for prefix, stats in (("rollout", self.rollout), ("eval", self.eval)):
            if stats is not None:
                out.update({f"{prefix}/{k}": float(v) for k, v in dataclasses.asdict(stats).items() if v is not None})
        out.update({f"rollout/{k}": float(v) for k, v in dataclasses.asdict(self.groups).items() if v is not None})
        update = {k: v for k, v in dataclasses.asdict(self.update).items() if v is not None and k != "seconds"}
        out.update({f"train/{k}": float(v) for k, v in update.items()})
        out["teacher/seconds"] = self.teacher_seconds
        out.update({f"time/{k}_s": v for k, v in self.seconds.items()})
        return out


def grpo_metrics_path(run_dir: Path, step: int) -> Path:
    return run_dir / "metrics" / f"grpo_{step:03d}.json"


def write_grpo_metrics(run_dir: Path, m: GRPOStepMetrics) -> None:
    row: Row = {"phase": "grpo", "step": m.step, **m.flat()}
    write_row(run_dir, grpo_metrics_path(run_dir, m.step), row)
