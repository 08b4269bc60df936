"""SFT on a real tiny transformer: masked prompts, loss falls, weights change, checkpoints reload (full and LoRA)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.protocol import Message
from swe_dagger.dagger.config import ConfigError, SFTConfig
from swe_dagger.dagger.sft.checkpoints import load_student, save_checkpoint
from swe_dagger.dagger.sft.dataset import LabelRow
from swe_dagger.dagger.sft.examples import SFTExample, encode_rows, prompt_ids
from swe_dagger.dagger.sft.trainer import train_sft
from swe_dagger.dagger.sft_loss import IGNORE

LABELS = [
    "THOUGHT: look at the code.\n\n```bash\nsed -n '1,20p' src/mod.py\n```",
    "THOUGHT: apply the fix.\n\n```bash\ngit apply fix.patch\n```",
    "THOUGHT: done.\n\n```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```",
]


def rows() -> list[LabelRow]:
    prefix = (Message("system", "You are an agent."), Message("user", "Fix the bug in mod.py"))
    out = []
    history: list[tuple[str, str]] = []
    for turn, label in enumerate(LABELS):
        out.append(LabelRow(iteration=0, beta=1.0, task_id="t", episode=0, turn=turn, author="teacher",
                            prefix=prefix, history=tuple(history), label=label, student_action=None,
                            reward=1.0, resolution="FULL"))
        history.append((label, f"<returncode>0</returncode>\n<output>\nok {turn}\n</output>"))
    return out


def test_examples_mask_the_prompt(tiny_student_dir: Path) -> None:
    _, tok = load_student(tiny_student_dir)
    agent = Agent(AgentConfig(max_prompt_tokens=512))
    examples = encode_rows(rows(), agent, tok, max_seq_len=512)
    for row, ex in zip(rows(), examples, strict=True):
        n_prompt = sum(lab == IGNORE for lab in ex.labels)
        prompt = prompt_ids(tok, agent.render(row.prefix, row.history))
        assert list(ex.input_ids[:n_prompt]) == prompt
        target = [t for t in ex.labels if t != IGNORE]
        assert tok.decode(target[:-1]) == row.label and target[-1] == tok.eos_token_id
    full = examples[2]
    n_target = sum(lab != IGNORE for lab in full.labels)
    short = encode_rows(rows()[2:], agent, tok, max_seq_len=n_target + 5)[0]
    assert short.input_ids == full.input_ids[-(n_target + 5) :]  # the prompt's end and the whole target are kept
    assert short.labels == full.labels[-(n_target + 5) :]


def test_full_finetune_lowers_loss_changes_weights_and_reloads(tiny_student_dir: Path, tmp_path: Path) -> None:
    model, tok = load_student(tiny_student_dir)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    examples = encode_rows(rows(), Agent(AgentConfig(max_prompt_tokens=512)), tok, max_seq_len=512)
    cfg = SFTConfig(epochs=10, lr=3e-3, batch_size=3, grad_accum=1, warmup_steps=0)
    result = train_sft(model, examples, cfg, pad_id=tok.pad_token_id, seed=0)
    assert result.steps == 10 and result.examples == 3
    assert result.final_loss < 0.7 * result.epoch_losses[0]
    changed = [n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])]
    assert len(changed) == len(before)
    ckpt = save_checkpoint(model, tok, tmp_path / "iter_000")
    reloaded, _ = load_student(ckpt)
    for n, p in reloaded.named_parameters():
        assert torch.equal(p, dict(model.named_parameters())[n].detach())
    # same seed → identical training
    model2, _ = load_student(tiny_student_dir)
    again = train_sft(model2, examples, cfg, pad_id=tok.pad_token_id, seed=0)
    assert again.epoch_losses == result.epoch_losses


def test_lora_trains_adapters_only_and_saves_adapters(tiny_student_dir: Path, tmp_path: Path) -> None:
    from swe_dagger.dagger.sft.checkpoints import with_lora

    model, tok = load_student(tiny_student_dir)
    model = with_lora(model, SFTConfig(lora=True, lora_r=4))
    base_before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    examples = encode_rows(rows(), Agent(AgentConfig(max_prompt_tokens=512)), tok, max_seq_len=512)
    result = train_sft(model, examples, SFTConfig(epochs=8, lr=1e-2, batch_size=3, warmup_steps=0),
                       pad_id=tok.pad_token_id, seed=1)
    assert result.final_loss < result.epoch_losses[0]
    for n, p in model.named_parameters():
        if "lora_" not in n:
            assert torch.equal(p.detach(), base_before[n]), n
    ckpt = save_checkpoint(model, tok, tmp_path / "lora_iter_000")
    assert (ckpt / "adapter_config.json").is_file() and not (ckpt / "model.safetensors").exists()
    reloaded, _ = load_student(ckpt)
    ids = torch.tensor([examples[0].input_ids])
    assert torch.allclose(reloaded(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-5)


def right_padded(examples: Sequence[SFTExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch: ``input_ids``, ``attention_mask``, ``labels`` (padding is ``IGNORE``)."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def test_left_padded_target_logits_give_the_full_logits_loss(tiny_student_dir: Path) -> None:
    """The fast path (left padding, logits for the target positions only) computes the same loss and gradients as
    right padding with every position's logits."""
    from swe_dagger.dagger.sft.examples import collate_left
    from swe_dagger.dagger.sft.trainer import target_logits
    from swe_dagger.dagger.sft_loss import sft_loss

    model, tok = load_student(tiny_student_dir)
    examples = encode_rows(rows(), Agent(AgentConfig(max_prompt_tokens=512)), tok, max_seq_len=512)
    assert len({len(e.input_ids) for e in examples}) == 3  # rows of different lengths: padding really happens

    right = right_padded(examples, tok.pad_token_id)
    full, _ = sft_loss(model(input_ids=right["input_ids"], attention_mask=right["attention_mask"]).logits,
                       right["labels"])
    full.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()

    left, keep = collate_left(examples, tok.pad_token_id)
    longest_target = max(sum(label != IGNORE for label in e.labels) for e in examples)
    assert keep == longest_target + 1 < left["input_ids"].shape[1]
    logits = target_logits(model, left, keep)
    assert logits.shape[1] == keep
    fast, metrics = sft_loss(logits, left["labels"][:, -keep:])
    fast.backward()
    assert metrics.target_tokens == sum(lab != IGNORE for e in examples for lab in e.labels)
    assert torch.allclose(fast, full, atol=1e-5)
    for n, p in model.named_parameters():
        assert torch.allclose(p.grad, grads[n], atol=1e-5), n


BF16_ROUNDTRIP = """
import sys, torch
from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.dagger.config import ConfigError, SFTConfig
from swe_dagger.dagger.sft.examples import encode_rows
from swe_dagger.dagger.sft.checkpoints import load_student, save_checkpoint
from swe_dagger.dagger.sft.trainer import train_sft
sys.path.insert(0, sys.argv[3])
from test_trainer import rows
model, tok = load_student(sys.argv[1])
examples = encode_rows(rows(), Agent(AgentConfig(max_prompt_tokens=512)), tok, max_seq_len=512)
train_sft(model, examples, SFTConfig(epochs=2, batch_size=3, precision="bf16"), pad_id=tok.pad_token_id, seed=0)
assert "_original_forward" not in vars(model), "accelerate's autocast wrapper is still on the model"
reloaded, _ = load_student(save_checkpoint(model, tok, __import__("pathlib").Path(sys.argv[2])))
ids = torch.tensor([list(examples[2].input_ids)])
with torch.no_grad():
    assert torch.equal(model(input_ids=ids).logits, reloaded(input_ids=ids).logits)
print("ok")
"""


def test_bf16_training_hands_back_a_model_that_runs_like_its_checkpoint(tiny_student_dir: Path, tmp_path: Path) -> None:
    """bf16 autocast (CPU here, GPU in real runs) must not stay on the in-process student after training.

    A subprocess: accelerate's state is process-wide and the rest of the suite trains in fp32.
    """
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", BF16_ROUNDTRIP, str(tiny_student_dir), str(tmp_path / "ckpt"),
                          str(Path(__file__).parent)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_a_token_budget_stops_sft_at_the_step_that_reaches_it(tiny_student_dir: Path) -> None:
    model, tok = load_student(tiny_student_dir)
    examples = encode_rows(rows(), Agent(AgentConfig(max_prompt_tokens=512)), tok, max_seq_len=512)
    per_epoch = sum(len(e.input_ids) for e in examples)  # batch_size 1: one example per step
    steps: list[tuple[int, int]] = []
    cfg = SFTConfig(epochs=10, batch_size=1, warmup_steps=0, max_tokens_per_iteration=per_epoch + 1)
    result = train_sft(model, examples, cfg, pad_id=tok.pad_token_id, seed=0,
                       on_step=lambda step, total, loss: steps.append((step, total)))
    assert result.steps == 4 and len(result.epoch_losses) == 2  # 3 steps of epoch 1 < budget; step 4 reaches it
    assert steps[-1] == (4, 4)  # the progress total follows the budget, not 10 epochs
    with pytest.raises(ConfigError, match="max_tokens_per_iteration"):
        SFTConfig(max_tokens_per_iteration=0)


def checkpointing_on(model: torch.nn.Module) -> bool:
    new = "is_activation_checkpointing"  # transformers 5; earlier: is_gradient_checkpointing
    return bool(getattr(model, new if hasattr(model, new) else "is_gradient_checkpointing"))


def test_gradient_checkpointing_gives_the_same_training_and_is_off_after(tiny_student_dir: Path) -> None:
    trained = []
    for checkpointing in (False, True):
        model, tok = load_student(tiny_student_dir)
        examples = encode_rows(rows(), Agent(AgentConfig(max_prompt_tokens=512)), tok, max_seq_len=512)
        cfg = SFTConfig(epochs=3, lr=3e-3, batch_size=3, warmup_steps=0, gradient_checkpointing=checkpointing)
        during: list[bool] = []
        result = train_sft(model, examples, cfg, pad_id=tok.pad_token_id, seed=0,
                           on_step=lambda *_, m=model, d=during: d.append(checkpointing_on(m)))
        assert result.final_loss < result.epoch_losses[0] and during == [checkpointing] * 3
        assert not checkpointing_on(model)  # rollouts after training run as before
        trained.append(dict(model.named_parameters()))
    plain, recomputed = trained
    for name, p in plain.items():
        assert torch.allclose(p, recomputed[name], atol=1e-5), name
