"""Supervised fine-tuning of the student on the aggregated labels (checkpoints: :mod:`.checkpoints`).

One loop through ``accelerate.Accelerator`` so the same code runs on CPU, one GPU, or under FSDP/DeepSpeed launch
configs; bf16 autocast where the GPU supports it, fp32 on CPU. Full fine-tuning or LoRA (peft). Checkpoints are
plain HF directories (``save_pretrained`` of the model, or of the LoRA adapters, plus the tokenizer) written to a
temporary sibling and renamed, so a kill mid-save leaves no half checkpoint behind.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from accelerate import Accelerator

from swe_dagger.dagger.config import SFTConfig
from swe_dagger.dagger.sft.checkpoints import precision_for
from swe_dagger.dagger.sft.distill import Distillation, distill_loss
from swe_dagger.dagger.sft.examples import SFTExample, collate_left
from swe_dagger.dagger.sft.pack import (
    MASK_IMPLEMENTATIONS,
    PackedSequence,
    attn_implementation,
    collate_packed,
    pack_examples,
)
from swe_dagger.dagger.sft.trunk_attention import trunk_split
from swe_dagger.dagger.sft_loss import SFTLossMetrics, sft_loss, target_loss

_logger = logging.getLogger(__name__)

StepCallback = Callable[[int, int, float], None]
"""Called after every optimizer step with (step, total_steps, loss)."""


@dataclass(frozen=True)
class SFTResult:
    steps: int
    examples: int
    target_tokens: int
    epoch_losses: tuple[float, ...]
    """Mean loss of each epoch (over its micro-batches)."""
    first_loss: float
    """Loss of the first micro-batch, before any update."""
    final_loss: float
    """Mean loss of the last epoch."""
    seconds: float
    sequences: int = 0
    """Sequences per epoch: ``examples`` per state, fewer when packed (0: a result written before packing)."""
    input_tokens: int = 0
    """Tokens per epoch fed to the model, padding excluded."""
    kl_epochs: tuple[float, ...] = ()
    """Mean reverse KL (student || teacher) per token of each epoch's student replies (``dagger.loss`` with
    ``reverse_kl``; empty otherwise)."""


def train_sft(
    model: Any,
    examples: Sequence[SFTExample],
    cfg: SFTConfig,
    *,
    pad_id: int,
    seed: int,
    on_step: StepCallback | None = None,
    episodes: Sequence[Hashable] | None = None,
    log: Callable[[str], None] | None = None,
    distill: Distillation | None = None,
) -> SFTResult:
    """Train ``model`` in place on ``examples`` for ``cfg.epochs`` epochs, or until ``cfg.max_tokens_per_iteration``
    tokens have been trained on (at the end of the optimizer step that reaches it); deterministic under ``seed``.

    ``episodes[i]`` names example i's episode: with ``cfg.packing == "episode"`` an episode's states train as
    one packed sequence (:mod:`~swe_dagger.dagger.sft.pack`), and the token budget counts packed tokens; without
    ``episodes``, or when the model's attention cannot take a 4D mask (said once through ``log``), every state is its
    own sequence. ``distill`` (aligned with ``examples``; per-state training only) adds the reverse KL of the
    student's replies to the cross-entropy, or replaces it (:mod:`~swe_dagger.dagger.sft.distill`).
    """
    if not examples:
        raise ValueError("no SFT examples: the aggregated dataset is empty")
    started = time.perf_counter()
    torch.manual_seed(seed)
    units = training_units(model, examples, episodes if distill is None else None, cfg, log or _logger.warning)
    accelerator = Accelerator(mixed_precision=precision_for(cfg), gradient_accumulation_steps=cfg.grad_accum)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    order_gen = torch.Generator().manual_seed(seed)
    epochs = budgeted([micro_batches(units, torch.randperm(len(units), generator=order_gen).tolist(), cfg.batch_size)
                       for _ in range(cfg.epochs)], units, cfg.grad_accum, cfg.max_tokens_per_iteration)
    total_steps = max(1, sum(len(batches) for batches in epochs) // cfg.grad_accum)
    warmup = max(cfg.warmup_steps, 0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / (warmup + 1)))
    mask_dtype = next(model.parameters()).dtype if attn_implementation(model) == "eager" else None
    recompute(model, cfg.gradient_checkpointing)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    model.train()

    def ce(batch_units: Sequence[Any]) -> tuple[torch.Tensor, SFTLossMetrics]:
        return batch_loss(model, batch_units, pad_id, accelerator.device, mask_dtype)

    epoch_losses: list[float] = []
    kl_epochs: list[float] = []
    first_loss = math.nan
    step = 0
    tokens = 0
    for batches in epochs:
        losses: list[float] = []
        kls: list[float] = []
        for batch in batches:
            with accelerator.accumulate(model), accelerator.autocast():
                if distill is None:
                    loss, metrics = ce([units[i] for i in batch])
                else:
                    loss, distilled = distill_loss(model, distill, examples, batch, pad_id, accelerator.device, ce)
                    kls += [distilled.kl] if distilled.kl_tokens else []
                    metrics = distilled
                accelerator.backward(loss)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            losses.append(metrics.loss)
            tokens += metrics.target_tokens
            if math.isnan(first_loss):
                first_loss = metrics.loss
            if accelerator.sync_gradients:
                step += 1
                if on_step is not None:
                    on_step(step, total_steps, metrics.loss)
        epoch_losses.append(sum(losses) / len(losses))
        if kls:
            kl_epochs.append(sum(kls) / len(kls))
    release(accelerator, model)
    recompute(model, False)
    return SFTResult(
        steps=step,
        examples=len(examples),
        target_tokens=tokens,
        epoch_losses=tuple(epoch_losses),
        first_loss=first_loss,
        final_loss=epoch_losses[-1],
        seconds=time.perf_counter() - started,
        sequences=len(units),
        input_tokens=sum(len(u.input_ids) for u in units),
        kl_epochs=tuple(kl_epochs),
    )


def training_units(
    model: Any,
    examples: Sequence[SFTExample],
    episodes: Sequence[Hashable] | None,
    cfg: SFTConfig,
    log: Callable[[str], None],
) -> list[SFTExample] | list[PackedSequence]:
    """The sequences one epoch trains on: packed episodes when ``cfg.packing`` asks and the model can, else states."""
    if cfg.packing == "none" or episodes is None:
        return list(examples)
    impl = attn_implementation(model)
    if impl not in MASK_IMPLEMENTATIONS:
        log(f"sft.packing: episode needs a 4D attention mask, which attn_implementation {impl!r} cannot take "
            f"({' and '.join(MASK_IMPLEMENTATIONS)} can): training one sequence per state")
        return list(examples)
    return pack_examples(examples, episodes, cfg.pack_max_tokens)


def micro_batches(units: Sequence[SFTExample | PackedSequence], order: Sequence[int], states: int) -> list[list[int]]:
    """``order`` cut into micro-batches of at most ``states`` labeled states (a unit is never split, so a packed
    episode with more states is a micro-batch alone). Per state: consecutive chunks of ``states`` examples."""
    batches: list[list[int]] = []
    held = 0
    for i in order:
        unit = units[i]
        n = unit.states if isinstance(unit, PackedSequence) else 1
        if not batches or held + n > states:
            batches.append([])
            held = 0
        batches[-1].append(i)
        held += n
    return batches


def budgeted(
    epochs: list[list[list[int]]], units: Sequence[SFTExample | PackedSequence], grad_accum: int, budget: int | None
) -> list[list[list[int]]]:
    """``epochs`` (micro-batches of unit indices) cut after the optimizer step at which ``budget`` tokens of the
    units have been trained on (``None``: no cut; epochs left empty are dropped)."""
    if budget is None:
        return epochs
    kept: list[list[list[int]]] = []
    seen = batches = 0
    for epoch in epochs:
        kept.append([])
        for batch in epoch:
            kept[-1].append(batch)
            seen += sum(len(units[i].input_ids) for i in batch)
            batches += 1
            if seen >= budget and batches % grad_accum == 0:
                return kept
    return kept


def batch_loss(
    model: Any,
    units: Sequence[SFTExample | PackedSequence],
    pad_id: int,
    device: torch.device,
    mask_dtype: torch.dtype | None,
) -> tuple[torch.Tensor, SFTLossMetrics]:
    """The SFT loss of one micro-batch (all per-state examples or all packed sequences); logits only where needed."""
    if all(isinstance(u, PackedSequence) for u in units):
        inputs, keep, targets = collate_packed([u for u in units if isinstance(u, PackedSequence)], pad_id,
                                               mask_dtype)
        inputs = {k: v.to(device) for k, v in inputs.items()}
        keep = keep.to(device)
        branched = "attention_mask" in inputs  # else no branches: the model's causal mask already
        trunks = [u.branch.count(0) for u in units if isinstance(u, PackedSequence)] if branched else []
        with trunk_split(model, trunks) as split:
            logits = model(**inputs, **split, logits_to_keep=keep).logits
        if logits.shape[1] != keep.numel():  # a model that ignores logits_to_keep returns every position
            logits = logits[:, keep]
        return target_loss(logits, targets.to(device))
    batch, n_keep = collate_left([u for u in units if isinstance(u, SFTExample)], pad_id)
    batch = {k: v.to(device) for k, v in batch.items()}
    logits = target_logits(model, batch, n_keep)
    return sft_loss(logits, batch["labels"][:, -logits.shape[1] :])


def release(accelerator: Accelerator, model: Any) -> None:
    """Hand the trained model back as it came, in eval mode: without the mixed-precision forward wrapper that
    ``prepare`` puts on it. Why: with bf16 the in-process student would otherwise roll out under autocast while the
    same checkpoint reloaded (``--resume``, ``swe-dagger eval``, vLLM) runs in full precision (seen on an H200: max
    logit difference 0.03 on a 0.6B model)."""
    accelerator.unwrap_model(model, keep_fp32_wrapper=False).eval()
    accelerator.free_memory()


def recompute(model: Any, on: bool) -> None:
    """Turn activation (gradient) checkpointing on or off: non-reentrant, the KV cache off while it is on (the two
    do not mix). transformers 5 calls it ``activation_checkpointing_*``, earlier ones ``gradient_checkpointing_*``."""
    new = hasattr(model, "activation_checkpointing_enable")
    if not on and not getattr(model, "is_activation_checkpointing" if new else "is_gradient_checkpointing", False):
        return
    if on:
        kwargs = {"use_reentrant": False}
        if new:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    else:
        (model.activation_checkpointing_disable if new else model.gradient_checkpointing_disable)()
    if getattr(model, "config", None) is not None:
        model.config.use_cache = not on


def target_logits(model: Any, batch: dict[str, torch.Tensor], keep: int) -> torch.Tensor:
    """Logits of the last ``keep`` positions of a left-padded batch (see ``sft_data.collate_left``).

    ``logits_to_keep`` makes HF causal LMs project only those positions onto the vocabulary; a model that ignores it
    returns every position and is sliced here, so the loss is the same either way.
    """
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   position_ids=batch["position_ids"], logits_to_keep=keep).logits
    return logits[:, -keep:]
