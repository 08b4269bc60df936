"""Token-level distillation losses as pure functions: the reverse KL ``KL(student || teacher)`` on the student's own
sampled tokens (on-policy distillation), in two estimators.

Per student-authored position ``t`` (state ``s_t``: the prompt and the student's earlier tokens) the target is
``KL_t = sum_v p(v|s_t) * (log p(v|s_t) - log q(v|s_t))``, ``p`` the student, ``q`` the teacher; the loss is its
mean over the masked positions (a clamped mask sum, so an empty mask gives 0, not NaN). As in verl's and
tinker-cookbook's on-policy distillation the states are held fixed (each position is its own one-step problem; the
effect of a token on later states is not credited).

* :func:`full_reverse_kl` — the exact per-position KL over the whole vocabulary, when the teacher's logits are at
  hand (an in-process teacher). Its gradient is exact: no sampling noise.
* :func:`sampled_reverse_kl` — when the teacher gives only the logprob of the sampled token ``x_t ~ p`` (a server's
  prompt logprobs). The value is the single-sample estimate ``k1 = log p(x_t) - log q(x_t)`` (unbiased for ``KL_t``
  when ``x_t`` was sampled from the current student; one sample can be negative). Its gradient is *not* the gradient
  of ``k1`` (``E[grad log p(x)] = 0``: differentiating ``k1`` would only push the sampled tokens down). The gradient
  of ``KL_t`` is ``E_x[(log p(x) - log q(x)) * grad log p(x)]``, i.e. a policy gradient with per-token advantage
  ``-(log p - log q)`` (detached), which is what this loss back-propagates: the surrogate
  ``stop_grad(k1) * log p(x)`` carries the gradient, and the returned value is the ``k1`` mean.
  Tokens sampled by an earlier student (later epochs, older iterations) are used as they are, without importance
  weights: a biased but low-variance choice, like the ratio-1 case of those implementations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

Estimator = Literal["full", "sampled"]


@dataclass(frozen=True)
class KLMetrics:
    loss: float
    """The mean per-token reverse KL estimate (the loss's value)."""
    tokens: int
    """Student-authored positions that carry loss."""
    estimator: Estimator


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def _check(name: str, tensor: Tensor, shape: torch.Size) -> None:
    if tensor.shape != shape:
        raise ValueError(f"{name} has shape {tuple(tensor.shape)}, expected {tuple(shape)}")


def sampled_reverse_kl(logprobs: Tensor, teacher_logprobs: Tensor, mask: Tensor) -> tuple[Tensor, KLMetrics]:
    """Reverse KL from sampled tokens: value ``mean(log p - log q)`` over ``mask``, gradient that of
    ``mean(stop_grad(log p - log q) * log p)`` (the policy gradient of ``KL(p || q)``; see the module docstring).

    ``logprobs``: ``[B, K]`` the student's logprob of each sampled token (differentiable); ``teacher_logprobs``:
    ``[B, K]`` the teacher's logprob of the same token; ``mask``: ``[B, K]``, 1 on student-authored tokens.
    """
    if logprobs.dim() != 2:
        raise ValueError(f"logprobs must be [B, K], got shape {tuple(logprobs.shape)}")
    _check("teacher_logprobs", teacher_logprobs, logprobs.shape)
    _check("mask", mask, logprobs.shape)
    logprobs = logprobs.float()
    k1 = (logprobs - teacher_logprobs.float()).detach()
    value = _masked_mean(k1, mask)
    surrogate = _masked_mean(k1 * logprobs, mask)
    loss = value + surrogate - surrogate.detach()
    return loss, KLMetrics(loss=float(value), tokens=int(mask.sum()), estimator="sampled")


def full_reverse_kl(logits: Tensor, teacher_logits: Tensor, mask: Tensor) -> tuple[Tensor, KLMetrics]:
    """Exact reverse KL ``sum_v p (log p - log q)`` per position, mean over ``mask``; gradients flow through the
    student's ``logits`` only.

    ``logits``, ``teacher_logits``: ``[B, K, V]`` the distributions *predicting* the tokens (already aligned, no
    shift); ``mask``: ``[B, K]``.
    """
    if logits.dim() != 3:
        raise ValueError(f"logits must be [B, K, V], got shape {tuple(logits.shape)}")
    _check("teacher_logits", teacher_logits, logits.shape)
    _check("mask", mask, logits.shape[:2])
    logp = torch.log_softmax(logits.float(), dim=-1)
    logq = torch.log_softmax(teacher_logits.detach().float(), dim=-1)
    per_token = (logp.exp() * (logp - logq)).sum(dim=-1)
    loss = _masked_mean(per_token, mask)
    return loss, KLMetrics(loss=float(loss.detach()), tokens=int(mask.sum()), estimator="full")
