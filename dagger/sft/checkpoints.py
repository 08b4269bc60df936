"""The student's weights on disk: load, save (atomically), LoRA wrapping, the training precision, the pad id.

Checkpoints are plain HF directories (``save_pretrained`` of the model, or of the LoRA adapters, plus the
tokenizer) written to a temporary sibling and renamed, so a kill mid-save leaves no half checkpoint behind. Rollouts
and evaluation load students here, not through the trainer.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from swe_dagger.dagger.config import SFTConfig


def precision_for(cfg: SFTConfig) -> str:
    """Accelerate's ``mixed_precision``: bf16 on a GPU that has it (``auto``), else no mixed precision (fp32)."""
    if cfg.precision == "bf16" or (
        cfg.precision == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    ):
        return "bf16"
    return "no"


def with_lora(model: Any, cfg: SFTConfig) -> Any:
    """Wrap ``model`` with fresh LoRA adapters on every linear layer (unless it already carries adapters)."""
    from peft import LoraConfig, PeftModel, get_peft_model

    if isinstance(model, PeftModel):
        return model
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def save_checkpoint(model: Any, tokenizer: Any, out_dir: Path) -> Path:
    """Write an HF model dir (or LoRA adapter dir) + tokenizer at ``out_dir`` atomically (tmp dir, then rename)."""
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    unwrapped = getattr(model, "module", model)
    unwrapped.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


def load_student(path: Path | str, *, trainable: bool = True) -> tuple[Any, Any]:
    """(model, tokenizer) from an HF model dir or a LoRA adapter dir (``adapter_config.json`` present)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if (path / "adapter_config.json").is_file():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(str(path), is_trainable=trainable)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(path))
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model.eval()
    return model, tokenizer


def pad_token_id(tokenizer: object) -> int:
    """The id batches are padded with: the tokenizer's pad token, else its eos token."""
    pad = getattr(tokenizer, "pad_token_id", None)
    pad = pad if pad is not None else getattr(tokenizer, "eos_token_id", None)
    if pad is None:
        raise ValueError("the student's tokenizer has neither a pad nor an eos token")
    return int(pad)
