"""GPU check of the student-side training path (no vLLM needed): SFT through ``train_sft`` (accelerate) in bf16
and fp32, full and LoRA, on a random-init Qwen3 of the 0.6B shape and real DAgger label rows; then batched
greedy rollouts through ``HFPolicy`` and a checkpoint round trip. Prints one JSON summary with ratios.

    for v in bf16 fp32 lora; do
      python bench/gpu_train_check.py --labels labels.jsonl --variant $v --out $v.json [--shape 0.6B|debug]
    done

One variant per process: accelerate's state is process-wide, so one process cannot switch mixed precision (a
DAgger run never does: SFT and GRPO share ``sft.precision``). On a CPU-only machine use ``--shape debug --variant
fp32`` (a dry run of the same code path).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.backends.hf import HFPolicy
from swe_dagger.agents.protocol import SamplingParams
from swe_dagger.agents.tiny_student import builtin_corpus, train_tokenizer
from swe_dagger.dagger.config import SFTConfig
from swe_dagger.dagger.sft.checkpoints import load_student, pad_token_id, save_checkpoint, with_lora
from swe_dagger.dagger.sft.dataset import read_labels
from swe_dagger.dagger.sft.examples import encode_rows
from swe_dagger.dagger.sft.trainer import train_sft

SHAPES = {  # Qwen3-0.6B's shape (28 layers, hidden 1024, 16/8 heads of 128) and a CPU dry-run shape
    "0.6B": {"hidden_size": 1024, "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8,
             "head_dim": 128, "intermediate_size": 3072},
    "debug": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
              "head_dim": 32, "intermediate_size": 128},
}


def build(shape: str, tokenizer: object) -> Qwen3ForCausalLM:
    torch.manual_seed(0)
    config = Qwen3Config(vocab_size=len(tokenizer), tie_word_embeddings=True, max_position_embeddings=4096,  # type: ignore[arg-type]
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=pad_token_id(tokenizer),  # type: ignore[attr-defined]
                         bos_token_id=None, **SHAPES[shape])
    return Qwen3ForCausalLM(config)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=Path, required=True)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="0.6B")
    ap.add_argument("--variant", choices=("bf16", "fp32", "lora"), default="bf16", help="lora: bf16 LoRA adapters")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--rollouts", type=int, default=32)
    ap.add_argument("--out", type=Path, default=None, help="also write the summary JSON here")
    a = ap.parse_args()
    cuda = torch.cuda.is_available()
    rows = read_labels(a.labels)
    tokenizer = train_tokenizer([*builtin_corpus(), *(r.label for r in rows)])
    agent = Agent(AgentConfig.for_style("compact", max_prompt_tokens=512))
    examples = encode_rows(rows, agent, tokenizer, 1024)
    tokens = sum(len(e.input_ids) for e in examples) * a.epochs
    summary: dict[str, object] = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "shape": a.shape,
                                  "examples": len(examples), "tokens_per_run": tokens}
    runs: dict[str, dict[str, object]] = {}
    trained = None
    tmp = Path(tempfile.mkdtemp(prefix="gpu-train-check-"))
    base = save_checkpoint(build(a.shape, tokenizer), tokenizer, tmp / "base")  # LoRA adapters record this path
    bf16 = cuda and torch.cuda.is_bf16_supported()
    precision = "fp32" if a.variant == "fp32" or not bf16 else "bf16"
    for name, lora in ((a.variant, a.variant == "lora"),):
        cfg = SFTConfig(epochs=a.epochs, lr=3e-4, batch_size=a.batch_size, precision=precision, lora=lora,  # type: ignore[arg-type]
                        warmup_steps=5)
        model, _ = load_student(base)
        model = with_lora(model, cfg) if lora else model
        probe = next(p for p in model.parameters() if p.requires_grad)
        before = probe.detach().float().cpu().clone()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        result = train_sft(model, examples, cfg, pad_id=pad_token_id(tokenizer), seed=0)
        runs[name] = {
            "seconds": round(result.seconds, 2), "tokens_per_s": round(tokens / result.seconds),
            "epoch_losses": [round(x, 4) for x in result.epoch_losses], "steps": result.steps,
            "loss_fell": result.epoch_losses[-1] < result.epoch_losses[0],
            "params_changed": bool((probe.detach().float().cpu() - before).abs().max() > 0),
            "param_device": str(next(model.parameters()).device),
            "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        }
        print(name, json.dumps(runs[name]), flush=True)
        trained = model
    summary["sft"] = runs
    assert trained is not None
    states = [tuple(agent.initial_messages(r.prefix[-1].content)) for r in rows[: a.rollouts]]
    with HFPolicy(trained, tokenizer, model_version="gpu-check") as policy:
        started = time.perf_counter()
        outs = policy.generate(states, SamplingParams(max_new_tokens=64, temperature=0.0))
        elapsed = time.perf_counter() - started
    generated = sum(len(o.token_ids or ()) for o in outs)
    summary["rollouts"] = {"conversations": len(outs), "generated_tokens": generated,
                           "tokens_per_s": round(generated / elapsed), "have_logprobs": all(o.logprobs for o in outs)}
    path = save_checkpoint(trained, tokenizer, tmp / "ckpt")
    again, _ = load_student(path, trainable=False)
    again.to(next(trained.parameters()).device)
    ids = torch.tensor([list(examples[0].input_ids[:64])], device=next(trained.parameters()).device)
    with torch.no_grad():
        diff = (trained(input_ids=ids).logits.float() - again(input_ids=ids).logits.float()).abs().max().item()
    summary["checkpoint_roundtrip_max_logit_diff"] = diff
    shutil.rmtree(tmp)
    print(json.dumps(summary, indent=1))
    if a.out is not None:
        a.out.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
