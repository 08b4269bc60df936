"""The SFT loss as a pure function: next-token cross-entropy on target tokens only.

``labels`` are the input ids with every non-target position set to ``IGNORE`` (-100, TRL/HF convention), so the
prompt (system, task, history) is context and only the teacher's label is learned. The mean is over target tokens,
with the count clamped at 1 so a batch without targets gives 0 instead of NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

IGNORE = -100


@dataclass(frozen=True)
class SFTLossMetrics:
    loss: float
    target_tokens: int
    accuracy: float
    """Share of target tokens whose argmax prediction is right (teacher forcing)."""


def sft_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, SFTLossMetrics]:
    """Mean cross-entropy of ``logits[:, t]`` predicting ``labels[:, t + 1]`` over positions whose label is a target.

    ``logits``: (batch, seq, vocab); ``labels``: (batch, seq) with ``IGNORE`` where no loss applies.
    """
    if logits.dim() != 3 or labels.dim() != 2 or logits.shape[:2] != labels.shape:
        shapes = f"{tuple(logits.shape)} and {tuple(labels.shape)}"
        raise ValueError(f"expected logits (B, T, V) and labels (B, T), got {shapes}")
    return target_loss(logits[:, :-1, :], labels[:, 1:])


def target_loss(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, SFTLossMetrics]:
    """Mean cross-entropy of ``logits[:, k]`` predicting ``targets[:, k]`` (no shift) where ``targets`` is not
    ``IGNORE``: :func:`sft_loss` once the positions are already paired (packed sequences pick theirs by index)."""
    if logits.dim() != 3 or targets.dim() != 2 or logits.shape[:2] != targets.shape:
        shapes = f"{tuple(logits.shape)} and {tuple(targets.shape)}"
        raise ValueError(f"expected logits (B, K, V) and targets (B, K), got {shapes}")
    logits = logits.float()
    mask = targets != IGNORE
    count = mask.sum()
    safe = targets.masked_fill(~mask, 0)
    token_loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), safe.reshape(-1), reduction="none")
    loss = (token_loss.view_as(targets) * mask).sum() / count.clamp(min=1)
    with torch.no_grad():
        correct = ((logits.argmax(-1) == targets) & mask).sum()
        metrics = SFTLossMetrics(
            loss=float(loss.detach()),
            target_tokens=int(count),
            accuracy=float(correct) / max(int(count), 1),
        )
    return loss, metrics
