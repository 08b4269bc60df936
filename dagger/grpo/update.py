"""The GRPO update: recorded group rollouts → token sequences → clipped policy-gradient steps (+ optional SFT term).

Sequences come from the records (:mod:`~swe_dagger.dagger.grpo.batch`): one per student turn, holding exactly the
context the student saw and the token ids it generated, with the episode's group advantage. The loss is
:func:`~swe_dagger.dagger.grpo_loss.grpo_loss` on the trainer's logprobs at the rollout temperature, normalised over
the loss tokens of each minibatch (micro-batches accumulate). A sequence whose advantage is exactly 0 carries no
gradient when there is no KL term (``kl_coef == 0``): it is not forwarded (nor scored for the old logprobs), but its
tokens still count in its minibatch's normaliser, so the update is the one that scoring it would give. With
``sft_coef > 0`` the teacher's labels of the same student states (SFT rows of :mod:`~swe_dagger.dagger.sft.examples`)
add ``sft_coef * sft_loss`` to each optimizer step.

One loop through ``accelerate`` like :mod:`~swe_dagger.dagger.sft.trainer`. The AdamW state is handed in and returned so
the phase can carry it from step to step (and save it beside each checkpoint for ``--resume``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from accelerate import Accelerator

from swe_dagger.agents.protocol import StateRenderer
from swe_dagger.dagger.config import GRPOConfig, SFTConfig
from swe_dagger.dagger.grpo.batch import RLSequence, collate_rl, student_turn_sequences
from swe_dagger.dagger.grpo.window import Window, join_tails, split_tails, window, window_logits, window_logprobs
from swe_dagger.dagger.grpo_loss import GRPOMetrics, grpo_loss, masked_mean, token_entropy
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.sft.checkpoints import precision_for
from swe_dagger.dagger.sft.dataset import label_rows
from swe_dagger.dagger.sft.examples import SFTExample, collate_left, encode_rows, token_counter
from swe_dagger.dagger.sft.trainer import release, target_logits
from swe_dagger.dagger.sft_loss import IGNORE, sft_loss


@dataclass(frozen=True)
class GRPOUpdateResult:
    """What one GRPO step's update did (means over its optimizer steps; ``None`` = term not computed)."""

    optimizer_steps: int
    """0 when the step had no signal (every advantage 0 and no SFT/KL term): the weights are left unchanged."""
    sequences: int
    loss_tokens: int
    """Student tokens of the scored sequences (summed over epochs); skipped ones are not counted."""
    loss: float
    pg_loss: float
    sft_loss: float | None
    clip_fraction: float
    ratio_mean: float
    approx_kl_old: float
    kl_ref: float | None
    is_weight_mean: float | None
    is_weight_max: float | None
    is_capped_fraction: float | None
    entropy: float
    """Mean entropy (at the rollout temperature) of the distributions that produced the student tokens."""
    grad_norm: float
    """Mean gradient norm before clipping."""
    seconds: float
    sequences_skipped: int = 0
    """Sequences with advantage 0 that were never forwarded (no KL term: they carry no gradient). Counted once, not
    per epoch; the metrics above (entropy, clip fraction, ...) are over the scored sequences only."""


def rl_sequences(
    trajectories: Sequence[Trajectory], advantages: Sequence[float], tokenizer: Any, agent: StateRenderer,
    *, require_logprobs: bool,
) -> tuple[list[RLSequence], list[float]]:
    """One sequence per student turn (the context it saw + its tokens), each with its episode's advantage."""
    count = token_counter(tokenizer)

    def render(prefix: Any, history: Any) -> Any:
        return agent.render(prefix, history, count)

    sequences: list[RLSequence] = []
    per_sequence: list[float] = []
    for trajectory, advantage in zip(trajectories, advantages, strict=True):
        turns = student_turn_sequences(trajectory, tokenizer, render, require_logprobs=require_logprobs)
        sequences.extend(turns)
        per_sequence.extend([float(advantage)] * len(turns))
    return sequences, per_sequence


def sft_examples(trajectories: Sequence[Trajectory], agent: StateRenderer, tokenizer: Any, max_seq_len: int
                 ) -> list[SFTExample]:
    """The teacher's labels of the rollouts' states as SFT examples (the combined objective's SFT term)."""
    rows = [row for trajectory in trajectories for row in label_rows(trajectory)]
    return encode_rows(rows, agent, tokenizer, max_seq_len)


def _chunks(items: list[int], parts: int) -> list[list[int]]:
    size = math.ceil(len(items) / parts) if items else 0
    return [items[k * size : (k + 1) * size] for k in range(parts)] if size else [[] for _ in range(parts)]


class _Totals:
    """Token-weighted sums of the per-micro-batch loss metrics, averaged at the end."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.weights: dict[str, float] = {}

    def add(self, name: str, value: float | None, weight: float = 1.0) -> None:
        if value is not None:
            self.sums[name] = self.sums.get(name, 0.0) + value * weight
            self.weights[name] = self.weights.get(name, 0.0) + weight

    def mean(self, name: str) -> float | None:
        return self.sums[name] / self.weights[name] if self.weights.get(name) else None


def grpo_update(
    model: Any,
    sequences: Sequence[RLSequence],
    advantages: Sequence[float],
    cfg: GRPOConfig,
    *,
    precision: SFTConfig,
    pad_id: int,
    seed: int,
    sft: Sequence[SFTExample] = (),
    ref_model: Any | None = None,
    optimizer_state: dict[str, Any] | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
    step: int = 0,
    skip_zero_advantage: bool = True,
) -> tuple[GRPOUpdateResult, dict[str, Any]]:
    """Update ``model`` in place; returns the result and the optimizer's state (to pass to the next step).

    ``step``: the GRPO step, for its rollout temperature (``cfg.temperature_at(step)``: tokens are scored at the
    temperature they were sampled at). ``skip_zero_advantage=False`` forwards every sequence (same update, slower;
    for tests and benchmarks)."""
    started = time.perf_counter()
    if len(sequences) != len(advantages):
        raise ValueError(f"{len(advantages)} advantages for {len(sequences)} sequences")
    if cfg.kl_coef > 0 and ref_model is None:
        raise ValueError(f"grpo.kl_coef={cfg.kl_coef} needs the reference model")
    sft = list(sft) if cfg.sft_coef > 0 else []
    torch.manual_seed(seed)
    accelerator = Accelerator(mixed_precision=precision_for(precision))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    model, optimizer = accelerator.prepare(model, optimizer)
    totals, steps = _Totals(), 0
    no_signal = not any(a != 0.0 for a in advantages) and not sft and cfg.kl_coef == 0
    temperature = cfg.temperature_at(step)
    skip = skip_zero_advantage and (cfg.kl_coef == 0 or ref_model is None)
    scored = [i for i, a in enumerate(advantages) if a != 0.0 or not skip]
    scored_ids = set(scored)
    if (sequences or sft) and not no_signal:  # SFT alone when dynamic sampling left no group with signal
        model.train()
        generator = torch.Generator().manual_seed(seed)
        total = cfg.epochs * cfg.minibatches
        old: dict[int, torch.Tensor] | None = None
        if total > 1:  # later minibatches are off-policy: the ratio needs the rollout weights' logprobs
            old = _logprobs(model, sequences, advantages, scored, cfg, temperature, pad_id, accelerator)
        for _ in range(cfg.epochs):
            order = torch.randperm(len(sequences), generator=generator).tolist()
            sft_order = torch.randperm(len(sft), generator=generator).tolist()
            for rl_ids, sft_ids in zip(_chunks(order, cfg.minibatches), _chunks(sft_order, cfg.minibatches),
                                       strict=True):
                step_loss = _minibatch(model, ref_model, sequences, advantages, sft, rl_ids, scored_ids, sft_ids,
                                       old, cfg, temperature, pad_id, accelerator, totals)
                totals.add("loss", step_loss)
                _zero_grads_if_none(model)
                norm = accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm or math.inf)
                totals.add("grad_norm", float(norm))
                optimizer.step()
                optimizer.zero_grad()
                steps += 1
                if on_step is not None:
                    on_step(steps, total, step_loss)
    state = optimizer.state_dict()
    release(accelerator, model)
    skipped = len(sequences) - (len(scored) if steps else 0)  # no step: nothing was forwarded
    return _result(totals, steps, sequences, skipped, time.perf_counter() - started), state


def _zero_grads_if_none(model: Any) -> None:
    """A minibatch with nothing scored gets the zero gradients scoring it would have given, so the optimizer step
    (AdamW's momentum and step count) is the same as when its zero-advantage sequences were forwarded."""
    params = [p for p in model.parameters() if p.requires_grad]
    if all(p.grad is None for p in params):
        for p in params:
            p.grad = torch.zeros_like(p)


def _micro_window(sequences: Sequence[RLSequence], advantages: Sequence[float], chunk: list[int], pad_id: int,
                  device: torch.device) -> Window:
    batch = collate_rl([sequences[i] for i in chunk], [advantages[i] for i in chunk], pad_token_id=pad_id)
    return window(batch.to(device))


def _logprobs(model: Any, sequences: Sequence[RLSequence], advantages: Sequence[float], scored: list[int],
              cfg: GRPOConfig, temperature: float, pad_id: int, accelerator: Accelerator) -> dict[int, torch.Tensor]:
    """The ``scored`` sequences' tail logprobs under the current weights (no grad): the ratio's denominator for
    later minibatches."""
    out: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for k in range(0, len(scored), cfg.micro_batch_size):
            chunk = scored[k : k + cfg.micro_batch_size]
            w = _micro_window(sequences, advantages, chunk, pad_id, accelerator.device)
            with accelerator.autocast():
                lp = window_logprobs(window_logits(model, w, temperature), w)
            out.update(zip(chunk, split_tails(lp, w), strict=True))
    return out


def _minibatch(
    model: Any, ref_model: Any | None, sequences: Sequence[RLSequence], advantages: Sequence[float],
    sft: Sequence[SFTExample], rl_ids: list[int], scored: set[int], sft_ids: list[int],
    old: dict[int, torch.Tensor] | None, cfg: GRPOConfig, temperature: float, pad_id: int, accelerator: Accelerator,
    totals: _Totals,
) -> float:
    """Accumulate one optimizer step's gradients (PG term over the ``scored`` of ``rl_ids``, SFT term over
    ``sft_ids``); its loss. The PG normaliser counts the loss tokens of *all* ``rl_ids``, skipped ones included."""
    step_pg, step_policy, step_sft = 0.0, 0.0, 0.0
    n_tokens = float(sum(sum(sequences[i].loss_mask) for i in rl_ids))
    forwarded = [i for i in rl_ids if i in scored]
    for k in range(0, len(forwarded), cfg.micro_batch_size):
        chunk = forwarded[k : k + cfg.micro_batch_size]
        w = _micro_window(sequences, advantages, chunk, pad_id, accelerator.device)
        with accelerator.autocast():
            logits = window_logits(model, w, temperature)
            lp = window_logprobs(logits, w)
            old_lp = lp.detach() if old is None else join_tails([old[i] for i in chunk], lp)
            ref_lp = None
            if ref_model is not None and cfg.kl_coef > 0:
                with torch.no_grad():
                    ref_lp = window_logprobs(window_logits(ref_model, w, temperature), w)
            loss, m = grpo_loss(
                lp, old_lp, w.advantages, w.loss_mask, clip_eps_low=cfg.clip_eps_low,
                clip_eps_high=cfg.clip_eps_high, ref_logprobs=ref_lp, kl_coef=cfg.kl_coef,
                rollout_logprobs=w.rollout_logprobs if cfg.tis_cap is not None else None,
                tis_cap=cfg.tis_cap or 1.0, num_tokens=max(n_tokens, 1.0),
            )
            accelerator.backward(loss)
        step_pg, step_policy = step_pg + m.loss, step_policy + m.policy_loss
        _add_pg(totals, m, float(masked_mean(token_entropy(logits), w.loss_mask)))
    n_targets = sum(sum(t != IGNORE for t in sft[i].labels) for i in sft_ids)
    for k in range(0, len(sft_ids), cfg.micro_batch_size):
        batch_sft, keep = collate_left([sft[i] for i in sft_ids[k : k + cfg.micro_batch_size]], pad_id)
        batch_sft = {key: v.to(accelerator.device) for key, v in batch_sft.items()}
        with accelerator.autocast():
            logits = target_logits(model, batch_sft, keep)
            loss_sft, ms = sft_loss(logits, batch_sft["labels"][:, -logits.shape[1] :])
            share = ms.target_tokens / max(n_targets, 1)
            accelerator.backward(cfg.sft_coef * share * loss_sft)
        totals.add("sft_loss", ms.loss, ms.target_tokens)
        step_sft += ms.loss * share
    totals.add("pg_loss", step_policy)
    return step_pg + cfg.sft_coef * step_sft


def _add_pg(totals: _Totals, m: GRPOMetrics, entropy: float) -> None:
    w = m.tokens
    totals.add("tokens", m.tokens)
    for name in ("clip_fraction", "ratio_mean", "approx_kl_old", "kl_ref", "is_weight_mean", "is_capped_fraction"):
        totals.add(name, getattr(m, name), w)
    if m.is_weight_max is not None:
        totals.sums["is_weight_max"] = max(totals.sums.get("is_weight_max", 0.0), m.is_weight_max)
        totals.weights["is_weight_max"] = 1.0
    totals.add("entropy", entropy, w)


def _result(t: _Totals, steps: int, sequences: Sequence[RLSequence], skipped: int, seconds: float
            ) -> GRPOUpdateResult:
    return GRPOUpdateResult(
        optimizer_steps=steps, sequences=len(sequences), loss_tokens=int(t.sums.get("tokens", 0.0)),
        loss=t.mean("loss") or 0.0, pg_loss=t.mean("pg_loss") or 0.0, sft_loss=t.mean("sft_loss"),
        clip_fraction=t.mean("clip_fraction") or 0.0, ratio_mean=t.mean("ratio_mean") or 1.0,
        approx_kl_old=t.mean("approx_kl_old") or 0.0, kl_ref=t.mean("kl_ref"),
        is_weight_mean=t.mean("is_weight_mean"), is_weight_max=t.sums.get("is_weight_max"),
        is_capped_fraction=t.mean("is_capped_fraction"), entropy=t.mean("entropy") or 0.0,
        grad_norm=t.mean("grad_norm") or 0.0, seconds=seconds, sequences_skipped=skipped,
    )
