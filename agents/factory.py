"""Make a student :class:`~swe_dagger.agents.protocol.Policy` from config, by backend name.

Backends are looked up in one registry: ``hf`` (in-process transformers), ``openai`` (any OpenAI-compatible server),
``vllm`` (a vLLM server kept in sync with the trainer's checkpoints, see ``vllm_student``),
third-party names from the ``swe_dagger.policies`` entry-point group, or a full ``pkg.module:builder`` path. A
backend is a callable ``(StudentConfig) -> Policy``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from swe_dagger.agents.protocol import Policy, SamplingParams
from swe_dagger.sandbox.registry import Registry

POLICY_BACKENDS = Registry(
    "policy backend",
    {
        "hf": "swe_dagger.agents.factory:hf_policy_from_config",
        "openai": "swe_dagger.agents.factory:openai_policy_from_config",
        "vllm": "swe_dagger.agents.backends.vllm.student:vllm_policy_from_config",
    },
    "swe_dagger.policies",
)


@dataclass(frozen=True)
class StudentConfig:
    """Which student to run and how it samples."""

    backend: str = "hf"
    """``hf``, ``openai``, an installed plugin's name, or ``pkg.module:builder``."""
    model: str = ""
    """``hf``: a model directory (or hub name where reachable); ``openai``: the server's model id."""
    device: str | None = None
    """``hf``: torch device (``None`` = where the model loads, CPU by default)."""
    dtype: str = "auto"
    """``hf``: weight dtype (``auto``, ``float32``, ``bfloat16``...)."""
    max_batch_size: int = 16
    """``hf``: conversations per forward batch."""
    base_url: str = ""
    """``openai``: API root with version, e.g. ``http://127.0.0.1:8000/v1`` (empty = ``$OPENAI_BASE_URL``)."""
    api_key_env: str = "OPENAI_API_KEY"
    """``openai``: environment variable holding the key (never put keys in config files)."""
    timeout_s: float = 120.0
    max_retries: int = 5
    max_concurrency: int = 8
    request_logprobs: bool = True
    """``openai``: ask the server for per-token logprobs (left ``None`` when it ignores the request)."""
    extra_body: dict[str, str | int | float | bool] = field(default_factory=dict)
    """``openai``: extra JSON fields per request (e.g. vLLM's ``{"return_token_ids": true}``)."""
    max_new_tokens: int = 512
    temperature: float = 0.0
    """0 = greedy."""
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def sampling(self) -> SamplingParams:
        """The sampling parameters these fields describe."""
        return SamplingParams(self.max_new_tokens, self.temperature, self.top_p, self.seed, self.stop)


def make_policy(cfg: StudentConfig) -> Policy:
    """Build the configured policy; an unknown backend lists the available ones."""
    builder = POLICY_BACKENDS.resolve(cfg.backend)
    if not callable(builder):
        raise TypeError(f"policy backend {cfg.backend!r} resolves to {builder!r}, which is not callable")
    policy = builder(cfg)
    if not isinstance(policy, Policy):
        raise TypeError(f"policy backend {cfg.backend!r} built a {type(policy).__name__}, not a Policy")
    return policy


def hf_policy_from_config(cfg: StudentConfig) -> Policy:
    from swe_dagger.agents.backends.hf import HFPolicy

    _require_model(cfg)
    return HFPolicy.from_pretrained(cfg.model, device=cfg.device, dtype=cfg.dtype, max_batch_size=cfg.max_batch_size)


def openai_policy_from_config(cfg: StudentConfig) -> Policy:
    from swe_dagger.agents.backends.openai import OpenAIPolicy
    from swe_dagger.agents.backends.openai_client import ClientConfig

    _require_model(cfg)
    client = ClientConfig(
        base_url=cfg.base_url, api_key_env=cfg.api_key_env, timeout_s=cfg.timeout_s,
        max_retries=cfg.max_retries, max_concurrency=cfg.max_concurrency,
    )
    return OpenAIPolicy(cfg.model, client, request_logprobs=cfg.request_logprobs, extra_body=cfg.extra_body)


def _require_model(cfg: StudentConfig) -> None:
    if not cfg.model:
        raise ValueError(f"StudentConfig.model is empty; backend {cfg.backend!r} needs a model")


PolicyBuilder = Callable[[StudentConfig], Policy]
"""The shape of a backend registered in ``POLICY_BACKENDS``."""
