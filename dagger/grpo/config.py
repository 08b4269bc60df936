"""The ``grpo`` section of the run config: the RLVR phase's knobs (group sampling, the clipped objective, the
reward GRPO learns from, dynamic sampling and the temperature schedule).

Re-exported by :mod:`~swe_dagger.dagger.config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from swe_dagger.typed import ConfigError, check_bounds


@dataclass(frozen=True)
class TemperatureSchedule:
    """``grpo.temperature`` as a schedule: ``start`` at the first GRPO step, ``end`` at the last, linear between."""

    start: float
    end: float

    def __post_init__(self) -> None:
        check_bounds("grpo.temperature", self, positive=("start", "end"))


@dataclass(frozen=True)
class GRPOConfig:
    steps: int = 4
    """GRPO steps (collect groups → advantages → update → checkpoint → metrics)."""
    group_size: int = 4
    """G: student-only episodes per task in a step; advantages compare each with its siblings."""
    tasks_per_step: int = 2
    """Training tasks per step (distinct within a step, a fresh seeded draw each step)."""
    temperature: float | TemperatureSchedule = 1.0
    """Sampling temperature of the group rollouts (> 0), or ``{start: 1.2, end: 0.7}``: linear from the first step
    to the last. The trainer scores a step's tokens at that step's temperature."""
    lr: float = 1e-4
    """AdamW learning rate; the optimizer state carries over from step to step (and across ``--resume``)."""
    clip_eps_low: float = 0.2
    """PPO clip: the ratio may fall to ``1 - clip_eps_low`` before a negative advantage stops pushing."""
    clip_eps_high: float = 0.28
    """PPO clip: the ratio may rise to ``1 + clip_eps_high`` (DAPO's clip-higher when larger than ``low``)."""
    kl_coef: float = 0.0
    """Weight of the k3 KL to the reference (the phase's starting weights); 0 = no reference model is loaded."""
    tis_cap: float | None = 2.0
    """Truncated importance sampling: weight tokens by ``min(p_trainer / p_rollout, cap)``; ``null`` = off (then the
    rollout engine's logprobs are not needed)."""
    scale_by_std: bool = True
    """Divide group-centred rewards by the group's std (GRPO); ``false`` = centring only (Dr. GRPO)."""
    sft_coef: float = 0.0
    """Combined objective: ``pg_loss + sft_coef * sft_loss`` in one optimizer step, the SFT term on the teacher's
    labels of the rollouts' student states. > 0 makes the teacher label every student turn of the rollouts."""
    epochs: int = 1
    """Passes over a step's rollouts."""
    minibatches: int = 1
    """Optimizer steps per pass (the rollouts split into this many minibatches; > 1 makes later ones off-policy)."""
    micro_batch_size: int = 8
    """Sequences per forward pass (gradients accumulate over a minibatch's micro-batches)."""
    max_grad_norm: float = 1.0
    """Gradient-norm clip per optimizer step (0 = off)."""
    eval_every: int = 2
    """Evaluate the student alone (``eval`` section) after every N-th step and after the last (0 = never)."""
    reward: Literal["binary", "shaped"] = "binary"
    """What advantages are computed from: the env's reward (1 iff FULL), or the shaped reward (FAIL_TO_PASS pass
    rate minus ``p2p_penalty`` x PASS_TO_PASS failure rate, from the grader's per-test results; logged as
    ``rollout/shaped_reward_mean``). The verdict and ``eval/resolve_rate`` stay binary either way."""
    p2p_penalty: float = 1.0
    """``reward: shaped`` only: weight of the PASS_TO_PASS failure rate subtracted from the FAIL_TO_PASS pass rate."""
    dynamic_sampling: bool = False
    """DAPO's dynamic sampling: while fewer than ``tasks_per_step`` groups have rewards that differ, collect groups
    on further tasks (up to ``max_resample_groups`` a step); the update then trains on the groups with signal."""
    max_resample_groups: int = 4
    """``dynamic_sampling`` only: most extra groups a step may collect (each on a task the step has not used)."""

    def __post_init__(self) -> None:
        check_bounds("grpo", self, at_least_1=("group_size", "tasks_per_step", "epochs", "minibatches",
                                               "micro_batch_size"),
                     at_least_0=("steps", "eval_every", "lr", "kl_coef", "sft_coef", "max_grad_norm", "p2p_penalty",
                                 "max_resample_groups"),
                     positive=("clip_eps_low", "clip_eps_high", "tis_cap"))
        if not isinstance(self.temperature, TemperatureSchedule):
            check_bounds("grpo", self, positive=("temperature",))
        if self.clip_eps_low >= 1:
            raise ConfigError(f"grpo.clip_eps_low must be < 1 (the ratio's floor is 1 - clip_eps_low), "
                              f"got {self.clip_eps_low}")
        if self.dynamic_sampling and (self.group_size < 2 or self.max_resample_groups < 1):
            raise ConfigError(f"grpo.dynamic_sampling needs grpo.group_size >= 2 (got {self.group_size}: a group of "
                              f"one never has signal) and grpo.max_resample_groups >= 1 (got "
                              f"{self.max_resample_groups})")

    def temperature_at(self, step: int) -> float:
        """The rollout (and scoring) temperature of ``step`` (0-based)."""
        t = self.temperature
        if not isinstance(t, TemperatureSchedule):
            return t
        return t.start + (t.end - t.start) * min(step, self.steps - 1) / max(self.steps - 1, 1)
