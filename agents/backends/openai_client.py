"""A small, robust client for OpenAI-compatible ``POST {base_url}/chat/completions`` (vLLM, SGLang, hosted APIs...).

Robustness is the point: connection errors, read timeouts, 429 and 5xx are retried with exponential backoff and
jitter (a ``Retry-After`` header is honoured, up to ``backoff_max_s``); other 4xx and malformed replies fail at once.
When retries run out a :class:`~swe_dagger.agents.protocol.PolicyError` names the URL, the last status and an excerpt
of the body. Batches run on a thread pool bounded by ``max_concurrency``; usage (calls, tokens, wall time, retries)
is accumulated thread-safely and read as a frozen snapshot.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from swe_dagger.agents.protocol import PolicyError

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
"""Statuses worth retrying; any other 5xx is retried too."""


@dataclass(frozen=True)
class ClientConfig:
    """Where the server is and how hard to try."""

    base_url: str = ""
    """API root including the version, e.g. ``http://127.0.0.1:8000/v1``; empty = ``$OPENAI_BASE_URL``."""
    api_key: str | None = None
    """The key itself; ``None`` = read ``api_key_env`` (a missing key is fine for local servers)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the key."""
    timeout_s: float = 120.0
    """Per-request read/write timeout."""
    connect_timeout_s: float = 10.0
    max_retries: int = 5
    """Retries after the first attempt (so up to ``max_retries + 1`` requests)."""
    backoff_base_s: float = 0.5
    """First retry waits about this long; each later one twice as long (times a jitter factor in [0.5, 1])."""
    backoff_max_s: float = 30.0
    """Cap on any single wait, ``Retry-After`` included."""
    max_concurrency: int = 8
    """Requests in flight at once (batches and concurrent callers together)."""

    def resolved_base_url(self) -> str:
        url = (self.base_url or os.environ.get("OPENAI_BASE_URL", "")).rstrip("/")
        if not url:
            raise ValueError("no base_url configured and $OPENAI_BASE_URL is unset (e.g. http://127.0.0.1:8000/v1)")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {url!r}")
        return url

    def resolved_api_key(self) -> str | None:
        return self.api_key if self.api_key is not None else os.environ.get(self.api_key_env) or None


@dataclass(frozen=True)
class ClientUsage:
    """Totals since the client was made (field names match the teachers' ``TeacherUsage``)."""

    calls: int = 0
    """Successful requests."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    """Wall time spent inside requests, waits between retries included, summed over calls."""
    retries: int = 0
    failures: int = 0
    """Requests that ended in a PolicyError."""


@dataclass(frozen=True)
class ChatResult:
    """One parsed chat completion (the first choice)."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    token_ids: tuple[int, ...] | None
    """Generated token ids, when the server reports them (vLLM ``return_token_ids``/``token_id:N`` tokens)."""
    logprobs: tuple[float, ...] | None
    """Per generated token, when the server reports them."""
    prompt_token_ids: tuple[int, ...] | None
    seconds: float


class OpenAIClient:
    """Thread-safe ``/chat/completions`` caller with retries, a concurrency limit and usage accounting."""

    def __init__(self, config: ClientConfig | None = None, *, rng: random.Random | None = None) -> None:
        self.config = config or ClientConfig()
        self.url = f"{self.config.resolved_base_url()}/chat/completions"
        key = self.config.resolved_api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        timeout = httpx.Timeout(self.config.timeout_s, connect=self.config.connect_timeout_s)
        limits = httpx.Limits(max_connections=self.config.max_concurrency)
        self._http = httpx.Client(timeout=timeout, headers=headers, limits=limits)
        self._slots = threading.BoundedSemaphore(self.config.max_concurrency)
        self._lock = threading.Lock()
        self._usage = ClientUsage()
        self._rng = rng or random.Random()
        self._closed = False

    @property
    def usage(self) -> ClientUsage:
        with self._lock:
            return self._usage

    def chat(self, request: Mapping[str, object]) -> ChatResult:
        """POST one request body (``model``, ``messages``, sampling fields...); retries transient failures."""
        if self._closed:
            raise PolicyError(f"OpenAIClient for {self.url} used after close()")
        start = time.monotonic()
        last = "no attempt made"
        for attempt in range(self.config.max_retries + 1):
            wait: float | None = None
            try:
                with self._slots:
                    response = self._http.post(self.url, json=dict(request))
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    result = _parse(response, self.url, time.monotonic() - start)
                    self._record(calls=1, seconds=result.seconds, retries=attempt,
                                 prompt=result.prompt_tokens, completion=result.completion_tokens)
                    return result
                last = f"HTTP {response.status_code}: {_excerpt(response.text)}"
                if response.status_code not in RETRY_STATUSES and response.status_code < 500:
                    self._record(failures=1, seconds=time.monotonic() - start, retries=attempt)
                    raise PolicyError(f"POST {self.url} was rejected with {last}")
                wait = _retry_after(response.headers.get("retry-after"))
            if attempt < self.config.max_retries:
                time.sleep(self._backoff(attempt, wait))
        self._record(failures=1, seconds=time.monotonic() - start, retries=self.config.max_retries)
        raise PolicyError(f"POST {self.url} failed after {self.config.max_retries + 1} attempts; last: {last}")

    def chat_many(self, requests: Sequence[Mapping[str, object]]) -> list[ChatResult]:
        """All requests concurrently (bounded by ``max_concurrency``), results in order; the first failure raises."""
        if len(requests) <= 1:
            return [self.chat(r) for r in requests]
        with ThreadPoolExecutor(max_workers=min(len(requests), self.config.max_concurrency)) as pool:
            return list(pool.map(self.chat, requests))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._http.close()

    def __enter__(self) -> OpenAIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = self.config.backoff_base_s * 2**attempt * (0.5 + 0.5 * self._rng.random())
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.config.backoff_max_s)

    def _record(self, *, calls: int = 0, seconds: float = 0.0, retries: int = 0, failures: int = 0,
                prompt: int = 0, completion: int = 0) -> None:
        with self._lock:
            u = self._usage
            self._usage = ClientUsage(
                calls=u.calls + calls, prompt_tokens=u.prompt_tokens + prompt,
                completion_tokens=u.completion_tokens + completion, seconds=u.seconds + seconds,
                retries=u.retries + retries, failures=u.failures + failures,
            )


def _excerpt(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _parse(response: httpx.Response, url: str, seconds: float) -> ChatResult:
    try:
        body = response.json()
        choice = body["choices"][0]
        text = choice["message"]["content"]
        usage = body.get("usage") or {}
    except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        raise PolicyError(f"POST {url}: malformed chat completion ({exc!r}): {_excerpt(response.text)}") from exc
    if not isinstance(text, str):
        raise PolicyError(f"POST {url}: the reply has no text content: {_excerpt(response.text)}")
    token_ids, logprobs = _token_info(choice, url)
    prompt_ids = body.get("prompt_token_ids") or choice.get("prompt_token_ids")
    return ChatResult(
        text=text,
        finish_reason=str(choice.get("finish_reason") or "stop"),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        token_ids=token_ids,
        logprobs=logprobs,
        prompt_token_ids=tuple(int(t) for t in prompt_ids) if prompt_ids else None,
        seconds=seconds,
    )


def _token_info(choice: Mapping[str, object], url: str) -> tuple[tuple[int, ...] | None, tuple[float, ...] | None]:
    """Token ids and logprobs from a choice: vLLM's ``token_ids`` field or ``token_id:N`` token strings."""
    entries = choice.get("logprobs")
    content = entries.get("content") if isinstance(entries, Mapping) else None
    logprobs = None
    ids: tuple[int, ...] | None = None
    if isinstance(content, list) and content:
        try:
            logprobs = tuple(float(item["logprob"]) for item in content)
            tokens = [str(item.get("token", "")) for item in content]
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyError(f"POST {url}: malformed logprobs in reply ({exc!r})") from exc
        if all(t.startswith("token_id:") for t in tokens):
            ids = tuple(int(t.removeprefix("token_id:")) for t in tokens)
    raw_ids = choice.get("token_ids")
    if isinstance(raw_ids, list):
        ids = tuple(int(t) for t in raw_ids)
    if ids is not None and logprobs is not None and len(ids) != len(logprobs):
        raise PolicyError(f"POST {url}: {len(ids)} token ids but {len(logprobs)} logprobs in one reply")
    return ids, logprobs
