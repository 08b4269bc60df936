"""The weight-management endpoints of a running vLLM server (vllm 0.32), behind plain methods.

- LoRA: ``/v1/load_lora_adapter`` / ``/v1/unload_lora_adapter`` (server started with ``--enable-lora`` and
  ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``).
- Full weights in place: ``/collective_rpc`` with the worker method ``reload_weights(weights_path=...)``, then
  ``/reset_prefix_cache`` so no KV computed under the old weights is reused (needs ``VLLM_SERVER_DEV_MODE=1``).
- Memory: ``/sleep`` / ``/wake_up`` / ``/is_sleeping`` (dev mode; real memory release needs a GPU and
  ``--enable-sleep-mode``).

Every failure raises :class:`VLLMAdminError` naming the endpoint, the status and the server's answer.
"""

from __future__ import annotations

import httpx


class VLLMAdminError(RuntimeError):
    """A management call failed; ``status`` is the HTTP status (None when the server was unreachable)."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


class VLLMAdmin:
    """A small client for one server's management endpoints."""

    def __init__(self, base_url: str, *, timeout_s: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout_s)

    def load_lora(self, name: str, path: str, *, inplace: bool = False) -> None:
        """Load the PEFT adapter directory ``path`` under ``name``; requests then use ``model=name``."""
        self._post("/v1/load_lora_adapter", json={"lora_name": name, "lora_path": path, "load_inplace": inplace})

    def unload_lora(self, name: str) -> None:
        self._post("/v1/unload_lora_adapter", json={"lora_name": name})

    def reload_weights(self, path: str) -> None:
        """Load the full checkpoint in ``path`` into the served model in place (same architecture), drop caches."""
        self._post("/collective_rpc", json={"method": "reload_weights", "kwargs": {"weights_path": path}})
        self.reset_prefix_cache()

    def reset_prefix_cache(self) -> None:
        self._post("/reset_prefix_cache")

    def sleep(self, level: int = 1) -> None:
        """Release weights (level 2) or offload them (level 1) and drop the KV cache, for the trainer's turn."""
        self._post("/sleep", params={"level": level})

    def wake_up(self) -> None:
        self._post("/wake_up")

    def is_sleeping(self) -> bool:
        return bool(self._request("GET", "/is_sleeping").json()["is_sleeping"])

    def tokenize(self, model: str, text: str) -> int:
        """How many tokens ``text`` is for ``model`` (no special tokens added)."""
        body = {"model": model, "prompt": text, "add_special_tokens": False}
        return int(self._post("/tokenize", json=body).json()["count"])

    def models(self) -> list[str]:
        """Ids the server answers to: the base model's served name and every loaded adapter."""
        return [str(entry["id"]) for entry in self._request("GET", "/v1/models").json().get("data", [])]

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> VLLMAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, path: str, **kwargs: object) -> httpx.Response:
        return self._request("POST", path, **kwargs)

    def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            raise VLLMAdminError(f"vLLM {method} {self.base_url}{path}: server unreachable ({exc})", None) from exc
        if response.status_code >= 400:
            raise VLLMAdminError(
                f"vLLM {method} {self.base_url}{path} failed with HTTP {response.status_code}: {response.text[:2000]}",
                response.status_code,
            )
        return response
