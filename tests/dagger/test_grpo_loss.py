"""The GRPO loss and logits helpers against hand-computed numbers (values and gradients)."""

from __future__ import annotations

import math

import pytest
import torch

from swe_dagger.dagger.grpo_loss import grpo_loss, k3_kl, masked_mean, token_entropy, token_logprobs


def _leaf(values: list[list[float]]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, requires_grad=True)


def test_on_policy_loss_is_minus_mean_advantage_over_masked_tokens() -> None:
    lp = _leaf([[-1.0, -2.0, -0.5]])
    loss, metrics = grpo_loss(lp, lp.detach(), torch.tensor([2.0]), torch.tensor([[0, 1, 1]]))
    assert loss.item() == pytest.approx(-2.0)  # (-2 - 2) / 2 masked tokens
    loss.backward()
    assert lp.grad is not None
    torch.testing.assert_close(lp.grad, torch.tensor([[0.0, -1.0, -1.0]]))  # -A * ratio / 2
    assert metrics.tokens == 2 and metrics.ratio_mean == pytest.approx(1.0)
    assert metrics.clip_fraction == 0.0 and metrics.approx_kl_old == pytest.approx(0.0)
    assert metrics.kl_ref is None and metrics.is_weight_mean is None


def test_clipping_low_and_high_with_hand_values() -> None:
    # ratios 1.5, 0.5, 1.1, 1.5 against advantages +1, -1, +1, -1 (eps 0.2 both sides)
    lp = _leaf([[math.log(1.5), math.log(0.5), math.log(1.1), math.log(1.5)]])
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0]])
    loss, metrics = grpo_loss(lp, torch.zeros(1, 4), adv, torch.ones(1, 4))
    # per token: -min(1.5, 1.2) = -1.2 | -min(-0.5, -0.8) = 0.8 | -1.1 | -min(-1.5, -1.2) = 1.5 (pessimistic, unclipped)
    assert loss.item() == pytest.approx((-1.2 + 0.8 - 1.1 + 1.5) / 4)
    loss.backward()
    assert lp.grad is not None
    torch.testing.assert_close(lp.grad, torch.tensor([[0.0, 0.0, -1.1 / 4, 1.5 / 4]]))
    assert metrics.clip_fraction_high == pytest.approx(0.25)
    assert metrics.clip_fraction_low == pytest.approx(0.25)
    assert metrics.clip_fraction == pytest.approx(0.5)
    assert metrics.ratio_mean == pytest.approx((1.5 + 0.5 + 1.1 + 1.5) / 4)


def test_asymmetric_clip_higher() -> None:
    lp = torch.tensor([[math.log(1.5), math.log(0.5)]])
    adv = torch.tensor([[1.0, -1.0]])
    loss, metrics = grpo_loss(lp, torch.zeros(1, 2), adv, torch.ones(1, 2), clip_eps_low=0.2, clip_eps_high=0.6)
    assert loss.item() == pytest.approx((-1.5 + 0.8) / 2)
    assert metrics.clip_fraction_high == 0.0 and metrics.clip_fraction_low == 0.5


def test_kl_to_reference_k3() -> None:
    lp = _leaf([[math.log(0.5), math.log(0.5)]])
    ref = torch.full((1, 2), math.log(0.25))
    k3 = 0.5 - math.log(0.5) - 1.0  # exp(ref - lp) - (ref - lp) - 1
    loss, metrics = grpo_loss(lp, lp.detach(), torch.zeros(1), torch.ones(1, 2), ref_logprobs=ref, kl_coef=0.1)
    assert loss.item() == pytest.approx(0.1 * k3)
    assert metrics.kl_ref == pytest.approx(k3) and metrics.policy_loss == pytest.approx(0.0)
    loss.backward()
    assert lp.grad is not None  # d/dlp 0.1 * (exp(ref - lp) + lp) / 2 = 0.1 * (1 - 0.5) / 2
    torch.testing.assert_close(lp.grad, torch.full((1, 2), 0.025))
    assert k3_kl(torch.tensor([-1.0]), torch.tensor([-1.0])).item() == 0.0


def test_kl_metric_without_kl_loss_and_kl_coef_needs_reference() -> None:
    lp = torch.tensor([[math.log(0.5)]])
    loss, metrics = grpo_loss(lp, lp, torch.ones(1), torch.ones(1, 1), ref_logprobs=torch.tensor([[math.log(0.25)]]))
    assert loss.item() == pytest.approx(-1.0) and metrics.kl_ref == pytest.approx(0.5 - math.log(0.5) - 1.0)
    with pytest.raises(ValueError, match="needs ref_logprobs"):
        grpo_loss(lp, lp, torch.ones(1), torch.ones(1, 1), kl_coef=0.1)


def test_truncated_importance_sampling_weights() -> None:
    lp = _leaf([[math.log(0.6), math.log(0.5)]])
    rollout = torch.tensor([[math.log(0.2), math.log(0.4)]], requires_grad=True)
    # raw weights exp(old - rollout) = 3.0 (capped to 2.0) and 1.25
    loss, metrics = grpo_loss(lp, lp.detach(), torch.ones(1), torch.ones(1, 2), rollout_logprobs=rollout, tis_cap=2.0)
    assert loss.item() == pytest.approx(-(2.0 + 1.25) / 2)
    loss.backward()
    assert lp.grad is not None
    torch.testing.assert_close(lp.grad, torch.tensor([[-1.0, -0.625]]))
    assert rollout.grad is None  # the weights are detached
    assert metrics.is_weight_mean == pytest.approx(1.625)
    assert metrics.is_weight_max == pytest.approx(3.0)
    assert metrics.is_capped_fraction == pytest.approx(0.5)
    assert metrics.as_dict()["train/is_weight_max"] == pytest.approx(3.0)


def test_num_tokens_makes_micro_batches_add_up_to_the_full_batch() -> None:
    torch.manual_seed(0)
    lp, old = torch.randn(4, 5) - 2.0, torch.randn(4, 5) - 2.0
    adv, mask = torch.randn(4), (torch.rand(4, 5) > 0.4).float()
    full, _ = grpo_loss(lp, old, adv, mask)
    total = mask.sum().item()
    parts = [grpo_loss(lp[s], old[s], adv[s], mask[s], num_tokens=total)[0] for s in (slice(0, 1), slice(1, 4))]
    assert (parts[0] + parts[1]).item() == pytest.approx(full.item(), rel=1e-5)


def test_empty_mask_gives_zero_not_nan() -> None:
    lp = _leaf([[-1.0, -1.0]])
    loss, metrics = grpo_loss(lp, lp.detach(), torch.ones(1), torch.zeros(1, 2))
    assert loss.item() == 0.0 and metrics.tokens == 0.0 and metrics.clip_fraction == 0.0
    assert masked_mean(torch.ones(3), torch.zeros(3)).item() == 0.0


def test_bad_inputs_are_named() -> None:
    lp = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"old_logprobs has shape \(2, 2\)"):
        grpo_loss(lp, torch.zeros(2, 2), torch.zeros(2), torch.ones(2, 3))
    with pytest.raises(ValueError, match="advantages must be"):
        grpo_loss(lp, lp, torch.zeros(3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="tis_cap"):
        grpo_loss(lp, lp, torch.zeros(2), torch.ones(2, 3), tis_cap=0.0)
    with pytest.raises(ValueError, match="clip_eps_low"):
        grpo_loss(lp, lp, torch.zeros(2), torch.ones(2, 3), clip_eps_low=1.5)


def test_token_logprobs_and_entropy_are_aligned_to_input_positions() -> None:
    logits = torch.zeros(1, 2, 4)
    logits[0, 0] = torch.tensor([0.0, 0.0, math.log(2.0), -math.inf])  # probs 0.25, 0.25, 0.5, 0
    input_ids = torch.tensor([[3, 2]])
    lp = token_logprobs(logits, input_ids)
    torch.testing.assert_close(lp, torch.tensor([[0.0, math.log(0.5)]]))
    entropy = token_entropy(torch.zeros(1, 3, 4))
    torch.testing.assert_close(entropy, torch.tensor([[0.0, math.log(4.0), math.log(4.0)]]))
    with pytest.raises(ValueError, match="must be \\[B, T, V\\]"):
        token_logprobs(torch.zeros(1, 3, 4), input_ids)
