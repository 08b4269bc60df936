"""Student rollouts through a vLLM OpenAI-compatible server: the :class:`Policy` and :class:`WeightSyncable` seams.

Generation is one ``/v1/chat/completions`` request per conversation, sent concurrently (vLLM batches them), with
vLLM's ``return_token_ids`` (prompt and completion ids) and ``logprobs`` (one per generated token, in the
``processed_logprobs`` mode :class:`VLLMServerConfig` sets: the distribution actually sampled). Every sampling
warper is pinned in the request so the model's ``generation_config.json`` cannot change what is reported.
Conventions match :class:`~swe_dagger.agents.hf_policy.HFPolicy`: the EOS token and the tokens that complete a stop
string stay in ``token_ids`` (they were sampled); ``text`` has neither.

Weight sync (:meth:`VLLMPolicy.sync_weights`): a directory with ``adapter_config.json`` is a PEFT LoRA adapter and is
hot-loaded under the version's name (later requests name it as their model); anything else is a full HF checkpoint,
reloaded in place through the dev-mode ``reload_weights`` RPC, or — when the server offers no dev endpoints and
swe-dagger owns it — by restarting the server on the new directory. ``model_version`` names what is served.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from swe_dagger.agents.protocol import Completion, Conversation, SamplingParams
from swe_dagger.agents.vllm_admin import VLLMAdmin, VLLMAdminError
from swe_dagger.agents.vllm_server import VLLMServer


class VLLMPolicyError(RuntimeError):
    """Generation or weight sync through vLLM failed (bad answer, unreachable server, unusable checkpoint)."""


class VLLMPolicy:
    """A Policy served by vLLM at ``base_url``; pass ``server`` when swe-dagger started it (enables restart sync)."""

    def __init__(
        self,
        base_url: str,
        *,
        served_model_name: str = "student",
        model_version: str = "",
        server: VLLMServer | None = None,
        max_concurrency: int = 16,
        timeout_s: float = 600.0,
        api_key: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.served_model_name = served_model_name
        self.model_version = model_version
        """The checkpoint id stamped on every Completion; set by :meth:`sync_weights`."""
        self.server = server
        self._request_model = served_model_name
        self._adapter: str | None = None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout_s, headers=headers)
        self._admin = VLLMAdmin(self.base_url, timeout_s=timeout_s)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="vllm-policy")
        self._closed = False

    @classmethod
    def from_server(cls, server: VLLMServer, *, model_version: str | None = None, **kwargs: object) -> VLLMPolicy:
        """A policy over a server swe-dagger started; the version defaults to the served model directory."""
        version = model_version if model_version is not None else server.model
        return cls(
            server.base_url, served_model_name=server.config.served_model_name, model_version=version,
            server=server, **kwargs,  # type: ignore[arg-type]
        )

    @property
    def request_model(self) -> str:
        """The ``model`` field requests carry: the base name, or the adapter loaded by the last LoRA sync."""
        return self._request_model

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        if self._closed:
            raise VLLMPolicyError("VLLMPolicy.generate called after close()")
        if sampling.max_new_tokens < 1:
            raise ValueError(f"SamplingParams.max_new_tokens must be >= 1, got {sampling.max_new_tokens}")
        body = self._sampling_body(sampling)
        futures = [self._pool.submit(self._one, conversation, body) for conversation in conversations]
        return [future.result() for future in futures]

    def sync_weights(self, checkpoint_dir: str, version: str) -> None:
        """Serve the weights in ``checkpoint_dir`` (LoRA adapter or full checkpoint); then stamp ``version``."""
        if self._closed:
            raise VLLMPolicyError("VLLMPolicy.sync_weights called after close()")
        path = Path(checkpoint_dir)
        if not path.is_dir():
            raise VLLMPolicyError(f"sync_weights: checkpoint {checkpoint_dir!r} is not a directory")
        if not version:
            raise VLLMPolicyError("sync_weights: version must be a non-empty checkpoint id")
        if (path / "adapter_config.json").is_file():
            self._sync_lora(path.resolve(), version)
        elif (path / "config.json").is_file():
            self._sync_full(path.resolve())
        else:
            raise VLLMPolicyError(
                f"sync_weights: {checkpoint_dir!r} has neither adapter_config.json (LoRA) nor config.json (full model)"
            )
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
        self._pool.shutdown(wait=True)
        self._client.close()
        self._admin.close()
        if self.server is not None:
            self.server.close()

    def __enter__(self) -> VLLMPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sync_lora(self, path: Path, version: str) -> None:
        name = _adapter_name(version)
        previous = self._adapter
        try:
            self._admin.load_lora(name, str(path), inplace=name == previous)
            if previous is not None and previous != name:
                self._admin.unload_lora(previous)
        except VLLMAdminError as exc:
            raise VLLMPolicyError(f"LoRA sync of {path} as {name!r} failed: {exc}") from exc
        self._adapter, self._request_model = name, name

    def _sync_full(self, path: Path) -> None:
        try:
            if self._adapter is not None:
                self._admin.unload_lora(self._adapter)
            self._adapter, self._request_model = None, self.served_model_name
            self._admin.reload_weights(str(path))
        except VLLMAdminError as exc:
            if exc.status == 404 and self.server is not None:
                self.server.restart(str(path))  # no dev endpoints: the fallback is a fresh server on the new dir
                return
            hint = " (start the server with VLLM_SERVER_DEV_MODE=1)" if exc.status == 404 else ""
            raise VLLMPolicyError(f"full-weight sync of {path} failed{hint}: {exc}") from exc

    def _sampling_body(self, sampling: SamplingParams) -> dict[str, object]:
        greedy = sampling.temperature <= 0
        body: dict[str, object] = {
            "max_tokens": sampling.max_new_tokens,
            "temperature": 0.0 if greedy else sampling.temperature,
            "top_p": 1.0 if greedy else sampling.top_p,
            "top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0,
            "logprobs": True, "top_logprobs": 0, "return_token_ids": True, "skip_special_tokens": True, "n": 1,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        return body

    def _one(self, conversation: Conversation, sampling_body: dict[str, object]) -> Completion:
        body = {
            **sampling_body,
            "model": self._request_model,
            "messages": [{"role": m.role, "content": m.content} for m in conversation],
        }
        try:
            response = self._client.post("/v1/chat/completions", json=body)
        except httpx.TransportError as exc:
            raise VLLMPolicyError(f"vLLM server {self.base_url} unreachable: {exc}") from exc
        if response.status_code != 200:
            raise VLLMPolicyError(
                f"vLLM chat completion (model {self._request_model!r}) failed with HTTP {response.status_code}: "
                f"{response.text[:2000]}"
            )
        return self._completion(response.json())

    def _completion(self, data: dict[str, object]) -> Completion:
        choices = data.get("choices")
        if not isinstance(choices, list) or len(choices) != 1:
            raise VLLMPolicyError(f"vLLM answer has no single choice: {str(data)[:500]}")
        choice = choices[0]
        token_ids = choice.get("token_ids")
        prompt_ids = data.get("prompt_token_ids")
        if not isinstance(token_ids, list) or not isinstance(prompt_ids, list):
            raise VLLMPolicyError("vLLM answer lacks token_ids/prompt_token_ids (is this a vLLM server?)")
        content = (choice.get("logprobs") or {}).get("content") or []
        logprobs = [float(entry["logprob"]) for entry in content]
        if len(logprobs) != len(token_ids):
            raise VLLMPolicyError(f"vLLM returned {len(token_ids)} token ids but {len(logprobs)} logprobs")
        finish = choice.get("finish_reason") or "stop"
        return Completion(
            text=str((choice.get("message") or {}).get("content") or ""),
            token_ids=tuple(int(t) for t in token_ids),
            logprobs=tuple(logprobs),
            prompt_token_ids=tuple(int(t) for t in prompt_ids),
            finish_reason="length" if finish == "length" else "stop",
            model_version=self.model_version,
        )


def _adapter_name(version: str) -> str:
    """A LoRA name vLLM accepts in ``model`` fields, derived from the checkpoint id."""
    return "lora-" + re.sub(r"[^A-Za-z0-9._-]+", "-", version).strip("-")
