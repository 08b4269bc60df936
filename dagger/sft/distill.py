"""Token-level distillation in SFT (``dagger.loss: reverse_kl | ce+reverse_kl``): the student's own replies, scored
by a teacher of the same tokenizer, trained on the per-token reverse KL (:mod:`~swe_dagger.dagger.kl_loss`).

The examples are the states where the student acted (``LabelRow.author == "student"``): the prompt the student saw
and its reply (``student_action`` re-tokenized by the student's tokenizer, plus the end-of-turn token, exactly as
:func:`~swe_dagger.dagger.sft.examples.encode_row` tokenizes labels); the loss mask covers the reply's tokens only
(student-authored), never the prompt or teacher-authored turns. An in-process teacher gives logits at train time
(exact full-vocabulary KL); a served teacher's logprobs of the reply tokens are fetched once before training
(:func:`score`, the sampled estimator).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from swe_dagger.agents.protocol import StateRenderer
from swe_dagger.dagger.kl_loss import KLMetrics, full_reverse_kl, sampled_reverse_kl
from swe_dagger.dagger.sft.dataset import LabelRow
from swe_dagger.dagger.sft.examples import SFTExample, collate_left, encode_row, token_counter
from swe_dagger.dagger.sft.token_teacher import HFTokenTeacher, TokenTeacher
from swe_dagger.dagger.sft_loss import IGNORE, SFTLossMetrics


@dataclass(frozen=True)
class KLExample:
    example: SFTExample
    """The prompt and the student's reply; ``labels`` = the reply's tokens (the loss mask), ``IGNORE`` elsewhere."""
    teacher_logprobs: tuple[float, ...] | None = None
    """The teacher's logprob of each reply token (a served teacher); ``None``: an in-process teacher's logits."""


@dataclass(frozen=True)
class Distillation:
    """What :func:`~swe_dagger.dagger.sft.trainer.train_sft` adds to (or uses instead of) cross-entropy."""

    kl: Sequence[KLExample | None]
    """Aligned with the trainer's examples: the student's reply at that state, ``None`` where no KL applies."""
    teacher: HFTokenTeacher | None
    """The in-process teacher (full-vocabulary KL); ``None`` when every ``KLExample`` carries teacher logprobs."""
    ce_everywhere: bool = True
    """``ce+reverse_kl``: cross-entropy on every state's label as well; ``reverse_kl``: only on states without a
    student reply (teacher-acted turns, where the teacher's action is the only signal)."""
    kl_weight: float = 1.0


@dataclass(frozen=True)
class DistillMetrics(SFTLossMetrics):
    kl: float = 0.0
    """Mean per-token reverse KL estimate of the micro-batch's student replies."""
    kl_tokens: int = 0


def student_replies(
    rows: Sequence[LabelRow], renderer: StateRenderer, tokenizer: Any, max_seq_len: int
) -> list[SFTExample | None]:
    """Per row: the student's reply at that state as an example (prompt masked), ``None`` on teacher-acted rows."""
    count = token_counter(tokenizer)
    return [
        encode_row(dataclasses.replace(r, label=r.student_action), renderer, tokenizer, max_seq_len, count)
        if r.author == "student" and r.student_action is not None else None
        for r in rows
    ]


def score(examples: Sequence[SFTExample | None], teacher: TokenTeacher) -> list[KLExample | None]:
    """Attach the teacher's logprobs of each reply's tokens (one request per reply for a served teacher);
    an in-process teacher is left for train time (its full distributions give the exact KL)."""
    if isinstance(teacher, HFTokenTeacher):
        return [None if e is None else KLExample(e) for e in examples]
    present = [e for e in examples if e is not None]
    scored = iter(teacher.logprobs([e.input_ids for e in present], [_targets(e) for e in present]))
    return [None if e is None else KLExample(e, next(scored)) for e in examples]


def _targets(example: SFTExample) -> int:
    return sum(1 for label in example.labels if label != IGNORE)


def distill_loss(
    model: Any,
    distill: Distillation,
    units: Sequence[SFTExample],
    batch: Sequence[int],
    pad_id: int,
    device: torch.device,
    ce_loss: Any,
) -> tuple[torch.Tensor, DistillMetrics]:
    """``CE(labels) + kl_weight * reverse KL(the batch's student replies)``, CE over every state of ``batch`` or
    (``ce_everywhere`` false) over its states without a student reply.

    ``ce_loss(units) -> (loss, SFTLossMetrics)`` is the trainer's cross-entropy."""
    loss = torch.zeros((), device=device)
    ce = SFTLossMetrics(loss=0.0, target_tokens=0, accuracy=0.0)
    ce_units = [units[i] for i in batch if distill.ce_everywhere or distill.kl[i] is None]
    if ce_units:
        ce_value, ce = ce_loss(ce_units)
        loss = loss + ce_value
    kl_units = [k for i in batch if (k := distill.kl[i]) is not None]
    kl = KLMetrics(loss=0.0, tokens=0, estimator="full")
    if kl_units:
        kl_value, kl = kl_term(model, kl_units, distill.teacher, pad_id, device)
        loss = loss + distill.kl_weight * kl_value
    metrics = DistillMetrics(loss=float(loss.detach()), target_tokens=ce.target_tokens + kl.tokens,
                             accuracy=ce.accuracy, kl=kl.loss, kl_tokens=kl.tokens)
    return loss, metrics


def kl_term(
    model: Any, kl_units: Sequence[KLExample], teacher: HFTokenTeacher | None, pad_id: int, device: torch.device
) -> tuple[torch.Tensor, KLMetrics]:
    """The reverse KL of the student's replies: full-vocabulary with an in-process teacher, else sampled."""
    batch, keep = collate_left([k.example for k in kl_units], pad_id)
    batch = {k: v.to(device) for k, v in batch.items()}
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   position_ids=batch["position_ids"], logits_to_keep=keep).logits[:, -keep:]
    targets = batch["labels"][:, -keep + 1 :]
    mask = targets != IGNORE
    if all(k.teacher_logprobs is not None for k in kl_units):
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        picked = logp.gather(-1, targets.masked_fill(~mask, 0).unsqueeze(-1)).squeeze(-1)
        teacher_lp = torch.zeros_like(picked)
        for row, k in enumerate(kl_units):
            lp = k.teacher_logprobs or ()
            teacher_lp[row, teacher_lp.shape[1] - len(lp) :] = torch.tensor(lp, device=device)
        return sampled_reverse_kl(picked, teacher_lp, mask)
    if teacher is None:
        raise ValueError("reverse KL without teacher logprobs needs the in-process teacher's logits")
    return full_reverse_kl(logits[:, :-1], teacher.logits(batch, keep)[:, :-1].to(logits.device), mask)


def prepare(
    loss: str,
    kl_coef: float,
    rows: Sequence[LabelRow],
    renderer: StateRenderer,
    tokenizer: Any,
    max_seq_len: int,
    teacher: TokenTeacher,
) -> Distillation:
    """The distillation of ``rows`` (aligned with the trainer's examples of the same rows) under ``dagger.loss``:
    every student-authored state's reply, scored by ``teacher`` (a served one now; an in-process one at train time)."""
    replies = student_replies(rows, renderer, tokenizer, max_seq_len)
    return Distillation(kl=score(replies, teacher), teacher=teacher if isinstance(teacher, HFTokenTeacher) else None,
                        ce_everywhere=loss == "ce+reverse_kl", kl_weight=kl_coef)
