"""A teacher behind any OpenAI-compatible chat endpoint (a hosted frontier model, a local vLLM, ...).

Transport failures (429, 5xx, timeouts, dropped connections) are retried by
:class:`~swe_dagger.agents.backends.openai_client.OpenAIClient`. A reply that is not a valid action (not exactly
one bash block, per :func:`swe_dagger.envs.actions.parse_action`) is retried with the format error fed back to the
model, as the env would; when ``invalid_retries`` are used up the batch fails with :class:`TeacherError` naming the task
and the reply. An invalid label is never returned.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from swe_dagger.agents.backends.openai import chat_request
from swe_dagger.agents.backends.openai_client import ClientConfig, OpenAIClient
from swe_dagger.agents.protocol import Conversation, Message, PolicyError, SamplingParams
from swe_dagger.envs.actions import FormatError, parse_action
from swe_dagger.teachers.protocol import TeacherError, TeacherState

__all__ = ["ChatTeacher", "ChatUsage", "TeacherError"]

CUT_OFF = ("Your reply was cut off at {} tokens, before its command block closed. Reply with a short THOUGHT and "
           "one short command (write a long file over several commands).")
"""Fed back before the format error when a reply ended at ``max_tokens``."""


@dataclass(frozen=True)
class ChatUsage:
    """Cumulative cost of a chat teacher (field names match ``swe_dagger.teachers.cost.TeacherUsage``)."""

    calls: int = 0
    """HTTP requests that returned a completion (invalid replies included)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    """Wall time inside requests, summed over requests."""
    invalid_replies: int = 0
    """Replies rejected by ``parse_action`` (each cost a retry)."""
    dollars: float | None = None
    """Only when a price is configured."""


class ChatTeacher:
    """:class:`~swe_dagger.teachers.protocol.Teacher` that asks a chat model what to do at each state."""

    def __init__(
        self,
        model: str,
        base_url: str = "",
        *,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        system_prompt: str | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 512,
        invalid_retries: int = 2,
        timeout_s: float = 120.0,
        max_retries: int = 5,
        max_concurrency: int = 8,
        price_per_1k_prompt: float | None = None,
        price_per_1k_completion: float | None = None,
        extra_body: Mapping[str, object] | None = None,
    ) -> None:
        """``system_prompt`` replaces the state's leading system message (or is prepended when there is none);
        ``None`` sends the student's conversation as is. Prices are dollars per 1000 tokens. ``max_tokens`` caps
        one reply: 512 holds a short THOUGHT and one command (a ~40-line heredoc included); a reply cut there has
        no closing fence, and the retry tells the model so. Raise it for models that think before answering."""
        if not model:
            raise ValueError("ChatTeacher needs a model name")
        if invalid_retries < 0:
            raise ValueError(f"ChatTeacher invalid_retries must be >= 0, got {invalid_retries}")
        self.model = model
        self.system_prompt = system_prompt
        self.sampling = SamplingParams(max_new_tokens=max_tokens, temperature=temperature, top_p=top_p)
        self.invalid_retries = invalid_retries
        self.extra_body = dict(extra_body or {})
        self._prices = (price_per_1k_prompt, price_per_1k_completion)
        self.client = OpenAIClient(
            ClientConfig(
                base_url=base_url,
                api_key=api_key,
                api_key_env=api_key_env,
                timeout_s=timeout_s,
                max_retries=max_retries,
                max_concurrency=max_concurrency,
            )
        )
        settings = json.dumps([system_prompt, temperature, top_p, max_tokens, self.extra_body], sort_keys=True)
        digest = hashlib.sha256(settings.encode()).hexdigest()[:10]
        self._teacher_id = f"chat:{model}@{self.client.url.removesuffix('/chat/completions')}#{digest}"
        self._invalid = 0
        self._lock = threading.Lock()

    @property
    def teacher_id(self) -> str:
        """``chat:MODEL@BASE_URL#SETTINGS_HASH``: a change of prompt or sampling is a different teacher."""
        return self._teacher_id

    @property
    def usage(self) -> ChatUsage:
        client = self.client.usage
        price_prompt, price_completion = self._prices
        dollars = None
        if price_prompt is not None or price_completion is not None:
            dollars = (
                client.prompt_tokens * (price_prompt or 0.0) + client.completion_tokens * (price_completion or 0.0)
            ) / 1000
        with self._lock:
            invalid = self._invalid
        return ChatUsage(client.calls, client.prompt_tokens, client.completion_tokens, client.seconds, invalid, dollars)

    def label(self, states: Sequence[TeacherState]) -> list[str]:
        """One valid action text per state, in order (states are labelled concurrently). When some states fail,
        the others still finish, and the :class:`TeacherError` carries their labels (a cache keeps them)."""
        if len(states) <= 1:
            return [self._label_one(s) for s in states]
        labels: list[str | None] = [None] * len(states)
        failures: list[TeacherError] = []
        with ThreadPoolExecutor(max_workers=min(len(states), self.client.config.max_concurrency)) as pool:
            futures = {pool.submit(self._label_one, s): i for i, s in enumerate(states)}
            for future in as_completed(futures):
                try:
                    labels[futures[future]] = future.result()
                except TeacherError as exc:
                    failures.append(exc)
        if failures:
            raise TeacherError(f"{failures[0]} ({len(failures)} of {len(states)} states of the batch got no label; "
                               "the others are kept)", labels=labels)
        return [label for label in labels if label is not None]

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ChatTeacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def messages_for(self, state: TeacherState) -> Conversation:
        """What the model is sent for ``state`` (before any format-error follow-ups)."""
        messages = state.messages
        if self.system_prompt is not None:
            rest = messages[1:] if messages and messages[0].role == "system" else messages
            messages = (Message("system", self.system_prompt), *rest)
        return messages

    def _label_one(self, state: TeacherState) -> str:
        conversation = self.messages_for(state)
        where = f"task {state.task.instance_id!r} at turn {sum(m.role == 'assistant' for m in state.messages)}"
        for attempt in range(self.invalid_retries + 1):
            request = chat_request(self.model, conversation, self.sampling, extra_body=self.extra_body)
            try:
                completion = self.client.chat(request)
            except PolicyError as exc:
                raise TeacherError(f"{self.teacher_id}: no label for {where}: {exc}") from exc
            reply = completion.text
            try:
                parse_action(reply)
            except FormatError as exc:
                with self._lock:
                    self._invalid += 1
                cut = completion.finish_reason == "length"
                if attempt == self.invalid_retries:
                    hint = f" (cut at max_tokens={self.sampling.max_new_tokens}: raise teacher.options.max_tokens)"
                    raise TeacherError(
                        f"{self.teacher_id}: no valid action for {where} after {attempt + 1} replies; "
                        f"last reply {reply[:300]!r} was rejected: {str(exc).splitlines()[0]}{hint if cut else ''}"
                    ) from exc
                feedback = f"{CUT_OFF.format(self.sampling.max_new_tokens)}\n\n{exc}" if cut else str(exc)
                conversation = (*conversation, Message("assistant", reply), Message("user", feedback))
                continue
            return reply
        raise AssertionError("unreachable")  # the loop returns or raises
