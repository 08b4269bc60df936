"""HFPolicy on a real tiny Qwen3: batched left-padded generation whose ids/logprobs match a plain forward pass."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from swe_dagger.agents.agent import Agent
from swe_dagger.agents.backends.hf import HFPolicy
from swe_dagger.agents.protocol import Completion, Conversation, Message, SamplingParams


def conversations() -> list[Conversation]:
    agent = Agent()
    short = agent.initial_messages("fix it")
    long = agent.render(agent.initial_messages("the parser drops the last part " * 5), [("ls", "a b c\n" * 20)])
    return [short, long, (Message("user", "hi"),)]


def forward_logprobs(policy: HFPolicy, completion: Completion, temperature: float = 1.0) -> torch.Tensor:
    """Logprobs of the completion's tokens from one unpadded forward pass over prompt + completion."""
    assert completion.prompt_token_ids is not None and completion.token_ids is not None
    ids = torch.tensor([completion.prompt_token_ids + completion.token_ids])
    with torch.no_grad():
        logits = policy.model(ids).logits[0, len(completion.prompt_token_ids) - 1 : -1].float()
    logprobs = torch.log_softmax(logits / temperature, dim=-1)
    return logprobs.gather(-1, torch.tensor(completion.token_ids)[:, None]).squeeze(-1)


def test_greedy_batch_matches_forward_pass(hf_policy: HFPolicy) -> None:
    convs = conversations()
    outs = hf_policy.generate(convs, SamplingParams(max_new_tokens=12))
    assert len(outs) == 3
    for conv, out in zip(convs, outs, strict=True):
        assert out.prompt_token_ids == tuple(hf_policy.prompt_token_ids(conv))
        assert out.token_ids and out.logprobs and len(out.token_ids) == len(out.logprobs) <= 12
        assert out.model_version == "v0"
        assert out.finish_reason in ("stop", "length")
        if out.finish_reason == "length":
            assert len(out.token_ids) == 12
        expected = forward_logprobs(hf_policy, out)
        assert torch.allclose(torch.tensor(out.logprobs), expected, atol=2e-3), "left padding changed the numbers"
        ids = torch.tensor([out.prompt_token_ids + out.token_ids])
        with torch.no_grad():
            argmax = hf_policy.model(ids).logits[0, len(out.prompt_token_ids) - 1 : -1].argmax(-1)
        assert argmax.tolist() == list(out.token_ids), "greedy tokens are the argmax of the forward pass"


def test_sampling_is_seeded_and_reports_the_sampling_distribution(hf_policy: HFPolicy) -> None:
    convs = conversations()[:2]
    params = SamplingParams(max_new_tokens=10, temperature=0.7, seed=123)
    first, again = hf_policy.generate(convs, params), hf_policy.generate(convs, params)
    assert [c.token_ids for c in first] == [c.token_ids for c in again]
    other = hf_policy.generate(convs, SamplingParams(max_new_tokens=10, temperature=0.7, seed=124))
    assert [c.token_ids for c in other] != [c.token_ids for c in first]
    for out in first:
        expected = forward_logprobs(hf_policy, out, temperature=0.7)  # no hidden top-k from generation defaults
        assert torch.allclose(torch.tensor(out.logprobs), expected, atol=2e-3)


def test_stop_strings_cut_text_and_keep_the_completing_token(hf_policy: HFPolicy) -> None:
    conv = conversations()[:1]
    free = hf_policy.generate(conv, SamplingParams(max_new_tokens=16, temperature=1.0, seed=7))[0]
    assert free.token_ids is not None and len(free.text) > 6
    stop = free.text[3:6]
    cut = hf_policy.generate(conv, SamplingParams(max_new_tokens=16, temperature=1.0, seed=7, stop=(stop,)))[0]
    assert cut.finish_reason == "stop" and stop not in cut.text
    assert cut.text == free.text[: free.text.index(stop)]
    assert cut.token_ids is not None and cut.token_ids == free.token_ids[: len(cut.token_ids)]
    assert stop in hf_policy.tokenizer.decode(list(cut.token_ids))


def test_eos_ends_the_reply_and_is_kept_in_token_ids(hf_policy: HFPolicy) -> None:
    eos = hf_policy.tokenizer.eos_token_id
    pad = hf_policy.tokenizer.pad_token_id
    text_ids = hf_policy.tokenizer("echo hi", add_special_tokens=False)["input_ids"]
    tokens = [*text_ids, eos, pad, pad]
    out = hf_policy._completion(tokens, [-0.5] * len(tokens), [1, 2], SamplingParams())
    assert out.text == "echo hi" and out.finish_reason == "stop"
    assert out.token_ids == (*text_ids, eos) and out.logprobs == (-0.5,) * (len(text_ids) + 1)


def test_train_mode_is_restored_and_close_is_final(tiny_student_dir) -> None:  # type: ignore[no-untyped-def]
    policy = HFPolicy.from_pretrained(tiny_student_dir)
    policy.model.train()
    policy.generate(conversations()[:1], SamplingParams(max_new_tokens=2))
    assert policy.model.training
    assert policy.count_tokens("echo hello") > 0
    policy.close()
    policy.close()
    with pytest.raises(RuntimeError, match="after close"):
        policy.generate(conversations()[:1], SamplingParams(max_new_tokens=2))


def test_a_tokenizer_without_chat_template_is_refused(tiny_student_dir) -> None:  # type: ignore[no-untyped-def]
    tokenizer = AutoTokenizer.from_pretrained(tiny_student_dir)
    tokenizer.chat_template = None
    with pytest.raises(ValueError, match="chat_template"):
        HFPolicy(HFPolicy.from_pretrained(tiny_student_dir).model, tokenizer)
