"""Prefix-shared packing: the labeled states of one episode trained as ONE sequence, with the per-state loss.

Per state, SFT trains ``prompt_t + target_t`` (:mod:`~swe_dagger.dagger.sft.examples`), so an episode of T states
costs the sum of its prompts: O(T²) tokens, since each prompt holds the whole history before its state. Here the
states of an episode become one sequence::

    trunk = the latest state's example (its prompt + target)       positions 0 .. n-1, causal
    branch for an earlier state = its example from where it leaves the trunk    positions restart there

A state's branch starts at the last token it shares with the trunk, and never after its prompt's last token (that
position predicts the target's first token, while the trunk's copy of it predicts what actually came next). It
attends to the trunk's tokens before that point and causally to itself; no other token attends to it. So every
target token sees exactly the tokens, at exactly the positions, it sees in its own per-state example, and the loss
(mean over target tokens) and its gradients are the per-state ones up to float rounding. A state whose whole example
is a prefix of the trunk (a teacher-acted turn: the label is the action, tokenized the same) needs no branch: its
labels are set on the trunk.

What is shared is decided on the encoded token ids, never assumed. With nested prompts a branch is the prompt's
last token and the label. A prompt whose old observations were elided to ``student.max_prompt_tokens`` (which
changes every later prompt) leaves the trunk at its first elided observation, so its branch is longer; one cut at
the left to ``sft.max_seq_len`` shares nothing and trains alone. Packing is exact whatever the renderer did, and
saves tokens as far as the rendered history grows by appending.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from swe_dagger.dagger.sft.examples import SFTExample, target_span
from swe_dagger.dagger.sft_loss import IGNORE

MASK_IMPLEMENTATIONS = ("eager", "sdpa")
"""Attention implementations that take a dense 4D mask (flash-attention kernels and flex attention do not)."""


@dataclass(frozen=True)
class PackedSequence:
    """Several states of one episode as one sequence (see the module docstring); ``states`` counts them."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    """``IGNORE`` except on target tokens; position ``i`` predicts ``labels[i + 1]`` (inside a segment)."""
    position_ids: tuple[int, ...]
    branch: tuple[int, ...]
    """0 on the trunk, k on the k-th branch."""
    sees_trunk: tuple[int, ...]
    """How many leading trunk tokens each token attends to (trunk token i: i + 1)."""
    states: int


def prompt_len(example: SFTExample) -> int:
    return len(example.input_ids) - target_span(example)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common token prefix of ``a`` and ``b``."""
    n = min(len(a), len(b))
    differ = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(differ[0]) if differ.size else n


def branch_start(example: SFTExample, trunk: SFTExample) -> int | None:
    """Where ``example`` leaves ``trunk``: ``None`` when its whole example is a prefix of the trunk (its target can
    be labeled in place), else the position of its branch's first token: the last shared token, and never after
    its prompt's last token (that position predicts the first target token, so it must be in the branch)."""
    shared = common_prefix(example.input_ids, trunk.input_ids)
    if shared == len(example.input_ids) and prompt_len(example) > 0:
        return None
    return max(min(shared, prompt_len(example)) - 1, 0)


def pack_group(group: Sequence[SFTExample]) -> PackedSequence:
    """One packed sequence of ``group``; its last example is the trunk, every other one labels the trunk in place
    or branches off it where it stops sharing the trunk's tokens."""
    trunk = group[-1]
    ids, labels = list(trunk.input_ids), list(trunk.labels)
    n = len(ids)
    positions, branch, sees = list(range(n)), [0] * n, list(range(1, n + 1))
    k = 0
    for example in group[:-1]:
        start = branch_start(example, trunk)
        if start is None:
            span = slice(prompt_len(example), len(example.input_ids))
            if all(label == IGNORE for label in labels[span]):
                labels[span] = example.labels[span]
                continue
            start = prompt_len(example) - 1  # that target is already labeled once there: a branch keeps both
        k += 1
        size = len(example.input_ids) - start
        ids += example.input_ids[start:]
        labels += [IGNORE, *example.labels[start + 1 :]]  # a branch's first token is never predicted
        positions += range(start, len(example.input_ids))
        branch += [k] * size
        sees += [start] * size
    return PackedSequence(tuple(ids), tuple(labels), tuple(positions), tuple(branch), tuple(sees), len(group))


def packed_len(group: Sequence[SFTExample]) -> int:
    """Tokens of ``pack_group(group)`` (counting an in-place target as a branch: an upper bound)."""
    trunk = group[-1]
    total = len(trunk.input_ids)
    for example in group[:-1]:
        start = branch_start(example, trunk)
        total += 0 if start is None else len(example.input_ids) - start
    return total


def pack_examples(
    examples: Sequence[SFTExample], episodes: Sequence[Hashable], max_tokens: int
) -> list[PackedSequence]:
    """Pack ``examples`` (``episodes[i]`` names example i's episode; an episode's examples in turn order) into
    sequences of at most ``max_tokens`` tokens. Each state joins the sequence of its episode where it saves the most
    tokens (as that sequence's new trunk), or starts one; every example lands in exactly one sequence."""
    if len(examples) != len(episodes):
        raise ValueError(f"{len(examples)} examples but {len(episodes)} episode keys")
    by_episode: dict[Hashable, list[SFTExample]] = {}
    for example, key in zip(examples, episodes, strict=True):
        by_episode.setdefault(key, []).append(example)
    packed = []
    for members in by_episode.values():
        groups: list[list[SFTExample]] = []
        for example in members:
            best, saving = None, 0
            for group in groups:
                joined = packed_len([*group, example])
                gain = packed_len(group) + len(example.input_ids) - joined
                if joined <= max_tokens and gain > saving:
                    best, saving = group, gain
            if best is None:
                groups.append([example])
            else:
                best.append(example)  # the latest state has the most history: it becomes the trunk
        packed += [pack_group(group) for group in groups]
    return packed


def attn_implementation(model: Any) -> str:
    """The attention implementation ``model`` runs (HF's ``config._attn_implementation``; a PEFT wrapper passes
    its base model's config through)."""
    return str(getattr(getattr(model, "config", None), "_attn_implementation", None))


def attention_mask_4d(branch: torch.Tensor, sees_trunk: torch.Tensor) -> torch.Tensor:
    """(B, 1, L, L) bool, True = may attend. ``branch`` is -1 on padding (which then attends to itself only, so
    no softmax row is empty)."""
    width = branch.shape[1]
    key = torch.arange(width, device=branch.device)
    trunk = (branch[:, None, :] == 0) & (key[None, None, :] < sees_trunk[:, :, None])
    causal = key[None, :] <= key[:, None]
    own = (branch[:, :, None] == branch[:, None, :]) & (branch[:, :, None] > 0) & causal
    pad = (branch[:, :, None] == -1) & torch.eye(width, dtype=torch.bool, device=branch.device)
    return (trunk | own | pad)[:, None]


def collate_packed(
    sequences: Sequence[PackedSequence], pad_id: int, mask_dtype: torch.dtype | None = None
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Right-padded model inputs (``input_ids``, a 4D ``attention_mask``, ``position_ids``), ``keep``: the
    positions whose logits the loss needs (a 1D index, the same for every row), and ``targets`` (B, len(keep)):
    the token each kept position must predict (``IGNORE`` where none).

    ``mask_dtype=None`` gives a bool mask (SDPA); a float dtype gives an additive one (0 / most negative value), as
    eager attention adds the mask to its scores. A micro-batch without branches (sequences that each pack one
    state, or only states labeled on their trunk) gets ``input_ids`` alone: plain causal attention is exact there.
    """
    width = max(len(s.input_ids) for s in sequences)
    shape = (len(sequences), width)
    ids = torch.full(shape, pad_id, dtype=torch.long)
    labels = torch.full(shape, IGNORE, dtype=torch.long)
    positions = torch.zeros(shape, dtype=torch.long)
    branch = torch.full(shape, -1, dtype=torch.long)
    sees = torch.zeros(shape, dtype=torch.long)
    for i, s in enumerate(sequences):
        n = len(s.input_ids)
        ids[i, :n] = torch.tensor(s.input_ids)
        labels[i, :n] = torch.tensor(s.labels)
        positions[i, :n] = torch.tensor(s.position_ids)
        branch[i, :n] = torch.tensor(s.branch)
        sees[i, :n] = torch.tensor(s.sees_trunk)
    keep = (labels[:, 1:] != IGNORE).any(dim=0).nonzero().flatten()
    if not (branch > 0).any():
        # No branches: every row is one causal sequence at positions 0, 1, ...; its right padding comes after its
        # real tokens, which causal attention never lets them see. So the model's own causal mask is exact, and
        # it lets SDPA take its causal kernel (on CPU ~1.6x faster than the same attention under a dense mask).
        return {"input_ids": ids}, keep, labels[:, keep + 1]
    mask = attention_mask_4d(branch, sees)
    if mask_dtype is not None:
        mask = torch.zeros(mask.shape, dtype=mask_dtype).masked_fill(~mask, torch.finfo(mask_dtype).min)
    return {"input_ids": ids, "attention_mask": mask, "position_ids": positions}, keep, labels[:, keep + 1]


def packed_tokens(sequences: Sequence[PackedSequence]) -> int:
    return sum(len(s.input_ids) for s in sequences)
