"""Trajectory → trainer tokens: authors, masks, spliced student tokens (real tiny BPE tokenizer, ChatML), and a
real GRPO update on a tiny Qwen3 that must move the rewarded trajectory's student tokens up and the other's down."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.protocol import Conversation
from swe_dagger.agents.tiny_student import CHAT_TEMPLATE as TINY_STUDENT_TEMPLATE
from swe_dagger.dagger.grpo.advantages import trajectory_advantages
from swe_dagger.dagger.grpo.batch import (
    RLBatchError,
    TokenSource,
    collate_rl,
    student_turn_sequences,
    trajectory_sequence,
)
from swe_dagger.dagger.grpo_loss import grpo_loss, token_logprobs
from swe_dagger.dagger.records import Trajectory, Turn

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
PREFIX = Agent().initial_messages("Fix the bug in calc.py")
ACTION_0 = "THOUGHT: look around\n```bash\nls\n```"
TEACHER_ACTION = "```bash\ncat calc.py\n```"
ACTION_2 = "```bash\nsed -i s/-/+/ calc.py\n```"
OBS = ("<returncode>0</returncode>\ncalc.py", "def add(a, b): return a - b", "FINAL-OBSERVATION")


@pytest.fixture(scope="module", params=[CHATML, TINY_STUDENT_TEMPLATE], ids=["chatml", "tiny-student-template"])
def tokenizer(request: pytest.FixtureRequest) -> PreTrainedTokenizerFast:
    return build_tokenizer(request.param)


@pytest.fixture(scope="module")
def chatml_tokenizer() -> PreTrainedTokenizerFast:
    return build_tokenizer(CHATML)


def build_tokenizer(chat_template: str) -> PreTrainedTokenizerFast:
    """A real byte-level BPE tokenizer trained on a few strings, with ChatML special tokens and a chat template."""
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    core.train_from_iterator([*PREFIX[0].content.split(), ACTION_0, TEACHER_ACTION, ACTION_2, *OBS] * 3, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = chat_template
    return tok


# the agent's own renderer; the second elides every observation but the latest (a token-budgeted agent)
render = Agent().render
eliding_render = Agent(AgentConfig(keep_last_observations=1)).render


def byte_ids(tok: PreTrainedTokenizerFast, text: str) -> tuple[int, ...]:
    """``text`` as one token per byte: decodes to ``text`` but is NOT what ``encode`` would give."""
    pieces = tok.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)
    return tuple(tok.convert_tokens_to_ids(list("".join(p for p, _ in pieces))))


def mixed_trajectory(tok: PreTrainedTokenizerFast, task_id: str = "calc", reward: float = 1.0) -> Trajectory:
    """student (stopped on <|im_end|>) → teacher → student (cut by the length limit, no <|im_end|>)."""
    ids0 = (*byte_ids(tok, ACTION_0), tok.convert_tokens_to_ids("<|im_end|>"))
    ids2 = tuple(tok.encode(ACTION_2, add_special_tokens=False))
    turns = (
        Turn(
            0,
            "student",
            ACTION_0,
            ACTION_0,
            OBS[0],
            token_ids=ids0,
            logprobs=tuple(-0.01 * (j + 1) for j in range(len(ids0))),
        ),
        Turn(1, "teacher", TEACHER_ACTION, TEACHER_ACTION, OBS[1]),
        Turn(
            2,
            "student",
            ACTION_2,
            TEACHER_ACTION,
            OBS[2],
            token_ids=ids2,
            logprobs=tuple(-1.0 - 0.01 * j for j in range(len(ids2))),
        ),
    )
    return Trajectory(task_id, PREFIX, turns, reward, "FULL" if reward else "NO", terminated=True, truncated=False)


def spans(sources: Sequence[int], source: TokenSource) -> list[tuple[int, int]]:
    """Maximal [start, end) runs of ``source``."""
    runs, start = [], None
    for i, s in enumerate([*sources, -99]):
        if s == source and start is None:
            start = i
        elif s != source and start is not None:
            runs.append((start, i))
            start = None
    return runs


def test_mixed_author_trajectory_splices_recorded_student_tokens(tokenizer: PreTrainedTokenizerFast) -> None:
    traj = mixed_trajectory(tokenizer)
    seq = trajectory_sequence(traj, tokenizer, render)
    student, teacher = traj.turns[0], traj.turns[2]
    assert student.token_ids is not None and teacher.token_ids is not None and student.logprobs is not None
    assert student.token_ids != tuple(tokenizer.encode(ACTION_0 + "<|im_end|>", add_special_tokens=False))

    (a0, b0), (a2, b2) = spans(seq.sources, TokenSource.STUDENT)
    assert seq.input_ids[a0:b0] == student.token_ids  # exactly the recorded ids, not a re-tokenisation
    assert seq.input_ids[a2:b2] == teacher.token_ids
    assert seq.rollout_logprobs is not None
    assert seq.rollout_logprobs[a0:b0] == student.logprobs
    assert all(lp == 0.0 for lp, m in zip(seq.rollout_logprobs, seq.loss_mask, strict=True) if not m)
    assert sum(seq.loss_mask) == len(student.token_ids) + len(teacher.token_ids)
    assert seq.loss_mask[0] == 0

    ((t0, t1),) = spans(seq.sources, TokenSource.TEACHER)
    assert tokenizer.decode(seq.input_ids[t0:t1]) == TEACHER_ACTION
    assert sum(seq.mask_for(TokenSource.TEACHER)) == t1 - t0
    assert tokenizer.decode(seq.input_ids[:a0]).endswith("<|im_start|>assistant\n")

    # the whole sequence is the chat-template text up to the last action (no doubled <|im_end|>, no last observation)
    messages = [
        {"role": m.role, "content": m.content} for m in render(PREFIX, [(t.action, t.observation) for t in traj.turns])
    ]
    expected = tokenizer.apply_chat_template(messages[:-1], tokenize=False)
    assert tokenizer.decode(seq.input_ids) == expected
    assert OBS[1] in expected and OBS[2] not in expected


def test_per_turn_sequences_hold_exactly_what_the_student_saw(tokenizer: PreTrainedTokenizerFast) -> None:
    traj = mixed_trajectory(tokenizer)
    first, second = student_turn_sequences(traj, tokenizer, eliding_render)
    assert traj.turns[2].token_ids is not None
    ((a, b),) = spans(second.sources, TokenSource.STUDENT)
    assert second.input_ids[a:b] == traj.turns[2].token_ids and b == len(second.input_ids) - 2  # + "<|im_end|>\n"
    context = tokenizer.decode(second.input_ids[:a])
    assert (
        "<output_elided>" in context
        and OBS[0] not in context
        and OBS[1] in context
        and ACTION_0 in context
        and TEACHER_ACTION in context
    )
    assert TokenSource.TEACHER not in second.sources  # earlier actions are context here
    assert sum(first.loss_mask) == len(traj.turns[0].token_ids or ())


def test_single_sequence_refuses_elided_contexts(tokenizer: PreTrainedTokenizerFast) -> None:
    with pytest.raises(RLBatchError, match=r"task 'calc' turn 2: .*student_turn_sequences"):
        trajectory_sequence(mixed_trajectory(tokenizer), tokenizer, eliding_render)


def test_bad_records_are_named(tokenizer: PreTrainedTokenizerFast) -> None:
    traj = mixed_trajectory(tokenizer)
    no_ids = dataclasses.replace(traj, turns=(dataclasses.replace(traj.turns[0], token_ids=None), *traj.turns[1:]))
    with pytest.raises(RLBatchError, match=r"task 'calc' turn 0: student turn has no token_ids"):
        trajectory_sequence(no_ids, tokenizer, render)
    short = dataclasses.replace(traj, turns=(*traj.turns[:2], dataclasses.replace(traj.turns[2], logprobs=(-1.0,))))
    with pytest.raises(RLBatchError, match=r"turn 2: \d+ token_ids but 1 logprobs"):
        trajectory_sequence(short, tokenizer, render)
    no_lp = dataclasses.replace(traj, turns=(dataclasses.replace(traj.turns[0], logprobs=None), *traj.turns[1:]))
    with pytest.raises(RLBatchError, match="no rollout logprobs"):
        trajectory_sequence(no_lp, tokenizer, render)
    assert trajectory_sequence(no_lp, tokenizer, render, require_logprobs=False).rollout_logprobs is None

    def rewriting(prefix: Conversation, history: Sequence[tuple[str, str]]) -> Conversation:
        return render(prefix, [(a.upper(), o) for a, o in history])

    with pytest.raises(RLBatchError, match="render changed the action text"):
        trajectory_sequence(traj, tokenizer, rewriting)


def test_collate_pads_right_and_derives_masks(tokenizer: PreTrainedTokenizerFast) -> None:
    traj = mixed_trajectory(tokenizer)
    long, short = trajectory_sequence(traj, tokenizer, render), student_turn_sequences(traj, tokenizer, render)[0]
    batch = collate_rl([long, short], [0.5, -0.5], pad_token_id=tokenizer.pad_token_id)
    n_long, n_short = len(long.input_ids), len(short.input_ids)
    assert batch.input_ids.shape == (2, n_long) and n_short < n_long
    assert batch.attention_mask[1].tolist() == [1] * n_short + [0] * (n_long - n_short)
    assert (batch.input_ids[1, n_short:] == tokenizer.pad_token_id).all()
    assert (batch.sources[1, n_short:] == TokenSource.PAD).all()
    assert batch.loss_mask[0].tolist() == [float(m) for m in long.loss_mask]
    assert batch.rollout_logprobs is not None and batch.rollout_logprobs[1, :n_short].tolist() == pytest.approx(
        short.rollout_logprobs
    )
    assert batch.advantages.tolist() == [0.5, -0.5]
    teacher = collate_rl([long], [1.0], pad_token_id=0, loss_sources=(TokenSource.TEACHER,))
    assert teacher.loss_mask.sum().item() == sum(long.mask_for(TokenSource.TEACHER))
    with pytest.raises(RLBatchError, match="1 advantages for 2 sequences"):
        collate_rl([long, short], [1.0], pad_token_id=0)


def _student_logprob_sums(
    model: Qwen3ForCausalLM, input_ids: torch.Tensor, attn: torch.Tensor, mask: torch.Tensor
) -> list[float]:
    with torch.no_grad():
        lp = token_logprobs(model(input_ids=input_ids, attention_mask=attn).logits, input_ids)
    return (lp * mask).sum(dim=1).tolist()


def test_grpo_update_moves_rewarded_student_tokens_up_and_the_other_down(
    chatml_tokenizer: PreTrainedTokenizerFast,
) -> None:
    tokenizer = chatml_tokenizer
    torch.manual_seed(0)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen3ForCausalLM(config)
    good = mixed_trajectory(tokenizer, reward=1.0)
    bad_turns = (
        dataclasses.replace(
            good.turns[0],
            action="```bash\nrm -rf calc.py\n```",
            token_ids=(*tokenizer.encode("```bash\nrm -rf calc.py\n```"), tokenizer.eos_token_id),
            logprobs=None,
        ),
        *good.turns[1:],
    )
    bad = dataclasses.replace(good, turns=bad_turns, reward=0.0, resolution="NO")
    trajectories = [good, bad]
    sequences = [trajectory_sequence(t, tokenizer, render, require_logprobs=False) for t in trajectories]
    batch = collate_rl(sequences, trajectory_advantages(trajectories), pad_token_id=tokenizer.pad_token_id)
    assert batch.advantages[0] > 0 > batch.advantages[1]

    with torch.no_grad():  # the weights that "generated" the rollouts; the engine's logprobs differ slightly
        old = token_logprobs(
            model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits, batch.input_ids
        )
    rollout = old + 0.05 * torch.randn_like(old)
    before = _student_logprob_sums(model, batch.input_ids, batch.attention_mask, batch.loss_mask)
    params_before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        loss, metrics = grpo_loss(
            token_logprobs(logits, batch.input_ids),
            old,
            batch.advantages,
            batch.loss_mask,
            ref_logprobs=old,
            kl_coef=0.01,
            rollout_logprobs=rollout,
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    after = _student_logprob_sums(model, batch.input_ids, batch.attention_mask, batch.loss_mask)

    assert after[0] > before[0] + 0.1, (before, after)  # rewarded trajectory's student tokens more likely
    assert after[1] < before[1] - 0.1, (before, after)  # unrewarded one's less likely
    assert losses[-1] < losses[0], losses
    assert any(not torch.equal(a, b) for a, b in zip(params_before, model.parameters(), strict=True))
    assert metrics.is_weight_mean is not None and metrics.tokens == batch.loss_mask.sum().item()
