"""Label rows → token ids and SFT labels (prompt masked with -100, the teacher's reply as the target).

The prompt is the state re-rendered by the agent (``Agent.render`` is deterministic, so the student is trained on
exactly the conversation it will see) and formatted by the tokenizer's chat template with the generation prompt;
the target is the label's tokens plus the end-of-turn token, i.e. what the student should generate there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from swe_dagger.agents.protocol import Conversation, StateRenderer
from swe_dagger.dagger.sft.dataset import LabelRow
from swe_dagger.dagger.sft_loss import IGNORE


@dataclass(frozen=True)
class SFTExample:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    """``IGNORE`` on prompt positions, the token id on target positions."""


def token_counter(tokenizer: Any) -> Callable[[str], int]:
    """``count_tokens`` for ``Agent.render`` (memoised: histories repeat across states)."""
    cache: dict[str, int] = {}

    def count(text: str) -> int:
        if text not in cache:
            cache[text] = len(tokenizer.encode(text, add_special_tokens=False))
        return cache[text]

    return count


def chat_messages(conversation: Conversation) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in conversation]


def prompt_ids(tokenizer: Any, conversation: Conversation) -> list[int]:
    """The chat-templated prompt with the assistant generation prompt, as the student's policy formats it."""
    ids = tokenizer.apply_chat_template(chat_messages(conversation), add_generation_prompt=True, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):  # some tokenizers return a BatchEncoding
        ids = ids["input_ids"]
    return [int(t) for t in ids]


def encode_row(
    row: LabelRow,
    renderer: StateRenderer,
    tokenizer: Any,
    max_seq_len: int,
    count_tokens: Callable[[str], int] | None = None,
) -> SFTExample:
    """One training example; a too-long example keeps the start of the target and the end of the prompt."""
    if tokenizer.eos_token_id is None:
        raise ValueError("the student's tokenizer has no eos_token_id: the SFT target could not end its turn")
    conversation = renderer.render(row.prefix, row.history, count_tokens)
    prompt = prompt_ids(tokenizer, conversation)
    target = [*tokenizer.encode(row.label, add_special_tokens=False), int(tokenizer.eos_token_id)]
    target = target[:max_seq_len]
    prompt = prompt[max(0, len(prompt) + len(target) - max_seq_len) :]
    return SFTExample(input_ids=tuple(prompt + target), labels=tuple([IGNORE] * len(prompt) + target))


def encode_rows(
    rows: Sequence[LabelRow], renderer: StateRenderer, tokenizer: Any, max_seq_len: int
) -> list[SFTExample]:
    count = token_counter(tokenizer)
    return [encode_row(r, renderer, tokenizer, max_seq_len, count) for r in rows]


def target_span(example: SFTExample) -> int:
    """Positions from the first target token to the end (the target sits at the end of every example)."""
    for i, label in enumerate(example.labels):
        if label != IGNORE:
            return len(example.labels) - i
    return 0


def collate_left(examples: Sequence[SFTExample], pad_id: int) -> tuple[dict[str, torch.Tensor], int]:
    """Left-padded batch (``input_ids``, ``attention_mask``, ``position_ids``, ``labels``) and ``keep``: how many
    final positions need logits.

    Why: every example ends with its target, so left padding lines the targets up at the right edge and the loss
    needs logits only for the last ``keep`` positions (the longest target plus the position that predicts its first
    token). Computing the vocabulary projection and cross-entropy there alone, instead of over the whole ~900-token
    prompt, is most of an SFT step for a small model. ``position_ids`` count from each row's first real token, so
    the model sees the same positions as unpadded.
    """
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    positions = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, width - n :] = torch.tensor(e.input_ids)
        labels[i, width - n :] = torch.tensor(e.labels)
        mask[i, width - n :] = 1
        positions[i, width - n :] = torch.arange(n)
    keep = min(width, max(target_span(e) for e in examples) + 1)
    return {"input_ids": ids, "attention_mask": mask, "position_ids": positions, "labels": labels}, keep
