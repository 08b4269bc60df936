"""Student rollouts through a vLLM OpenAI-compatible server: the :class:`Policy` and :class:`WeightSyncable` seams.

Generation is one ``/v1/chat/completions`` request per conversation, sent concurrently (vLLM batches them), with
vLLM's ``return_token_ids`` (prompt and completion ids) and ``logprobs`` (one per generated token, in the
``processed_logprobs`` mode :class:`VLLMServerConfig` sets: the distribution actually sampled). Every sampling
warper is pinned in the request so the model's ``generation_config.json`` cannot change what is reported.
Conventions match :class:`~swe_dagger.agents.backends.hf.HFPolicy`: the EOS token and the tokens that complete a stop
string stay in ``token_ids`` (they were sampled); ``text`` has neither. A reply cut by ``max_new_tokens`` inside a
multi-byte character ends before that character in ``text`` (vLLM holds partial UTF-8 back); its bytes stay in
``token_ids``.

Weight sync (:meth:`VLLMPolicy.sync_weights`): a directory with ``adapter_config.json`` is a PEFT LoRA adapter and is
hot-loaded under the version's name (later requests name it as their model); anything else is a full HF checkpoint,
reloaded in place through the dev-mode ``reload_weights`` RPC, or by restarting a server swe-dagger owns on the new
directory when in-place reload would be wrong (tied embeddings, see ``FullSync``) or the server has no dev
endpoints. ``model_version`` names what is served.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from swe_dagger.agents.backends.openai import chat_request
from swe_dagger.agents.backends.openai_client import ChatResult, ClientConfig, OpenAIClient
from swe_dagger.agents.backends.vllm.admin import VLLMAdmin, VLLMAdminError
from swe_dagger.agents.backends.vllm.common import (
    FullSync,
    VLLMPolicyError,
    adapter_name,
    checkpoint_kind,
    pinned_sampling,
    ties_word_embeddings,
)
from swe_dagger.agents.backends.vllm.server import VLLMServer
from swe_dagger.agents.protocol import Completion, Conversation, PolicyError, SamplingParams

__all__ = ["VLLMPolicy", "VLLMPolicyError"]

_TOKEN_FIELDS = {"logprobs": True, "top_logprobs": 0, "return_token_ids": True, "n": 1}
"""vLLM extras: one logprob per sampled token, prompt and completion token ids in the reply."""


class VLLMPolicy:
    """A Policy served by vLLM at ``base_url``; pass ``server`` when swe-dagger started it (enables restart sync).

    Requests go through :class:`~swe_dagger.agents.backends.openai_client.OpenAIClient` (bounded concurrency, retries of
    transient failures); ``client`` tunes it (its ``base_url`` is replaced by this server's).
    """

    def __init__(
        self,
        base_url: str,
        *,
        served_model_name: str = "student",
        model_version: str = "",
        server: VLLMServer | None = None,
        client: ClientConfig | None = None,
        admin_timeout_s: float = 600.0,
        full_sync: FullSync = "auto",
        tokenizer_dir: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.served_model_name = served_model_name
        self.model_version = model_version
        """The checkpoint id stamped on every Completion; set by :meth:`sync_weights`."""
        self.server = server
        self.full_sync: FullSync = full_sync
        """How full checkpoints are synced (see :data:`~swe_dagger.agents.backends.vllm.common.FullSync`)."""
        self._request_model = served_model_name
        self._adapter: str | None = None
        self._tokenizer_dir = tokenizer_dir or (server.model if server is not None else None)
        self._tokenizer: Any = None
        config = replace(client or ClientConfig(max_concurrency=32, timeout_s=600.0), base_url=f"{self.base_url}/v1")
        self._client = OpenAIClient(config)
        self._admin = VLLMAdmin(self.base_url, timeout_s=admin_timeout_s)
        self._closed = False

    @classmethod
    def from_server(
        cls,
        server: VLLMServer,
        *,
        model_version: str | None = None,
        client: ClientConfig | None = None,
        full_sync: FullSync = "auto",
    ) -> VLLMPolicy:
        """A policy over a server swe-dagger started (and now owns: closing the policy stops it); the version
        defaults to the served model directory."""
        version = model_version if model_version is not None else server.model
        return cls(
            server.base_url, served_model_name=server.config.served_model_name, model_version=version,
            server=server, client=client, full_sync=full_sync,
        )

    def count_tokens(self, text: str) -> int:
        """Token count of ``text`` (the agent's prompt budget): the local tokenizer of the served model when its
        directory is known, else the server's ``/tokenize``."""
        if self._tokenizer is None and self._tokenizer_dir is not None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self._tokenizer_dir)
        if self._tokenizer is not None:
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])
        try:
            return int(self._admin.tokenize(self.served_model_name, text))
        except VLLMAdminError as exc:
            raise VLLMPolicyError(f"count_tokens: {exc}") from exc

    @property
    def request_model(self) -> str:
        """The ``model`` field requests carry: the base name, or the adapter loaded by the last LoRA sync."""
        return self._request_model

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        if self._closed:
            raise VLLMPolicyError("VLLMPolicy.generate called after close()")
        extra = {**pinned_sampling(sampling), **_TOKEN_FIELDS}
        requests = [chat_request(self._request_model, c, sampling, extra_body=extra) for c in conversations]
        try:
            results = self._client.chat_many(requests)
        except PolicyError as exc:
            if self.server is not None and not self.server.running:
                raise VLLMPolicyError(f"the vLLM server died: {exc}\nserver log:\n{self.server.log_tail()}") from exc
            raise
        return [self._completion(result) for result in results]

    def sync_weights(self, checkpoint_dir: str, version: str) -> None:
        """Serve the weights in ``checkpoint_dir`` (LoRA adapter or full checkpoint); then stamp ``version``."""
        if self._closed:
            raise VLLMPolicyError("VLLMPolicy.sync_weights called after close()")
        name = adapter_name(version)  # also rejects an empty version before anything changes
        kind = checkpoint_kind(checkpoint_dir)
        path = Path(checkpoint_dir).resolve()
        if kind == "lora":
            self._sync_lora(path, name)
        else:
            self._sync_full(path)
        self.model_version = version

    def sleep(self, level: int = 1) -> None:
        """Free the server's accelerator memory for training (GPU, ``enable_sleep_mode``); :meth:`wake_up` after."""
        self._admin.sleep(level)

    def wake_up(self) -> None:
        self._admin.wake_up()

    def close(self) -> None:
        """Stop the worker threads and HTTP clients (and the server, if one was passed in); safe twice."""
        if self._closed:
            return
        self._closed = True
        self._client.close()
        self._admin.close()
        if self.server is not None:
            self.server.close()

    def __enter__(self) -> VLLMPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sync_lora(self, path: Path, name: str) -> None:
        previous = self._adapter
        try:
            self._admin.load_lora(name, str(path), inplace=name == previous)
            if previous is not None and previous != name:
                self._admin.unload_lora(previous)
        except VLLMAdminError as exc:
            raise VLLMPolicyError(f"LoRA sync of {path} as {name!r} failed: {exc}") from exc
        self._adapter, self._request_model = name, name

    def _sync_full(self, path: Path) -> None:
        mode = self.full_sync
        if mode == "auto":
            mode = "restart" if ties_word_embeddings(str(path)) else "inplace"
        try:
            if self._adapter is not None and mode == "inplace":
                self._admin.unload_lora(self._adapter)
            self._adapter, self._request_model = None, self.served_model_name
            if mode == "inplace":
                self._admin.reload_weights(str(path))
                return
        except VLLMAdminError as exc:
            if exc.status != 404 or self.server is None:
                hint = " (start the server with VLLM_SERVER_DEV_MODE=1)" if exc.status == 404 else ""
                raise VLLMPolicyError(f"full-weight sync of {path} failed{hint}: {exc}") from exc
        if self.server is None:
            raise VLLMPolicyError(
                f"full-weight sync of {path} needs a server restart (it ties word embeddings, which vLLM's in-place "
                "reload gets wrong), but this policy does not own its server: pass server=, use LoRA checkpoints, "
                "or set full_sync='inplace' if your vLLM version is known to handle tied embeddings"
            )
        self.server.restart(str(path))

    def _completion(self, result: ChatResult) -> Completion:
        if result.token_ids is None or result.logprobs is None or result.prompt_token_ids is None:
            raise VLLMPolicyError(
                f"{self.base_url} answered without token ids/logprobs (is it a vLLM server? RL needs them)"
            )
        return Completion(
            text=result.text,
            token_ids=result.token_ids,
            logprobs=result.logprobs,
            prompt_token_ids=result.prompt_token_ids,
            finish_reason="length" if result.finish_reason == "length" else "stop",
            model_version=self.model_version,
        )
