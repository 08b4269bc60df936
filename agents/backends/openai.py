"""The student behind any OpenAI-compatible chat endpoint (vLLM, SGLang, ``transformers serve``, hosted APIs).

Asks for per-token logprobs (and, with ``extra_body``, token ids, e.g. vLLM's ``{"return_token_ids": True}``) and
passes them on when the server gives them; a server that ignores the request leaves them ``None`` (fine for DAgger,
not for GRPO, which needs an in-process or vLLM student).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from swe_dagger.agents.backends.openai_client import ChatResult, ClientConfig, OpenAIClient
from swe_dagger.agents.protocol import Completion, Conversation, SamplingParams


def chat_request(
    model: str,
    conversation: Conversation,
    sampling: SamplingParams,
    *,
    logprobs: bool = False,
    extra_body: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The JSON body of one ``/chat/completions`` request."""
    body: dict[str, object] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in conversation],
        "max_tokens": sampling.max_new_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
    }
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    if sampling.stop:
        body["stop"] = list(sampling.stop)
    if logprobs:
        body["logprobs"] = True
    body.update(extra_body or {})
    return body


class OpenAIPolicy:
    """:class:`~swe_dagger.agents.protocol.Policy` over :class:`OpenAIClient`; one request per conversation."""

    def __init__(
        self,
        model: str,
        client: OpenAIClient | ClientConfig | None = None,
        *,
        request_logprobs: bool = True,
        extra_body: Mapping[str, object] | None = None,
        model_version: str = "",
    ) -> None:
        if not model:
            raise ValueError("OpenAIPolicy needs a model name (the server's id for it)")
        self.model = model
        self._owns_client = not isinstance(client, OpenAIClient)
        self.client = client if isinstance(client, OpenAIClient) else OpenAIClient(client)
        self.request_logprobs = request_logprobs
        self.extra_body = dict(extra_body or {})
        self.model_version = model_version or model

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        requests = [
            chat_request(self.model, c, sampling, logprobs=self.request_logprobs, extra_body=self.extra_body)
            for c in conversations
        ]
        return [self._completion(r) for r in self.client.chat_many(requests)]

    def close(self) -> None:
        """Closes the client if this policy made it (a shared client stays open for its owner)."""
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> OpenAIPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _completion(self, result: ChatResult) -> Completion:
        return Completion(
            text=result.text,
            token_ids=result.token_ids,
            logprobs=result.logprobs,
            prompt_token_ids=result.prompt_token_ids,
            finish_reason="length" if result.finish_reason == "length" else "stop",
            model_version=self.model_version,
        )
