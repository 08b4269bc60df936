"""The student served by vLLM for a whole training run, and the ``vllm`` backend of the policy factory.

A run starts ONE server (lazily, on first use) and keeps it: each iteration asks :meth:`VLLMStudent.policy_for`
for the policy acting with that iteration's checkpoint, and the server is synced to it only when it changed (LoRA
adapters hot-loaded; full checkpoints reloaded in place or, for tied embeddings, by a restart on the same port).
Every completion then carries the checkpoint's id, so trajectories record which weights acted. On a single GPU
shared with training, :meth:`VLLMStudent.sleep` before the update phase; the next :meth:`VLLMStudent.policy_for`
wakes the server up (after the trainer's tensors are gone), or call :meth:`VLLMStudent.wake_up` yourself.
"""

from __future__ import annotations

import gc
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from swe_dagger.agents.backends.openai_client import ClientConfig
from swe_dagger.agents.backends.vllm.common import FullSync, VLLMPolicyError, checkpoint_kind
from swe_dagger.agents.backends.vllm.policy import VLLMPolicy
from swe_dagger.agents.backends.vllm.server import VLLMServer, VLLMServerConfig

if TYPE_CHECKING:
    from swe_dagger.agents.factory import StudentConfig


@dataclass(frozen=True)
class VLLMStudentConfig:
    """The served student's knobs (the rest of :class:`VLLMServerConfig` keeps its defaults)."""

    python: str | None = None
    """Interpreter with vllm; None: ``$SWE_DAGGER_VLLM_PYTHON``, then the setup_vllm.sh venv."""
    dtype: str = "auto"
    max_model_len: int = 4096
    max_lora_rank: int = 16
    """Must be >= the LoRA rank the trainer uses (``sft.lora_r``)."""
    enable_sleep_mode: bool = False
    """GPU shared with training: lets :meth:`VLLMStudent.sleep` free the server's memory during updates."""
    gpu_memory_utilization: float | None = None
    full_sync: FullSync = "auto"
    max_concurrency: int = 32
    startup_timeout_s: float = 900.0


class VLLMStudent:
    """Owns the run's vLLM server and the policy over it; ``close()`` stops both (safe twice)."""

    def __init__(self, initial_student: str | Path, config: VLLMStudentConfig | None = None) -> None:
        self.initial_student = Path(initial_student)
        self.config = config or VLLMStudentConfig()
        self._policy: VLLMPolicy | None = None
        self._served: Path | None = None
        self._asleep = False

    def policy_for(self, checkpoint: str | Path, version: str | None = None) -> VLLMPolicy:
        """The policy generating with ``checkpoint`` (an HF model dir or a LoRA adapter over the initial student),
        stamped ``version`` (default: the checkpoint directory's name). Don't close it; close the VLLMStudent."""
        path = Path(checkpoint).resolve()
        stamp = version or path.name
        kind = checkpoint_kind(str(path))
        if self._asleep:
            self.wake_up()
        if self._policy is None:
            self._policy = self._start(path if kind == "full" else self._adapter_base(path), stamp)
            self._served = path if kind == "full" else None
        if self._served != path:
            self._policy.sync_weights(str(path), stamp)
            self._served = path
        elif self._policy.model_version != stamp:
            self._policy.model_version = stamp
        return self._policy

    @property
    def asleep(self) -> bool:
        return self._asleep

    def sleep(self, level: int = 1) -> None:
        """Release the server's GPU memory for training (needs ``enable_sleep_mode``); no-op before the start.
        Level 1 keeps the weights in host memory (a LoRA sync needs the base weights after waking)."""
        if self._policy is not None and not self._asleep:
            self._policy.sleep(level)
            self._asleep = True

    def wake_up(self) -> None:
        """Take the GPU back: first this process's cached-but-free accelerator memory is returned (torch's caching
        allocator keeps the trainer's freed blocks otherwise), then the server reloads weights and KV cache."""
        if self._policy is None or not self._asleep:
            return
        _release_torch_cache()
        self._policy.wake_up()
        self._asleep = False

    def close(self) -> None:
        """Stop the server (safe twice)."""
        policy, self._policy, self._asleep = self._policy, None, False
        if policy is not None:
            policy.close()

    def __enter__(self) -> VLLMStudent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self, model: Path, version: str) -> VLLMPolicy:
        cfg = self.config
        server = VLLMServer(VLLMServerConfig(
            model=str(model), python=cfg.python, dtype=cfg.dtype, max_model_len=cfg.max_model_len,
            enable_lora=True, max_lora_rank=cfg.max_lora_rank, enable_sleep_mode=cfg.enable_sleep_mode,
            gpu_memory_utilization=cfg.gpu_memory_utilization, startup_timeout_s=cfg.startup_timeout_s,
        ))
        server.start()
        client = ClientConfig(max_concurrency=cfg.max_concurrency, timeout_s=600.0, max_retries=2)
        return VLLMPolicy.from_server(server, model_version=version, client=client, full_sync=cfg.full_sync)

    def _adapter_base(self, adapter: Path) -> Path:
        """The base model a LoRA adapter was trained on: its ``base_model_name_or_path`` when that is a local
        directory, else the run's initial student."""
        try:
            base = json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path")
        except (OSError, json.JSONDecodeError) as exc:
            raise VLLMPolicyError(f"cannot read {adapter / 'adapter_config.json'}: {exc}") from exc
        return Path(base) if isinstance(base, str) and Path(base).is_dir() else self.initial_student


def _release_torch_cache() -> None:
    torch = sys.modules.get("torch")  # never import torch just for this: no torch, no cached memory
    if torch is None:
        return
    gc.collect()  # module graphs (optimizer state, peft wrappers) can hold tensors in reference cycles
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def vllm_policy_from_config(cfg: StudentConfig) -> VLLMPolicy:
    """The factory's ``vllm`` backend: ``cfg.base_url`` set = a running vLLM server (its model id in
    ``cfg.model``); empty = start one on the model directory ``cfg.model`` (closed with the policy)."""
    client = ClientConfig(timeout_s=cfg.timeout_s, max_retries=cfg.max_retries, max_concurrency=cfg.max_concurrency)
    if cfg.base_url:
        return VLLMPolicy(cfg.base_url, served_model_name=cfg.model or "student", model_version=cfg.model,
                          client=client)
    if not cfg.model or not Path(cfg.model).is_dir():
        raise ValueError(f"StudentConfig.model {cfg.model!r}: the vllm backend needs a local model directory "
                         "(or base_url of a running vLLM server)")
    server = VLLMServer(VLLMServerConfig(model=cfg.model, dtype=cfg.rollout_dtype, enable_lora=True)).start()
    return VLLMPolicy.from_server(server, model_version=Path(cfg.model).name, client=client)
