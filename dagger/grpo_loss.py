"""The GRPO policy loss as a pure function, plus the logits helpers a trainer needs to feed it.

All per-token tensors are ``[B, T]`` and *aligned to input positions*: entry ``t`` belongs to token
``input_ids[:, t]`` (its logprob given the tokens before it). Position 0 has no prediction and is 0.

The loss per token is the clipped surrogate of PPO,
``-min(ratio * A, clip(ratio, 1 - eps_low, 1 + eps_high) * A)`` with ``ratio = exp(logprobs - old_logprobs)``,
optionally multiplied by a truncated importance-sampling (TIS) weight ``min(exp(old - rollout), cap)`` when the
rollout engine (e.g. vLLM) computed its logprobs differently from the trainer, plus ``kl_coef`` times the k3
estimate of KL(policy || reference). Tokens are averaged over the whole batch (token-level normalisation, as in
DAPO / Dr. GRPO) by a clamped mask sum, or by ``num_tokens`` when gradients are accumulated over micro-batches.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor


@dataclass(frozen=True)
class GRPOMetrics:
    """Detached scalars from one loss call (``None`` = the term was not computed)."""

    loss: float
    policy_loss: float
    """The surrogate term alone (after TIS weighting), normalised like ``loss``."""
    tokens: float
    """Number of tokens that carry loss (mask sum)."""
    clip_fraction: float
    """Fraction of loss tokens where the clipped branch was taken (low + high)."""
    clip_fraction_low: float
    """``ratio < 1 - eps_low`` with a negative advantage."""
    clip_fraction_high: float
    """``ratio > 1 + eps_high`` with a positive advantage."""
    ratio_mean: float
    approx_kl_old: float
    """k3 estimate of KL(current || old): how far the update has moved the policy."""
    kl_ref: float | None = None
    """k3 estimate of KL(current || reference), when ``ref_logprobs`` is given."""
    is_weight_mean: float | None = None
    is_weight_max: float | None = None
    """Largest TIS weight *before* the cap: a large value means trainer and rollout engine disagree."""
    is_capped_fraction: float | None = None

    def as_dict(self, prefix: str = "train/") -> dict[str, float]:
        return {f"{prefix}{f.name}": v for f in fields(self) if (v := getattr(self, f.name)) is not None}


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` over entries where ``mask`` is 1; 0 (not NaN) when the mask is empty."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def k3_kl(logprobs: Tensor, other_logprobs: Tensor) -> Tensor:
    """Per-token k3 estimator of KL(p || q) from samples of p: ``exp(q - p) - (q - p) - 1`` (>= 0, unbiased)."""
    diff = other_logprobs - logprobs
    return torch.exp(diff) - diff - 1.0


def token_logprobs(logits: Tensor, input_ids: Tensor) -> Tensor:
    """``[B, T]`` logprob of each input token under the logits that predicted it (position 0 → 0).

    Uses ``gather - logsumexp`` rather than a full ``log_softmax`` so the ``[B, T, V]`` log-probs are never stored.
    """
    if logits.dim() != 3 or logits.shape[:2] != input_ids.shape:
        raise ValueError(f"logits {tuple(logits.shape)} must be [B, T, V] matching input_ids {tuple(input_ids.shape)}")
    pred = logits[:, :-1].float()
    targets = input_ids[:, 1:].unsqueeze(-1)
    picked = pred.gather(-1, targets).squeeze(-1) - torch.logsumexp(pred, dim=-1)
    return torch.nn.functional.pad(picked, (1, 0), value=0.0)


def token_entropy(logits: Tensor) -> Tensor:
    """``[B, T]`` entropy of the distribution that predicted each input token (position 0 → 0); for metrics."""
    with torch.no_grad():
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        entropy = -(logp.exp() * logp).sum(dim=-1)
    return torch.nn.functional.pad(entropy, (1, 0), value=0.0)


def _check_inputs(
    logprobs: Tensor, tensors: dict[str, Tensor | None], advantages: Tensor, eps_low: float, eps_high: float, cap: float
) -> None:
    if logprobs.dim() != 2:
        raise ValueError(f"logprobs must be [B, T], got shape {tuple(logprobs.shape)}")
    for name, tensor in tensors.items():
        if tensor is not None and tensor.shape != logprobs.shape:
            raise ValueError(f"{name} has shape {tuple(tensor.shape)}, expected {tuple(logprobs.shape)} like logprobs")
    if advantages.shape not in (logprobs.shape, logprobs.shape[:1]):
        raise ValueError(
            f"advantages must be [B] or [B, T] for logprobs {tuple(logprobs.shape)}, got {tuple(advantages.shape)}"
        )
    if not 0.0 <= eps_low < 1.0 or eps_high < 0.0:
        raise ValueError(f"need 0 <= clip_eps_low < 1 and clip_eps_high >= 0, got {eps_low}, {eps_high}")
    if cap <= 0.0:
        raise ValueError(f"tis_cap must be > 0, got {cap}")


def grpo_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_eps_low: float = 0.2,
    clip_eps_high: float = 0.2,
    ref_logprobs: Tensor | None = None,
    kl_coef: float = 0.0,
    rollout_logprobs: Tensor | None = None,
    tis_cap: float = 2.0,
    num_tokens: float | None = None,
) -> tuple[Tensor, GRPOMetrics]:
    """Clipped token-level GRPO loss (scalar, differentiable in ``logprobs``) and its metrics.

    ``old_logprobs``: the trainer's logprobs under the weights that generated the rollouts (for a single update
    per batch, ``logprobs.detach()``). ``advantages``: ``[B]`` (one per sequence) or ``[B, T]``. ``mask``: 1 on
    tokens that carry loss (the student's generated tokens). ``rollout_logprobs``: the generating engine's own
    logprobs; given, each token's surrogate is weighted by ``min(exp(old - rollout), tis_cap)`` (detached). The KL
    term is not IS-weighted. ``num_tokens`` replaces the mask sum as the normaliser (use the global count of loss
    tokens when one optimizer step accumulates several micro-batches).
    """
    tensors = {
        "old_logprobs": old_logprobs,
        "mask": mask,
        "ref_logprobs": ref_logprobs,
        "rollout_logprobs": rollout_logprobs,
    }
    _check_inputs(logprobs, tensors, advantages, clip_eps_low, clip_eps_high, tis_cap)
    if kl_coef != 0.0 and ref_logprobs is None:
        raise ValueError(f"kl_coef={kl_coef} needs ref_logprobs (the reference model's token logprobs)")
    if num_tokens is not None and num_tokens <= 0:
        raise ValueError(f"num_tokens must be > 0, got {num_tokens}")

    logprobs = logprobs.float()
    old = old_logprobs.detach().float()
    adv = (advantages.unsqueeze(-1) if advantages.dim() == 1 else advantages).detach().float()
    mask_f = mask.float()
    denom: Tensor | float = mask_f.sum().clamp(min=1.0) if num_tokens is None else float(num_tokens)

    ratio = torch.exp(logprobs - old)
    clipped = ratio.clamp(1.0 - clip_eps_low, 1.0 + clip_eps_high)
    per_token = -torch.minimum(ratio * adv, clipped * adv)
    stats: dict[str, Tensor] = {}
    if rollout_logprobs is not None:
        raw_w = torch.exp(old - rollout_logprobs.detach().float())
        weight = raw_w.clamp(max=tis_cap)
        per_token = per_token * weight
        stats["is_weight_mean"] = masked_mean(weight, mask_f)
        stats["is_weight_max"] = torch.where(mask_f > 0, raw_w, torch.zeros_like(raw_w)).amax()
        stats["is_capped_fraction"] = masked_mean((raw_w > tis_cap).float(), mask_f)
    policy_loss = (per_token * mask_f).sum() / denom
    loss = policy_loss
    if ref_logprobs is not None:
        kl = k3_kl(logprobs, ref_logprobs.detach().float())
        stats["kl_ref"] = masked_mean(kl.detach(), mask_f)
        if kl_coef != 0.0:
            loss = loss + kl_coef * (kl * mask_f).sum() / denom

    with torch.no_grad():
        low = ((ratio < 1.0 - clip_eps_low) & (adv < 0)).float()
        high = ((ratio > 1.0 + clip_eps_high) & (adv > 0)).float()
        stats |= {
            "loss": loss.detach(),
            "policy_loss": policy_loss.detach(),
            "tokens": mask_f.sum(),
            "clip_fraction": masked_mean(low + high, mask_f),
            "clip_fraction_low": masked_mean(low, mask_f),
            "clip_fraction_high": masked_mean(high, mask_f),
            "ratio_mean": masked_mean(ratio, mask_f),
            "approx_kl_old": masked_mean(k3_kl(logprobs, old), mask_f),
        }
        names = list(stats)
        values = torch.stack([stats[n].detach().float().reshape(()) for n in names]).cpu().tolist()
    return loss, GRPOMetrics(**dict(zip(names, values, strict=True)))
