"""The reverse-KL losses against hand-computed numbers, and the sampled estimator's gradient against the exact one."""

from __future__ import annotations

import math

import pytest
import torch

from swe_dagger.dagger.kl_loss import full_reverse_kl, sampled_reverse_kl


def test_sampled_value_is_the_k1_mean_and_gradient_the_policy_gradient() -> None:
    logprobs = torch.tensor([[math.log(0.5), math.log(0.25), math.log(0.1)]], requires_grad=True)
    teacher = torch.tensor([[math.log(0.25), math.log(0.25), math.log(0.9)]])
    mask = torch.tensor([[1, 1, 0]])  # the third token is not the student's: no loss
    loss, metrics = sampled_reverse_kl(logprobs, teacher, mask)
    # k1 per token: log(0.5/0.25) = log 2, log(0.25/0.25) = 0; mean over 2 tokens
    assert loss.item() == pytest.approx(math.log(2) / 2)
    assert metrics.loss == pytest.approx(math.log(2) / 2) and metrics.tokens == 2 and metrics.estimator == "sampled"
    loss.backward()
    assert logprobs.grad is not None
    # d/d logp of mean(stop_grad(k1) * logp): k1 / count, 0 off the mask (not the gradient of k1 itself, which is 1/2)
    assert logprobs.grad[0].tolist() == pytest.approx([math.log(2) / 2, 0.0, 0.0])


def test_full_kl_equals_the_hand_sum_and_its_gradient() -> None:
    logits = torch.tensor([[[0.0, 0.0], [5.0, -5.0]]], requires_grad=True)
    teacher = torch.tensor([[[math.log(3.0), 0.0], [0.0, 0.0]]])
    mask = torch.tensor([[1, 0]])
    loss, metrics = full_reverse_kl(logits, teacher, mask)
    # p = (1/2, 1/2), q = (3/4, 1/4): KL = 1/2 log(2/3) + 1/2 log 2 = 1/2 log(4/3)
    kl = 0.5 * math.log(4 / 3)
    assert loss.item() == pytest.approx(kl) and metrics.tokens == 1 and metrics.estimator == "full"
    loss.backward()
    assert logits.grad is not None
    # dKL/dlogit_v = p_v (log p_v - log q_v - KL)
    expected = [0.5 * (math.log(2 / 3) - kl), 0.5 * (math.log(2) - kl)]
    assert logits.grad[0, 0].tolist() == pytest.approx(expected)
    assert logits.grad[0, 1].tolist() == [0.0, 0.0]


def test_an_empty_mask_gives_zero_not_nan() -> None:
    logprobs = torch.zeros(1, 2, requires_grad=True)
    loss, metrics = sampled_reverse_kl(logprobs, torch.zeros(1, 2), torch.zeros(1, 2))
    assert loss.item() == 0.0 and metrics.tokens == 0
    loss_full, _ = full_reverse_kl(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), torch.zeros(1, 2))
    assert loss_full.item() == 0.0


def test_sampled_estimator_is_unbiased_for_value_and_gradient() -> None:
    """Tokens drawn from the student: the sampled loss's mean value and mean gradient match the exact KL's."""
    torch.manual_seed(0)
    logits = torch.tensor([1.0, 0.0, -1.0, 0.5], requires_grad=True)
    teacher_logits = torch.tensor([0.0, 1.0, 0.0, -0.5])
    exact, _ = full_reverse_kl(logits.view(1, 1, 4), teacher_logits.view(1, 1, 4), torch.ones(1, 1))
    (exact_grad,) = torch.autograd.grad(exact, logits)
    n = 20000
    samples = torch.distributions.Categorical(logits=logits.detach()).sample((n,))
    logp = torch.log_softmax(logits, -1)[samples].view(1, n)
    logq = torch.log_softmax(teacher_logits, -1)[samples].view(1, n)
    estimate, _ = sampled_reverse_kl(logp, logq, torch.ones(1, n))
    (estimate_grad,) = torch.autograd.grad(estimate, logits)
    assert estimate.item() == pytest.approx(exact.item(), abs=0.02)
    assert estimate_grad.tolist() == pytest.approx(exact_grad.tolist(), abs=0.03)


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match=r"teacher_logprobs has shape \(1, 3\), expected \(1, 2\)"):
        sampled_reverse_kl(torch.zeros(1, 2), torch.zeros(1, 3), torch.ones(1, 2))
    with pytest.raises(ValueError, match=r"mask has shape"):
        full_reverse_kl(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), torch.ones(2, 2))
