"""The SFT loss on hand-computed numbers: only target tokens count, mean over a clamped count."""

from __future__ import annotations

import math

import torch

from swe_dagger.dagger.sft_loss import IGNORE, sft_loss


def test_loss_counts_only_target_tokens() -> None:
    # vocab 2, uniform logits except one confident position; seq len 4, targets at positions 2 and 3.
    logits = torch.zeros(1, 4, 2)
    logits[0, 1] = torch.tensor([0.0, math.log(3.0)])  # predicts token at position 2: p(1) = 3/4
    logits[0, 2] = torch.tensor([0.0, math.log(3.0)])  # predicts token at position 3: p(0) = 1/4
    logits[0, 0] = torch.tensor([50.0, -50.0])  # position 0 predicts an ignored token: must not matter
    labels = torch.tensor([[IGNORE, IGNORE, 1, 0]])
    loss, metrics = sft_loss(logits, labels)
    expected = (-math.log(0.75) - math.log(0.25)) / 2
    assert math.isclose(float(loss), expected, rel_tol=1e-6)
    assert metrics.target_tokens == 2
    assert metrics.accuracy == 0.5  # argmax right at position 1, wrong at position 2


def test_prompt_tokens_do_not_change_the_loss() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[IGNORE, IGNORE, 3, 4, 1], [IGNORE, 2, 2, IGNORE, IGNORE]])
    loss, _ = sft_loss(logits, labels)
    changed = logits.clone()
    changed[0, 4] += 100.0  # the last position predicts nothing
    changed[1, 3:] -= 50.0  # positions whose next token is ignored
    loss2, _ = sft_loss(changed, labels)
    assert torch.allclose(loss, loss2)


def test_no_targets_gives_zero_not_nan_and_gradients_flow() -> None:
    logits = torch.randn(1, 3, 5, requires_grad=True)
    loss, metrics = sft_loss(logits, torch.full((1, 3), IGNORE))
    assert float(loss) == 0.0 and metrics.target_tokens == 0
    loss2, _ = sft_loss(logits, torch.tensor([[IGNORE, 1, 2]]))
    loss2.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
