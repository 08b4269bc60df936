"""Prefix-shared packing computes the per-state SFT loss and gradients: real tiny Qwen3 and Llama models, SDPA and
eager attention, full and LoRA, fp32 (1e-5) and bf16 autocast (see ``test_bf16_packed_matches_per_state``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
import torch

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.protocol import Message
from swe_dagger.dagger.config import SFTConfig
from swe_dagger.dagger.sft.checkpoints import load_student, with_lora
from swe_dagger.dagger.sft.dataset import LabelRow
from swe_dagger.dagger.sft.examples import SFTExample, encode_rows
from swe_dagger.dagger.sft.pack import collate_packed, pack_examples
from swe_dagger.dagger.sft.trainer import batch_loss, micro_batches, train_sft
from swe_dagger.dagger.sft_loss import IGNORE

ACTIONS = [
    "THOUGHT: list the files.\n\n```bash\nls -la src\n```",
    "THOUGHT: read it.\n\n```bash\nsed -n '1,40p' src/mod.py\n```",
    "THOUGHT: run the tests.\n\n```bash\npython -m pytest -q tests\n```",
    "THOUGHT: fix the comparison.\n\n```bash\nsed -i 's/a < b/a <= b/' src/mod.py\n```",
    "THOUGHT: check again.\n\n```bash\npython -m pytest -q tests\n```",
    "THOUGHT: done.\n\n```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```",
]
STUDENT_LABEL = "THOUGHT: read the failing test first.\n\n```bash\ncat tests/test_mod.py\n```"


def episode_rows(episode: int, observation_lines: int) -> list[LabelRow]:
    """One episode: even turns teacher-acted (label = action), odd turns student-acted (label differs)."""
    prefix = (Message("system", "You are an agent. Reply with one bash block."),
              Message("user", f"Fix the off-by-one in src/mod.py (episode {episode})."))
    out: list[LabelRow] = []
    history: list[tuple[str, str]] = []
    for turn, action in enumerate(ACTIONS):
        author = "teacher" if turn % 2 == 0 else "student"
        out.append(LabelRow(
            iteration=0, beta=0.5, task_id="t", episode=episode, turn=turn, author=author, prefix=prefix,
            history=tuple(history), label=action if author == "teacher" else STUDENT_LABEL,
            student_action=action if author == "student" else None, reward=0.0, resolution="NO",
        ))
        lines = "\n".join(f"line {turn}.{k}: value = {k * turn}" for k in range(observation_lines * (turn % 3 + 1)))
        history.append((action, f"<returncode>0</returncode>\n<output>\n{lines}\n</output>"))
    return out


def examples_of(tok: Any, max_prompt_tokens: int | None = None, max_seq_len: int = 4096) -> tuple[
        list[SFTExample], list[tuple[int, int]]]:
    rows = episode_rows(0, 1) + episode_rows(1, 3)
    agent = Agent(AgentConfig(max_prompt_tokens=max_prompt_tokens))
    return encode_rows(rows, agent, tok, max_seq_len), [(r.iteration, r.episode) for r in rows]


def tiny_llama(vocab_size: int) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def qwen(tiny_student_dir: Path) -> tuple[Path, Any]:
    """The tiny Qwen3 student's directory and its tokenizer."""
    return tiny_student_dir, load_student(tiny_student_dir)[1]


def models(qwen: tuple[Path, Any]) -> Iterator[tuple[str, Callable[[], Any]]]:
    yield "qwen3", lambda: load_student(qwen[0])[0]
    yield "llama", lambda: tiny_llama(len(qwen[1]))


def prepared(make: Callable[[], Any], attn: str, lora: bool) -> Any:
    model = make()
    model.set_attn_implementation(attn)
    if lora:
        model = with_lora(model, SFTConfig(lora=True, lora_r=4))
        torch.manual_seed(1)
        for name, p in model.named_parameters():
            if "lora_B" in name:  # fresh adapters have B = 0, which would leave A without gradient
                torch.nn.init.normal_(p, std=0.05)
    return model


def loss_and_grads(model: Any, units: list[Any], pad_id: int, bf16: bool) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad()
    mask_dtype = torch.float32 if model.config._attn_implementation == "eager" else None
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    with ctx:
        loss, _ = batch_loss(model, units, pad_id, torch.device("cpu"), mask_dtype)
    loss.backward()
    return float(loss), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def compare(model: Any, examples: list[SFTExample], keys: list[tuple[int, int]], pad_id: int,
            bf16: bool = False) -> tuple[float, float, float]:
    """(|loss difference|, max |gradient difference|, max |gradient|) of packed vs per-state, one batch each."""
    packed = pack_examples(examples, keys, 4096)
    assert len(packed) < len(examples)
    loss_s, grads_s = loss_and_grads(model, examples, pad_id, bf16)
    loss_p, grads_p = loss_and_grads(model, packed, pad_id, bf16)
    assert grads_s.keys() == grads_p.keys() and grads_s
    diff = max(float((grads_s[n] - grads_p[n]).abs().max()) for n in grads_s)
    scale = max(float(g.abs().max()) for g in grads_s.values())
    return abs(loss_s - loss_p), diff, scale


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_loss_and_gradients_equal_per_state(qwen: tuple[Path, Any], attn: str, lora: bool) -> None:
    tok = qwen[1]
    for max_prompt_tokens in (None, 200):  # nested prompts, and prompts whose old observations get elided
        examples, keys = examples_of(tok, max_prompt_tokens)
        for name, make in models(qwen):
            loss_diff, grad_diff, scale = compare(prepared(make, attn, lora), examples, keys, tok.pad_token_id)
            assert loss_diff < 1e-5 and grad_diff < 1e-5, (name, max_prompt_tokens, loss_diff, grad_diff)
            assert scale > 1e-3  # gradients that are there to compare


def test_bf16_packed_matches_per_state(qwen: tuple[Path, Any]) -> None:
    """Under bf16 autocast packed and per-state runs round differently (other matrix shapes, other summation
    order), so they cannot agree to 1e-5. The bound: packed differs from per-state by no more than bf16 itself
    moves per-state away from fp32 (times 2, plus a floor of 1e-3 relative for gradients)."""
    tok = qwen[1]
    examples, keys = examples_of(tok, 200)
    for _, make in models(qwen):
        for attn in ("sdpa", "eager"):
            model = prepared(make, attn, lora=False)
            loss_diff, grad_diff, scale = compare(model, examples, keys, tok.pad_token_id, bf16=True)
            loss_32, grads_32 = loss_and_grads(model, examples, tok.pad_token_id, bf16=False)
            loss_16, grads_16 = loss_and_grads(model, examples, tok.pad_token_id, bf16=True)
            bf16_grad_noise = max(float((grads_32[n] - grads_16[n]).abs().max()) for n in grads_32)
            assert loss_diff <= 2 * abs(loss_32 - loss_16) + 1e-3 * loss_32
            assert grad_diff <= 2 * bf16_grad_noise + 1e-3 * scale


def test_every_target_token_counts_once_and_branches_stay_invisible(qwen: tuple[Path, Any]) -> None:
    tok = qwen[1]
    examples, keys = examples_of(tok, None)
    packed = pack_examples(examples, keys, 4096)
    assert sum(s.states for s in packed) == len(examples) and len(packed) == 2  # one sequence per episode
    targets = [sorted(t for t in e.labels if t != IGNORE) for e in examples]
    assert sum(len(t) for t in targets) == sum(sum(t != IGNORE for t in s.labels) for s in packed)
    assert sum(len(s.input_ids) for s in packed) * 2.5 < sum(len(e.input_ids) for e in examples)
    inputs, keep, _ = collate_packed(packed, tok.pad_token_id)
    mask = inputs["attention_mask"][:, 0]
    branch = torch.tensor(packed[0].branch)
    for k in range(1, int(branch.max()) + 1):  # a branch's tokens: seen by its own later tokens only
        cols = (branch == k).nonzero().flatten()
        seen_by = mask[0, :, cols].any(dim=1).nonzero().flatten()
        assert set(seen_by.tolist()) == set(cols.tolist())
    teacher_inline = [s.states - 1 - max(s.branch) for s in packed]
    assert all(n >= 2 for n in teacher_inline)  # teacher turns (label = action) are labeled on the trunk
    assert keep.numel() < inputs["input_ids"].shape[1]  # logits only where a target is predicted


def test_states_that_share_nothing_are_not_packed(qwen: tuple[Path, Any]) -> None:
    tok = qwen[1]
    examples, keys = examples_of(tok, None, max_seq_len=160)  # prompts cut at the left: no shared prefix
    packed = pack_examples(examples, keys, 4096)
    cut = [e for e in examples if e.input_ids[0] != examples[0].input_ids[0]]
    assert cut and len(packed) >= len(cut)
    tight = pack_examples(*examples_of(tok, None), max_tokens=600)
    assert all(len(s.input_ids) <= 600 for s in tight if s.states > 1) and len(tight) > 2


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_sequences_without_branches_train_causally_and_match_per_state(qwen: tuple[Path, Any], attn: str) -> None:
    """Right-padded sequences without branches get no 4D mask (the model's causal one); same loss and grads."""
    tok = qwen[1]
    examples, _ = examples_of(tok, None)
    examples = examples[::3][:4]
    singles = pack_examples(examples, list(range(len(examples))), 4096)  # one state per sequence, no branches
    assert len({len(s.input_ids) for s in singles}) > 1  # right padding is exercised
    inputs, _, _ = collate_packed(singles, tok.pad_token_id)
    assert set(inputs) == {"input_ids"}
    for name, make in models(qwen):
        model = prepared(make, attn, lora=False)
        loss_s, grads_s = loss_and_grads(model, examples, tok.pad_token_id, bf16=False)
        loss_p, grads_p = loss_and_grads(model, singles, tok.pad_token_id, bf16=False)
        diff = max(float((grads_s[n] - grads_p[n]).abs().max()) for n in grads_s)
        assert abs(loss_s - loss_p) < 1e-5 and diff < 1e-5, (name, loss_s, loss_p, diff)


def test_micro_batches_hold_at_most_batch_size_states(qwen: tuple[Path, Any]) -> None:
    examples, keys = examples_of(qwen[1], 200)
    packed = pack_examples(examples, keys, 4096)
    order = list(range(len(packed)))
    for batch in micro_batches(packed, order, 4):
        assert len(batch) == 1 or sum(packed[i].states for i in batch) <= 4
    assert micro_batches(examples, list(range(10)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_packed_training_learns_and_falls_back_without_4d_masks(qwen: tuple[Path, Any]) -> None:
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    examples, keys = examples_of(qwen[1], 200)
    cfg = SFTConfig(epochs=6, lr=3e-3, batch_size=4, warmup_steps=0, packing="episode")
    model = load_student(qwen[0])[0]
    result = train_sft(model, examples, cfg, pad_id=qwen[1].pad_token_id, seed=0, episodes=keys)
    assert result.sequences < len(examples) and result.final_loss < 0.7 * result.epoch_losses[0]
    assert result.target_tokens == cfg.epochs * sum(sum(t != IGNORE for t in e.labels) for e in examples)

    AttentionInterface.register("plain_sdpa", sdpa_attention_forward)  # runs, but is not one that takes 4D masks
    model = load_student(qwen[0])[0]
    model.set_attn_implementation("plain_sdpa")
    said: list[str] = []
    result = train_sft(model, examples, SFTConfig(epochs=1, packing="episode"), pad_id=qwen[1].pad_token_id, seed=0,
                       episodes=keys,
                       log=said.append)
    assert result.sequences == len(examples)
    assert len(said) == 1 and "'plain_sdpa'" in said[0] and "per state" in said[0]


def test_a_token_budget_counts_the_packed_tokens(qwen: tuple[Path, Any]) -> None:
    from swe_dagger.dagger.sft.trainer import budgeted

    examples, keys = examples_of(qwen[1], 200)
    packed = pack_examples(examples, keys, 4096)
    plan = [micro_batches(packed, list(range(len(packed))), 1)] * 3
    per_epoch = sum(len(s.input_ids) for s in packed)
    cut = budgeted(plan, packed, 1, per_epoch + 1)  # one epoch and the first sequence of the next reach it
    assert [len(e) for e in cut] == [len(packed), 1]
    assert [len(e) for e in budgeted(plan, packed, 2, per_epoch + 1)] == [len(packed), 2]  # ends on a full step
    assert budgeted(plan, packed, 1, None) == plan


def test_sdpa_runs_the_trunk_rows_causally(qwen: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Under sdpa a micro-batch with branches splits its attention: the shared trunk rows through SDPA's causal
    kernel, the rest under the mask (same loss and grads: test_packed_loss_and_gradients_equal_per_state); the
    model's own implementation is back afterwards."""
    from swe_dagger.dagger.sft import trunk_attention

    calls: list[tuple[bool, int]] = []
    real = trunk_attention.sdpa_attention_forward

    def spy(module: Any, query: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        calls.append((bool(kwargs.get("is_causal")), query.shape[2]))
        return real(module, query, *args, **kwargs)

    monkeypatch.setattr(trunk_attention, "sdpa_attention_forward", spy)
    examples, keys = examples_of(qwen[1], None)
    packed = pack_examples(examples, keys, 4096)
    trunk, width = min(s.branch.count(0) for s in packed), max(len(s.input_ids) for s in packed)
    assert 0 < trunk < width
    for name, make in models(qwen):
        calls.clear()
        model = prepared(make, "sdpa", lora=False)
        loss_and_grads(model, packed, qwen[1].pad_token_id, bf16=False)
        layers = model.config.num_hidden_layers
        assert sorted(calls) == [(False, width - trunk)] * layers + [(True, trunk)] * layers, (name, calls)
        assert model.config._attn_implementation == "sdpa"
