"""The student's config, and a student :class:`~swe_dagger.agents.protocol.Policy` made from it by backend name.

:class:`StudentConfig` is the one student config: ``swe-dagger train`` holds it as the run config's ``student``
section (YAML keys = its fields), and :func:`make_policy` builds a policy from it. Backends are looked up in one
registry: ``hf`` (in-process transformers), ``openai`` (any OpenAI-compatible server), ``vllm`` (a vLLM server kept
in sync with the trainer's checkpoints, see ``vllm_student``), third-party names from the ``swe_dagger.policies``
entry-point group, or a full ``pkg.module:builder`` path. A backend is a callable ``(StudentConfig) -> Policy``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from swe_dagger.agents.prompts import PromptStyle
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

TINY = "tiny"
"""``StudentConfig.model`` naming the tiny local student a training run builds in its run directory."""


@dataclass(frozen=True)
class StudentConfig:
    """Which student to run, how it is prompted and how it samples (the run config's ``student`` section).

    The first eight fields are what a training run uses; the others configure :func:`make_policy`'s backends only
    (a run refuses them when changed, see ``dagger/config.py``). Bad values raise ``ValueError`` naming
    ``student.<field>``."""

    model: str = TINY
    """An HF model directory (or hub name), or ``tiny``: a training run builds the tiny local student inside its
    run dir; :func:`make_policy` needs a model (``openai``: the server's model id)."""
    backend: str = "hf"
    """``hf`` (transformers, in process), ``vllm`` (a vLLM server; in a run, one swe-dagger starts and keeps in sync
    with each new checkpoint: needs the ``vllm`` extra or ``scripts/setup_vllm.sh``), and for :func:`make_policy`
    also ``openai``, an installed plugin's name or ``pkg.module:builder``. A run takes ``hf`` or ``vllm``."""
    tiny_params: str = "1.5M"
    """Size of the tiny student when ``model: tiny`` (e.g. ``1M``, ``5M``)."""
    max_new_tokens: int = 160
    """Longest reply the student may generate per turn (the oracle's edit replies are ~130 tokens: a shorter cap
    cuts the student's edits before their closing fence, a format error)."""
    temperature: float = 0.0
    """Sampling temperature (0 = greedy); in a run, during collection only: evaluation is always greedy."""
    max_prompt_tokens: int = 512
    """Token budget of the rendered conversation (old observations are elided first)."""
    prompt: PromptStyle = "compact"
    """Prompt style: ``compact`` = a ~70-token system prompt and the env's issue-only reset observation (~300 tokens
    before the first reply on the default suite: the tiny student learns to read the issue's module name across
    that); ``default`` = the full rules in the system prompt and in the reset observation (~780 tokens)."""
    rollout_dtype: Literal["float32", "bfloat16", "auto"] = "float32"
    """Weights' dtype for generation (``hf``; ``vllm``: the served dtype). A run takes ``float32`` or ``bfloat16``
    (training keeps fp32 master weights; ``bfloat16`` generates faster on CPUs with native bf16 (AVX512-BF16/AMX)
    and on GPUs); ``auto`` (:func:`make_policy` only) keeps the checkpoint's own dtype."""
    device: str | None = None
    """``hf``: torch device (``None`` = where the model loads, CPU by default)."""
    max_batch_size: int = 16
    """``hf``: conversations per forward batch."""
    base_url: str = ""
    """``openai``: API root with version, e.g. ``http://127.0.0.1:8000/v1`` (empty = ``$OPENAI_BASE_URL``);
    ``vllm``: a running server's (empty = start one on ``model``)."""
    api_key_env: str = "OPENAI_API_KEY"
    """``openai``: environment variable holding the key (never put keys in config files)."""
    timeout_s: float = 120.0
    """``openai``/``vllm``: seconds per request."""
    max_retries: int = 5
    max_concurrency: int = 8
    request_logprobs: bool = True
    """``openai``: ask the server for per-token logprobs (left ``None`` when it ignores the request)."""
    extra_body: dict[str, bool | int | float | str] = field(default_factory=dict)
    """``openai``: extra JSON fields per request (e.g. vLLM's ``{"return_token_ids": true}``)."""
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_bounds(self, at_least_1=("max_new_tokens", "max_prompt_tokens", "max_batch_size", "max_concurrency"),
                      at_least_0=("temperature", "max_retries"), positive=("timeout_s",))
        if not (math.isfinite(self.top_p) and 0 < self.top_p <= 1):
            raise ValueError(f"student.top_p must be in (0, 1], got {self.top_p!r}")

    def sampling(self) -> SamplingParams:
        """The sampling parameters these fields describe."""
        return SamplingParams(self.max_new_tokens, self.temperature, self.top_p, self.seed, self.stop)


_BOUNDS = {"at_least_1": (">= 1", lambda v: v >= 1), "at_least_0": (">= 0", lambda v: v >= 0),
           "positive": ("> 0", lambda v: v > 0)}


def _check_bounds(cfg: StudentConfig, **names: tuple[str, ...]) -> None:
    for bound, fields in names.items():
        text, holds = _BOUNDS[bound]
        for name in fields:
            value = getattr(cfg, name)
            finite = isinstance(value, (int, float)) and math.isfinite(value)
            if not (finite and holds(value)):
                raise ValueError(f"student.{name} must be {'' if finite else 'a finite number '}{text}, got {value!r}")


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
    if cfg.model == TINY:
        raise ValueError("StudentConfig.model is 'tiny' (the default): a training run builds the tiny student in its "
                         "run dir (student_init/); give the hf backend a model directory or hub name")
    return HFPolicy.from_pretrained(cfg.model, device=cfg.device, dtype=cfg.rollout_dtype,
                                    max_batch_size=cfg.max_batch_size)


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
