"""Weight sync across a training step: VLLMStudent serves iteration i's checkpoint, the real SFT trainer makes
iteration i+1's, and the next rollouts come from the new weights (recorded id AND changed outputs, checked against
transformers on the saved checkpoint). Both checkpoint kinds: a LoRA adapter (hot-loaded) and full weights of the
tied-embedding tiny student (server restarted on the same port). The server sleeps during the first update, as in a
run sharing one GPU, and the next ``policy_for`` wakes it (on CPU only the server's sleep state flips).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from swe_dagger.agents.backends.vllm.admin import VLLMAdmin
from swe_dagger.agents.backends.vllm.student import VLLMStudent, VLLMStudentConfig
from swe_dagger.agents.protocol import Completion, Message, SamplingParams
from swe_dagger.agents.tiny_student import build_tiny_student
from swe_dagger.dagger.config import SFTConfig
from swe_dagger.dagger.sft.checkpoints import load_student, save_checkpoint, with_lora
from swe_dagger.dagger.sft.examples import SFTExample
from swe_dagger.dagger.sft.trainer import train_sft
from swe_dagger.dagger.sft_loss import IGNORE

pytestmark = [pytest.mark.vllm, pytest.mark.serve, pytest.mark.slow]

CONVERSATIONS = [
    (Message("user", "The test tests/test_ranges.py fails. Fix it."),),
    (Message("user", "Submit when the tests pass."),),
]
TARGET = "THOUGHT: list the files.\n\n```bash\nls\n```"
GREEDY = SamplingParams(max_new_tokens=16)


def _train(start: Path, prompts: list[Completion], out: Path, *, lora: bool) -> Path:
    """SFT (the project's trainer) on 'reply TARGET to every prompt'; asserts it learned; saves the checkpoint."""
    model, tokenizer = load_student(start, trainable=True)
    cfg = SFTConfig(epochs=25, lr=1e-2, batch_size=2, warmup_steps=0, lora=lora, lora_r=8, precision="fp32")
    if lora:
        model = with_lora(model, cfg)
    target = (*tokenizer(TARGET, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id)
    examples = []
    for p in prompts:
        prompt = tuple(p.prompt_token_ids or ())
        examples.append(SFTExample(prompt + target, (IGNORE,) * len(prompt) + target))
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    result = train_sft(model, examples, cfg, pad_id=tokenizer.pad_token_id, seed=0)
    assert result.final_loss < 0.8 * result.first_loss
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters() if p.requires_grad)
    return save_checkpoint(model, tokenizer, out)


def _check_against_transformers(checkpoint: Path, completions: list[Completion]) -> None:
    model, _ = load_student(checkpoint, trainable=False)
    model.eval()
    for c in completions:
        prompt, tokens = list(c.prompt_token_ids or ()), list(c.token_ids or ())
        with torch.no_grad():
            logprobs = torch.log_softmax(model(torch.tensor([prompt + tokens])).logits[0].float(), dim=-1)
        expected = [logprobs[len(prompt) - 1 + i, t].item() for i, t in enumerate(tokens)]
        assert c.logprobs == pytest.approx(expected, abs=2e-3)


def test_rollouts_follow_each_new_checkpoint(tmp_path: Path, vllm_python: str) -> None:
    python = vllm_python
    student = build_tiny_student(tmp_path / "student_init", params="800k", vocab_size=1000, seed=0)
    config = VLLMStudentConfig(python=python, dtype="float32", max_model_len=1024, max_lora_rank=8)
    with VLLMStudent(student, config) as served:
        policy = served.policy_for(student)
        before = policy.generate(CONVERSATIONS, GREEDY)
        assert {c.model_version for c in before} == {"student_init"}

        # iteration 0 trains LoRA adapters while the server sleeps; iteration 1's rollouts must use them
        with VLLMAdmin(policy.base_url) as admin:
            served.sleep()
            assert served.asleep and admin.is_sleeping()
            adapter = _train(student, before, tmp_path / "checkpoints" / "iter_000", lora=True)
            policy = served.policy_for(adapter)  # wakes the server up, then hot-loads the adapter
            assert not served.asleep and not admin.is_sleeping()
        after_lora = policy.generate(CONVERSATIONS, GREEDY)
        assert {c.model_version for c in after_lora} == {"iter_000"}
        assert [c.token_ids for c in after_lora] != [c.token_ids for c in before]
        _check_against_transformers(adapter, after_lora)

        # full fine-tuning of a tied-embedding model: synced by restarting the server on the same port
        base_url = policy.base_url
        full = _train(student, before, tmp_path / "checkpoints" / "iter_001", lora=False)
        policy = served.policy_for(full)
        after_full = policy.generate(CONVERSATIONS, GREEDY)
        assert policy.base_url == base_url
        assert {c.model_version for c in after_full} == {"iter_001"}
        assert [c.token_ids for c in after_full] != [c.token_ids for c in after_lora]
        _check_against_transformers(full, after_full)
