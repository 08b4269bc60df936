"""Score only the tail of each RL sequence: the student's tokens sit at the end of every per-turn sequence.

A per-turn sequence is the ~1k-token context the student saw, then its ≤ ``max_new_tokens`` generated tokens (and
the end-of-turn glue). The loss needs logprobs at the generated tokens only, so the batch is re-padded on the LEFT
(every row ends at the last column, ``position_ids`` count from each row's first real token, as unpadded) and the
model projects only the last ``keep`` positions onto the vocabulary (``logits_to_keep``), ``keep`` covering every
row's first loss token and the position that predicts it. For a small model the vocabulary projection and its
log-softmax over the whole context are most of the step; the result is the same logprobs on the loss tokens.

Per-token tensors of a :class:`Window` are ``[B, keep]`` right-aligned tails: column ``-1`` is each row's last token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from swe_dagger.dagger.grpo.batch import RLBatch
from swe_dagger.dagger.grpo_loss import token_logprobs


@dataclass(frozen=True)
class Window:
    """A micro-batch re-padded on the left, and the last ``keep`` columns of its per-token fields."""

    model_inputs: dict[str, Tensor]
    """``input_ids``, ``attention_mask``, ``position_ids`` over the full (left-padded) width."""
    input_ids: Tensor
    loss_mask: Tensor
    rollout_logprobs: Tensor | None
    advantages: Tensor
    """``[B]``."""
    tails: tuple[int, ...]
    """Per row: how many final columns it needs (its first loss token's distance from the end, + 1)."""

    @property
    def keep(self) -> int:
        return int(self.input_ids.shape[1])


def window(batch: RLBatch) -> Window:
    """``batch`` (right-padded, from ``collate_rl``) as a left-aligned :class:`Window`."""
    width = batch.input_ids.shape[1]
    cols = torch.arange(width, device=batch.input_ids.device)
    shift = width - batch.attention_mask.sum(dim=1)
    index = (cols[None, :] - shift[:, None]) % width  # new[j] = old[j - shift]: real tokens move to the end

    def move(t: Tensor) -> Tensor:
        return t.gather(1, index)

    mask = move(batch.loss_mask)
    has_loss = mask.amax(dim=1) > 0
    first = torch.where(has_loss, mask.argmax(dim=1), torch.full_like(shift, width - 1))
    tails = [min(int(t), width) for t in (width - first + 1).tolist()]
    keep = max(tails)
    rollout = None if batch.rollout_logprobs is None else move(batch.rollout_logprobs)[:, -keep:]
    return Window(
        model_inputs={"input_ids": move(batch.input_ids), "attention_mask": move(batch.attention_mask),
                      "position_ids": (cols[None, :] - shift[:, None]).clamp(min=0)},
        input_ids=move(batch.input_ids)[:, -keep:], loss_mask=mask[:, -keep:], rollout_logprobs=rollout,
        advantages=batch.advantages, tails=tuple(tails),
    )


def window_logits(model: Any, w: Window, temperature: float) -> Tensor:
    """``[B, keep, V]`` fp32 logits at the window's positions, divided by the sampling temperature (in fp32: under
    bf16 autocast the division would round before the log-softmax)."""
    logits = model(**w.model_inputs, logits_to_keep=w.keep).logits
    return logits[:, -w.keep :].float() / temperature


def window_logprobs(logits: Tensor, w: Window) -> Tensor:
    """``[B, keep]`` logprob of each window token (column 0, never a loss token, is 0)."""
    return token_logprobs(logits, w.input_ids)


def split_tails(values: Tensor, w: Window) -> list[Tensor]:
    """Each row's needed tail of a ``[B, keep]`` tensor (to cache per sequence, e.g. the old logprobs)."""
    return [values[r, -n:].detach().cpu() for r, n in enumerate(w.tails)]


def join_tails(tails: list[Tensor], like: Tensor) -> Tensor:
    """Cached per-sequence tails back into a ``[B, keep]`` tensor shaped like ``like`` (zeros elsewhere)."""
    out = torch.zeros_like(like)
    for r, tail in enumerate(tails):
        out[r, -tail.shape[0] :] = tail.to(like.device, like.dtype)
    return out
