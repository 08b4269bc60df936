"""Group-relative advantages and group metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from swe_dagger.agents.protocol import Message
from swe_dagger.dagger.grpo.advantages import group_advantages, group_metrics, trajectory_advantages
from swe_dagger.dagger.records import Trajectory

# rewards [1, 0, 0, 1]: mean 0.5, centred ±0.5, unbiased var = 4 * 0.25 / 3 = 1/3
STD_1001 = math.sqrt(1 / 3)


def test_single_group_scaled_by_std() -> None:
    adv = group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0]), eps=0.0)
    expected = torch.tensor([0.5, -0.5, -0.5, 0.5]) / STD_1001
    torch.testing.assert_close(adv, expected)
    assert adv[0].item() == pytest.approx(0.8660254, abs=1e-6)


def test_single_group_centred_only() -> None:
    adv = group_advantages(torch.tensor([3.0, 1.0, 2.0]), scale_by_std=False)
    torch.testing.assert_close(adv, torch.tensor([1.0, -1.0, 0.0]))


def test_batch_of_groups_all_equal_group_is_exact_zero_not_nan() -> None:
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [2.0, 2.0, 2.0, 2.0]])
    adv = group_advantages(rewards)
    assert adv.shape == (2, 4)
    assert torch.isfinite(adv).all()
    assert torch.equal(adv[1], torch.zeros(4))
    torch.testing.assert_close(adv[0], torch.tensor([0.5, -0.5, -0.5, 0.5]) / (STD_1001 + 1e-6))


@pytest.mark.parametrize("scale_by_std", [True, False])
def test_all_equal_inexact_floats_give_exact_zero(scale_by_std: bool) -> None:
    # 0.1 is not representable: the float mean may differ from each member by an ulp; still exactly 0
    adv = group_advantages(torch.full((7,), 0.1, dtype=torch.float64), scale_by_std=scale_by_std)
    assert torch.equal(adv, torch.zeros(7, dtype=torch.float64))


def test_group_of_one_has_zero_advantage() -> None:
    assert torch.equal(group_advantages(torch.tensor([[5.0]])), torch.zeros(1, 1))


def test_integer_rewards_are_accepted() -> None:
    torch.testing.assert_close(group_advantages(torch.tensor([1, 0]), scale_by_std=False), torch.tensor([0.5, -0.5]))


def test_bad_rewards_are_named() -> None:
    with pytest.raises(ValueError, match=r"group 1, member 2 is nan"):
        group_advantages(torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, float("nan")]]))
    with pytest.raises(ValueError, match=r"shape \[G\] or \[B, G\]"):
        group_advantages(torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="empty"):
        group_advantages(torch.zeros(0))


def test_group_metrics() -> None:
    metrics = group_metrics(torch.tensor([[1.0, 0.0, 0.0, 1.0], [2.0, 2.0, 2.0, 2.0]]))
    assert metrics.reward_mean == pytest.approx(1.25)
    assert metrics.reward_std_in_group == pytest.approx(STD_1001 / 2)
    assert metrics.frac_groups_with_signal == 0.5
    assert (metrics.num_groups, metrics.group_size) == (2, 4)
    assert metrics.as_dict()["rollout/frac_groups_with_signal"] == 0.5


def _traj(task_id: str, reward: float, error: str | None = None) -> Trajectory:
    return Trajectory(
        task_id=task_id,
        prefix=(Message("user", "fix it"),),
        turns=(),
        reward=reward,
        resolution=None,
        terminated=True,
        truncated=False,
        error=error,
    )


def test_trajectory_advantages_group_by_task_and_keep_order() -> None:
    adv = trajectory_advantages([_traj("a", 1.0), _traj("b", 1.0), _traj("a", 0.0)], eps=0.0)
    # group a = [1, 0]: centred ±0.5, unbiased std = sqrt(0.5)
    torch.testing.assert_close(adv, torch.tensor([0.5 / math.sqrt(0.5), 0.0, -0.5 / math.sqrt(0.5)]))


def test_trajectory_with_infrastructure_error_is_refused_not_scored() -> None:
    with pytest.raises(ValueError, match=r"trajectory 1 \(task 'b'\).*grader crashed"):
        trajectory_advantages([_traj("a", 1.0), _traj("b", 0.0, error="grader crashed")])
