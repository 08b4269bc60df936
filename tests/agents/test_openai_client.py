"""The OpenAI-compatible client against a real local HTTP server that answers 429/500/slow/garbage on cue."""

from __future__ import annotations

import random
import threading
import time

import pytest

from swe_dagger.agents.backends.openai_client import ClientConfig, OpenAIClient
from swe_dagger.agents.protocol import PolicyError

from .conftest import FaultServer, Reply

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def client(server: FaultServer, **overrides: object) -> OpenAIClient:
    fields: dict[str, object] = {"base_url": server.url, "backoff_base_s": 0.05, "backoff_max_s": 1.0, "api_key": "k"}
    fields.update(overrides)
    return OpenAIClient(ClientConfig(**fields), rng=random.Random(0))  # type: ignore[arg-type]


def test_retries_429_and_5xx_with_growing_backoff(fault_server: FaultServer) -> None:
    fault_server.script = [Reply(429, "busy"), Reply(500), Reply(503), Reply(text="THOUGHT: ok")]
    with client(fault_server) as c:
        result = c.chat(REQUEST)
        assert result.text == "THOUGHT: ok" and result.prompt_tokens == 7 and result.completion_tokens == 3
        usage = c.usage
    assert (usage.calls, usage.retries, usage.failures, usage.prompt_tokens) == (1, 3, 0, 7)
    gaps = [b - a for a, b in zip(fault_server.arrivals, fault_server.arrivals[1:], strict=False)]
    assert gaps[0] >= 0.025 and gaps[2] >= 0.1, gaps  # base 0.05 * 2**k * jitter in [0.5, 1]
    assert gaps[2] > gaps[0]


def test_retry_after_is_honoured(fault_server: FaultServer) -> None:
    fault_server.script = [Reply(429, headers=(("Retry-After", "0.6"),))]
    with client(fault_server) as c:
        c.chat(REQUEST)
    assert fault_server.arrivals[1] - fault_server.arrivals[0] >= 0.55


def test_exhausted_retries_name_url_status_and_body(fault_server: FaultServer) -> None:
    fault_server.script = [Reply(500, raw_body='{"error": "the GPU caught fire"}')] * 3
    with client(fault_server, max_retries=2) as c, pytest.raises(PolicyError) as info:
        c.chat(REQUEST)
    message = str(info.value)
    assert fault_server.url in message and "HTTP 500" in message and "GPU caught fire" in message
    assert "3 attempts" in message and c.usage.failures == 1


def test_client_errors_are_not_retried(fault_server: FaultServer) -> None:
    fault_server.script = [Reply(401, raw_body='{"error": "bad key"}')]
    with client(fault_server) as c, pytest.raises(PolicyError, match=r"rejected with HTTP 401.*bad key"):
        c.chat(REQUEST)
    assert len(fault_server.requests) == 1


def test_slow_server_times_out_then_recovers(fault_server: FaultServer) -> None:
    fault_server.script = [Reply(delay_s=1.0), Reply(text="fast")]
    with client(fault_server, timeout_s=0.3) as c:
        start = time.monotonic()
        assert c.chat(REQUEST).text == "fast"
        assert time.monotonic() - start < 0.9 and c.usage.retries == 1


def test_dropped_connections_are_retried_and_then_reported(fault_server: FaultServer) -> None:
    fault_server.script = [Reply(drop=True)] * 2
    with client(fault_server, max_retries=1) as c, pytest.raises(PolicyError, match=r"2 attempts; last: .*Error"):
        c.chat(REQUEST)


def test_malformed_replies_fail_clearly(fault_server: FaultServer) -> None:
    fault_server.script = [Reply(raw_body="not json at all"), Reply(raw_body='{"choices": []}')]
    with client(fault_server) as c:
        with pytest.raises(PolicyError, match=r"malformed chat completion.*not json"):
            c.chat(REQUEST)
        with pytest.raises(PolicyError, match="malformed"):
            c.chat(REQUEST)


def test_vllm_style_token_ids_and_logprobs_are_parsed(fault_server: FaultServer) -> None:
    body = (
        '{"choices": [{"finish_reason": "length", "message": {"content": "ab"}, "logprobs": {"content": ['
        '{"token": "token_id:5", "logprob": -0.5}, {"token": "token_id:9", "logprob": -1.25}]}}],'
        '"usage": {"prompt_tokens": 4, "completion_tokens": 2}}'
    )
    fault_server.script = [Reply(raw_body=body)]
    with client(fault_server) as c:
        result = c.chat(REQUEST)
    assert result.token_ids == (5, 9) and result.logprobs == (-0.5, -1.25) and result.finish_reason == "length"


def test_batches_respect_the_concurrency_limit(fault_server: FaultServer) -> None:
    fault_server.script = [Reply(text=str(i), delay_s=0.2) for i in range(6)]
    in_flight, peak, lock = [0], [0], threading.Lock()
    with client(fault_server, max_concurrency=2) as c:
        original = c._http.post

        def counting_post(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
            with lock:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
            try:
                return original(*args, **kwargs)  # type: ignore[arg-type]
            finally:
                with lock:
                    in_flight[0] -= 1

        c._http.post = counting_post  # type: ignore[method-assign]
        start = time.monotonic()
        results = c.chat_many([REQUEST] * 6)
        elapsed = time.monotonic() - start
    assert len(results) == 6 and peak[0] == 2
    assert elapsed >= 0.55, "6 requests of 0.2 s, two at a time, take at least 0.6 s"
    assert fault_server.requests[0] == REQUEST


def test_config_errors_are_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="OPENAI_BASE_URL"):
        OpenAIClient(ClientConfig())
    with pytest.raises(ValueError, match="http"):
        OpenAIClient(ClientConfig(base_url="127.0.0.1:8000/v1"))
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("MY_KEY", "sekrit")
    with OpenAIClient(ClientConfig(api_key_env="MY_KEY")) as c:
        assert c.url == "http://127.0.0.1:9/v1/chat/completions"
        assert c._http.headers["Authorization"] == "Bearer sekrit"
        c.close()
    with pytest.raises(PolicyError, match="after close"):
        c.chat(REQUEST)
