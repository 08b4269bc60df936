"""Trajectory records → token sequences for the RL trainer, with per-token authors and masks.

A trajectory is rendered with the agent's own renderer and the tokenizer's chat template, but the student's turns
are spliced in as the *exact token ids the student generated* (``Turn.token_ids``), never re-tokenised text, so
the trainer scores the same tokens the rollout engine sampled and their ``Turn.logprobs`` line up one to one.
Every token gets an author (:class:`TokenSource`): ``STUDENT`` for generated tokens, ``TEACHER`` for a
teacher-acted turn's text, ``CONTEXT`` for everything else (system and task prompt, observations, chat-template
glue). The RL loss mask is ``STUDENT`` only; the same sequence with a ``TEACHER`` mask serves behaviour cloning.

Two layouts: :func:`trajectory_sequence` (one sequence per episode; valid when each student turn's context is a
prefix of the final rendering, i.e. the renderer elided nothing it had shown before) and
:func:`student_turn_sequences` (one sequence per student turn with exactly the context the student saw).
All per-token fields are aligned to input positions: index ``t`` describes ``input_ids[t]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from swe_dagger.agents.protocol import Conversation, Message
from swe_dagger.dagger.records import Trajectory, Turn


class TokenSource(IntEnum):
    """Who authored a token. ``PAD`` appears only in collated batches."""

    PAD = -1
    CONTEXT = 0
    STUDENT = 1
    TEACHER = 2


RenderFn = Callable[[Conversation, Sequence[tuple[str, str]]], Conversation]
"""A :class:`~swe_dagger.agents.protocol.StateRenderer` bound to a token counter:
``lambda p, h: agent.render(p, h, count)``."""


class RLBatchError(ValueError):
    """A trajectory cannot be turned into trainer tokens (missing ids, a template that rewrites content, ...)."""


@dataclass(frozen=True)
class RLSequence:
    """One token sequence for the trainer, derived from one trajectory (or one student turn of it)."""

    task_id: str
    reward: float
    input_ids: tuple[int, ...]
    sources: tuple[int, ...]
    """:class:`TokenSource` value per token."""
    rollout_logprobs: tuple[float, ...] | None
    """The rollout engine's logprob per token (0.0 where not ``STUDENT``); ``None`` if not required."""

    @property
    def loss_mask(self) -> tuple[int, ...]:
        """1 exactly on the student's generated tokens (the RL loss mask)."""
        return self.mask_for(TokenSource.STUDENT)

    def mask_for(self, *sources: TokenSource) -> tuple[int, ...]:
        """1 on tokens authored by any of ``sources`` (e.g. ``TEACHER`` for behaviour cloning)."""
        wanted = {int(s) for s in sources}
        return tuple(int(s in wanted) for s in self.sources)


class _Builder:
    """Accumulates tokens with their authors and rollout logprobs."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.sources: list[int] = []
        self.logprobs: list[float] = []

    def add(self, ids: Sequence[int], source: TokenSource, logprobs: Sequence[float] | None = None) -> None:
        self.ids.extend(ids)
        self.sources.extend([int(source)] * len(ids))
        self.logprobs.extend(logprobs if logprobs is not None else [0.0] * len(ids))

    def add_context(self, ids: list[int]) -> None:
        """Context after a student turn may begin with end-of-turn tokens the student already generated."""
        longest = min(self._student_tail(), len(ids))
        overlap = max((k for k in range(1, longest + 1) if self.ids[-k:] == ids[:k]), default=0)
        self.add(ids[overlap:], TokenSource.CONTEXT)

    def _student_tail(self) -> int:
        n = 0
        while n < len(self.sources) and self.sources[-1 - n] == TokenSource.STUDENT:
            n += 1
        return n


def _template(tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message], generation_prompt: bool) -> str:
    dicts = [{"role": m.role, "content": m.content} for m in messages]
    text = tokenizer.apply_chat_template(dicts, tokenize=False, add_generation_prompt=generation_prompt)
    if not isinstance(text, str):
        raise RLBatchError(f"apply_chat_template(tokenize=False) returned {type(text).__name__}, expected str")
    return text


def _encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return list(tokenizer.encode(text, add_special_tokens=False)) if text else []


def _student_tokens(trajectory: Trajectory, turn: Turn, require_logprobs: bool) -> tuple[int, ...]:
    """The turn's recorded token ids, after checking they (and the logprobs, if required) are usable."""
    where = f"task {trajectory.task_id!r} turn {turn.index}"
    if turn.token_ids is None:
        raise RLBatchError(f"{where}: student turn has no token_ids (the rollout backend must return them for RL)")
    if require_logprobs and turn.logprobs is None:
        raise RLBatchError(f"{where}: student turn has no rollout logprobs (pass require_logprobs=False to skip TIS)")
    if turn.logprobs is not None and len(turn.logprobs) != len(turn.token_ids):
        raise RLBatchError(f"{where}: {len(turn.token_ids)} token_ids but {len(turn.logprobs)} logprobs")
    return turn.token_ids


def _splice(
    trajectory: Trajectory,
    messages: Conversation,
    actions: dict[int, Turn],
    tokenizer: PreTrainedTokenizerBase,
    require_logprobs: bool,
) -> RLSequence:
    """Tokenise ``messages``; the assistant messages at the indices in ``actions`` are those turns' actions."""
    document = _template(tokenizer, messages, generation_prompt=False)
    out, cursor = _Builder(), 0
    for i in sorted(actions):
        turn = actions[i]
        before = _template(tokenizer, messages[:i], generation_prompt=True)
        if not document.startswith(before + messages[i].content):
            raise RLBatchError(
                f"task {trajectory.task_id!r} turn {turn.index}: the chat template does not render the assistant "
                "message as generation prompt + content, so recorded tokens cannot be spliced in"
            )
        out.add_context(_encode(tokenizer, document[cursor : len(before)]))
        if turn.author == "student":
            out.add(_student_tokens(trajectory, turn, require_logprobs), TokenSource.STUDENT, turn.logprobs)
        else:
            out.add(_encode(tokenizer, turn.action), TokenSource.TEACHER)
        cursor = len(before) + len(messages[i].content)
    out.add_context(_encode(tokenizer, document[cursor:]))
    return RLSequence(
        task_id=trajectory.task_id,
        reward=trajectory.reward,
        input_ids=tuple(out.ids),
        sources=tuple(out.sources),
        rollout_logprobs=tuple(out.logprobs) if require_logprobs else None,
    )


def _history(turns: Iterable[Turn]) -> list[tuple[str, str]]:
    return [(t.action, t.observation) for t in turns]


def _action_positions(trajectory: Trajectory, conversation: Conversation) -> list[int]:
    """Index in ``conversation`` of each turn's assistant message (the last ``len(turns)`` assistant messages)."""
    assistant = [i for i, m in enumerate(conversation) if m.role == "assistant"]
    n = len(trajectory.turns)
    if len(assistant) < n:
        raise RLBatchError(
            f"task {trajectory.task_id!r}: render gave {len(assistant)} assistant messages for {n} turns"
        )
    positions = assistant[len(assistant) - n :]
    for turn, pos in zip(trajectory.turns, positions, strict=True):
        if conversation[pos].content != turn.action:
            raise RLBatchError(f"task {trajectory.task_id!r} turn {turn.index}: render changed the action text")
    return positions


def trajectory_sequence(
    trajectory: Trajectory,
    tokenizer: PreTrainedTokenizerBase,
    render: RenderFn,
    *,
    require_logprobs: bool = True,
) -> RLSequence:
    """The whole episode as one sequence (trailing observation dropped: it carries no loss).

    Raises :class:`RLBatchError` if some student turn's context (``render(prefix, history[:k])``) is not a prefix
    of the full rendering — then the single sequence would not be what the student saw; use
    :func:`student_turn_sequences`.
    """
    if not trajectory.turns:
        raise RLBatchError(f"task {trajectory.task_id!r}: trajectory has no turns")
    history = _history(trajectory.turns)
    full = tuple(render(trajectory.prefix, history))
    positions = _action_positions(trajectory, full)
    for k, (turn, pos) in enumerate(zip(trajectory.turns, positions, strict=True)):
        if turn.author == "student" and tuple(render(trajectory.prefix, history[:k])) != full[:pos]:
            raise RLBatchError(
                f"task {trajectory.task_id!r} turn {turn.index}: the context the student saw differs from the final "
                "rendering (elided observations?); use student_turn_sequences for this trajectory"
            )
    actions = dict(zip(positions, trajectory.turns, strict=True))
    return _splice(trajectory, full[: positions[-1] + 1], actions, tokenizer, require_logprobs)


def student_turn_sequences(
    trajectory: Trajectory,
    tokenizer: PreTrainedTokenizerBase,
    render: RenderFn,
    *,
    require_logprobs: bool = True,
) -> list[RLSequence]:
    """One sequence per student turn: exactly the rendered context the student saw, then its generated tokens."""
    sequences = []
    for k, turn in enumerate(trajectory.turns):
        if turn.author != "student":
            continue
        context = tuple(render(trajectory.prefix, _history(trajectory.turns[:k])))
        messages = (*context, Message("assistant", turn.action))
        sequences.append(_splice(trajectory, messages, {len(context): turn}, tokenizer, require_logprobs))
    return sequences


@dataclass(frozen=True)
class RLBatch:
    """Right-padded tensors for one trainer step; per-token fields are ``[B, T]`` aligned to input positions."""

    input_ids: Tensor
    attention_mask: Tensor
    loss_mask: Tensor
    """float, 1 on tokens whose source is in ``loss_sources`` (default: the student's)."""
    sources: Tensor
    """:class:`TokenSource` per token, ``PAD`` on padding."""
    advantages: Tensor
    """``[B]``, one per sequence."""
    rollout_logprobs: Tensor | None

    def to(self, device: torch.device | str) -> RLBatch:
        lp = None if self.rollout_logprobs is None else self.rollout_logprobs.to(device)
        return RLBatch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.loss_mask.to(device),
            self.sources.to(device),
            self.advantages.to(device),
            lp,
        )


def collate_rl(
    sequences: Sequence[RLSequence],
    advantages: Tensor | Sequence[float],
    *,
    pad_token_id: int,
    loss_sources: tuple[TokenSource, ...] = (TokenSource.STUDENT,),
) -> RLBatch:
    """Pad ``sequences`` on the right into one :class:`RLBatch` with one advantage per sequence."""
    if not sequences:
        raise RLBatchError("collate_rl got no sequences")
    adv = torch.as_tensor(advantages, dtype=torch.float32).reshape(-1)
    if adv.numel() != len(sequences):
        raise RLBatchError(f"{adv.numel()} advantages for {len(sequences)} sequences")
    has_lp = {s.rollout_logprobs is not None for s in sequences}
    if len(has_lp) > 1:
        raise RLBatchError("some sequences have rollout_logprobs and some do not; build them all the same way")
    width = max(len(s.input_ids) for s in sequences)
    shape = (len(sequences), width)
    input_ids = torch.full(shape, pad_token_id, dtype=torch.long)
    sources = torch.full(shape, int(TokenSource.PAD), dtype=torch.long)
    rollout = torch.zeros(shape, dtype=torch.float32) if has_lp == {True} else None
    for row, seq in enumerate(sequences):
        n = len(seq.input_ids)
        input_ids[row, :n] = torch.tensor(seq.input_ids, dtype=torch.long)
        sources[row, :n] = torch.tensor(seq.sources, dtype=torch.long)
        if rollout is not None and seq.rollout_logprobs is not None:
            rollout[row, :n] = torch.tensor(seq.rollout_logprobs, dtype=torch.float32)
    wanted = torch.tensor([int(s) for s in loss_sources], dtype=torch.long)
    return RLBatch(
        input_ids=input_ids,
        attention_mask=(sources != TokenSource.PAD).long(),
        loss_mask=torch.isin(sources, wanted).float(),
        sources=sources,
        advantages=adv,
        rollout_logprobs=rollout,
    )
