"""Group-relative advantages for GRPO: each episode's reward compared with its siblings on the same task.

GRPO samples a *group* of G episodes per task and uses ``(r - mean(group)) / std(group)`` as every token's
advantage, so no value model is needed. ``scale_by_std=False`` keeps only the centring (Dr. GRPO), which avoids
up-weighting groups whose rewards barely differ. A group whose rewards are all equal carries no signal: its
advantages are exactly zero (never NaN from a zero std).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from swe_dagger.dagger.records import Trajectory


def _check_rewards(rewards: Tensor) -> Tensor:
    """Validate a ``[G]`` or ``[B, G]`` reward tensor and return it as float ``[B, G]``."""
    if not isinstance(rewards, Tensor):
        raise TypeError(f"rewards must be a torch.Tensor, got {type(rewards).__name__}")
    if rewards.dim() not in (1, 2):
        raise ValueError(f"rewards must have shape [G] or [B, G], got shape {tuple(rewards.shape)}")
    if rewards.numel() == 0:
        raise ValueError(f"rewards is empty (shape {tuple(rewards.shape)}): a group needs at least one episode")
    grouped = rewards.reshape(1, -1) if rewards.dim() == 1 else rewards
    grouped = grouped.to(torch.float32) if not grouped.is_floating_point() else grouped
    bad = ~torch.isfinite(grouped)
    if bool(bad.any()):
        group, member = (int(i) for i in bad.nonzero()[0])
        raise ValueError(f"reward of group {group}, member {member} is {grouped[group, member].item()} (not finite)")
    return grouped


def _has_signal(grouped: Tensor) -> Tensor:
    """``[B]`` bool: the group's rewards are not all equal."""
    return grouped.amax(dim=-1) > grouped.amin(dim=-1)


def _group_std(centred: Tensor) -> Tensor:
    """Unbiased (``G - 1``) std per group, like ``torch.std``; zero for a group of one instead of NaN."""
    size = centred.shape[-1]
    if size < 2:
        return torch.zeros(centred.shape[:-1], dtype=centred.dtype, device=centred.device)
    return (centred.pow(2).sum(dim=-1) / (size - 1)).sqrt()


def group_advantages(rewards: Tensor, *, scale_by_std: bool = True, eps: float = 1e-6) -> Tensor:
    """Advantages with the shape of ``rewards`` (``[G]`` = one group, ``[B, G]`` = B groups of G).

    ``A = (r - mean) / (std + eps)`` with the unbiased std of the group, or ``A = r - mean`` when
    ``scale_by_std`` is False. Groups with all-equal rewards get exactly zero.
    """
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    grouped = _check_rewards(rewards)
    centred = grouped - grouped.mean(dim=-1, keepdim=True)
    advantages = centred / (_group_std(centred).unsqueeze(-1) + eps) if scale_by_std else centred
    advantages = torch.where(_has_signal(grouped).unsqueeze(-1), advantages, torch.zeros_like(advantages))
    return advantages.reshape(rewards.shape)


@dataclass(frozen=True)
class GroupMetrics:
    """Summary of a batch of reward groups, for ``rollout/…`` logging."""

    reward_mean: float
    """Mean reward over all episodes."""
    reward_std_in_group: float
    """Mean over groups of the within-group (unbiased) reward std: how much siblings disagree."""
    frac_groups_with_signal: float
    """Fraction of groups whose rewards are not all equal (the others contribute no gradient)."""
    num_groups: int
    group_size: int

    def as_dict(self, prefix: str = "rollout/") -> dict[str, float]:
        return {
            f"{prefix}reward_mean": self.reward_mean,
            f"{prefix}reward_std_in_group": self.reward_std_in_group,
            f"{prefix}frac_groups_with_signal": self.frac_groups_with_signal,
            f"{prefix}num_groups": float(self.num_groups),
            f"{prefix}group_size": float(self.group_size),
        }


def group_metrics(rewards: Tensor) -> GroupMetrics:
    """Metrics for ``[G]`` or ``[B, G]`` rewards (same validation as :func:`group_advantages`)."""
    grouped = _check_rewards(rewards)
    centred = grouped - grouped.mean(dim=-1, keepdim=True)
    return GroupMetrics(
        reward_mean=float(grouped.mean()),
        reward_std_in_group=float(_group_std(centred).mean()),
        frac_groups_with_signal=float(_has_signal(grouped).float().mean()),
        num_groups=grouped.shape[0],
        group_size=grouped.shape[1],
    )


def trajectory_advantages(
    trajectories: Sequence[Trajectory], *, rewards: Sequence[float] | None = None, scale_by_std: bool = True,
    eps: float = 1e-6,
) -> Tensor:
    """One advantage per trajectory (``[N]``, input order), grouping episodes by ``task_id``.

    ``rewards``: one per trajectory (e.g. the shaped reward); default: each trajectory's own (the env's).
    Groups may differ in size. An episode with ``error`` set was never scored (its reward means nothing),
    so it is refused rather than silently counted as a failure: drop or re-run it first.
    """
    if rewards is not None and len(rewards) != len(trajectories):
        raise ValueError(f"{len(rewards)} rewards for {len(trajectories)} trajectories")
    values = [t.reward for t in trajectories] if rewards is None else [float(r) for r in rewards]
    groups: dict[str, list[int]] = {}
    for i, trajectory in enumerate(trajectories):
        if trajectory.error is not None:
            raise ValueError(
                f"trajectory {i} (task {trajectory.task_id!r}) has an infrastructure error and no valid reward: "
                f"{trajectory.error}"
            )
        groups.setdefault(trajectory.task_id, []).append(i)
    out = torch.zeros(len(trajectories), dtype=torch.float32)
    for members in groups.values():
        group = torch.tensor([values[i] for i in members], dtype=torch.float32)
        out[members] = group_advantages(group, scale_by_std=scale_by_std, eps=eps)
    return out
