"""OpenAIPolicy against a real ``transformers serve`` of the tiny student on 127.0.0.1."""

from __future__ import annotations

import pytest

from swe_dagger.agents.agent import Agent
from swe_dagger.agents.backends.hf import HFPolicy
from swe_dagger.agents.backends.openai import OpenAIPolicy
from swe_dagger.agents.backends.openai_client import ClientConfig, OpenAIClient
from swe_dagger.agents.protocol import Policy, PolicyError, SamplingParams
from swe_dagger.agents.serve import TransformersServer, free_port

pytestmark = pytest.mark.serve


def test_served_greedy_replies_equal_in_process_ones(served_student: TransformersServer, hf_policy: HFPolicy) -> None:
    agent = Agent()
    convs = [agent.initial_messages("fix the parser"), agent.render(agent.initial_messages("t"), [("ls", "a\nb")])]
    sampling = SamplingParams(max_new_tokens=8)
    with OpenAIPolicy(served_student.model_id, ClientConfig(base_url=served_student.url)) as policy:
        assert isinstance(policy, Policy)
        served = policy.generate(convs, sampling)
        usage = policy.client.usage
    local = hf_policy.generate(convs, sampling)
    # transformers serve runs its Qwen-family response parser, which trims surrounding whitespace.
    assert [c.text for c in served] == [c.text.strip() for c in local]
    assert usage.completion_tokens == sum(len(c.token_ids or ()) for c in local)
    assert all(c.model_version == served_student.model_id for c in served)
    assert all(c.logprobs is None for c in served), "transformers serve gives no logprobs; none are invented"
    assert usage.calls == 2 and usage.completion_tokens > 0 and usage.prompt_tokens > 0


def test_a_shared_client_stays_open(served_student: TransformersServer) -> None:
    with OpenAIClient(ClientConfig(base_url=served_student.url)) as client:
        OpenAIPolicy(served_student.model_id, client).close()
        assert client.chat({"model": served_student.model_id, "messages": [{"role": "user", "content": "x"}],
                            "max_tokens": 2}).completion_tokens <= 2


def test_a_server_that_is_down_is_a_policy_error() -> None:
    config = ClientConfig(base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=1, backoff_base_s=0.01)
    with OpenAIPolicy("m", config) as policy, pytest.raises(PolicyError, match=r"2 attempts; last: ConnectError"):
        policy.generate([Agent().initial_messages("t")], SamplingParams(max_new_tokens=2))
