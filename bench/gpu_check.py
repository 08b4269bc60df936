"""GPU check for vLLM student rollouts: rollout tok/s and weight-sync times vs plain vLLM generation, one run.

Run by ``bench/gpu_check.sh`` under the interpreter that has vllm. Offline: the model is a random-init Qwen3 of a
real size built from a config (no hub), its tokenizer the tiny student's BPE padded with filler entries to the real
vocabulary size. One server serves every phase:

1. rollout: a batch of multi-turn agent conversations (swe-dagger's Agent prompts) through VLLMPolicy (chat API,
   token ids + logprobs), turn after turn;
2. plain: the same prompt token ids and lengths as one raw ``/v1/completions`` batch per turn (no logprobs, no
   chat template): the engine's own speed, the baseline of the ratio;
3. sync: LoRA hot-load, full-weight in-place reload, server restart on the new weights, sleep/wake; and whether the
   in-place reload of this tied-embedding model gives the same greedy tokens as the restart (vLLM 0.32 on CPU does
   not: the tied LM head keeps the old weights).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import torch
from safetensors.torch import save_file
from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

from swe_dagger.agents.agent import Agent
from swe_dagger.agents.backends.vllm.admin import VLLMAdmin
from swe_dagger.agents.backends.vllm.policy import VLLMPolicy
from swe_dagger.agents.backends.vllm.server import VLLMServer, VLLMServerConfig
from swe_dagger.agents.protocol import Completion, Conversation, SamplingParams
from swe_dagger.agents.tiny_student import CHAT_TEMPLATE, builtin_corpus, train_tokenizer


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int = 151936
    head_dim: int = 128


SHAPES = {
    "0.6B": Shape(hidden=1024, layers=28, heads=16, kv_heads=8, intermediate=3072),
    "1.7B": Shape(hidden=2048, layers=28, heads=16, kv_heads=8, intermediate=6144),
    "debug": Shape(hidden=128, layers=2, heads=4, kv_heads=2, intermediate=384, vocab=20000, head_dim=32),
}
"""Qwen3-0.6B / 1.7B shapes (tied embeddings, as released); ``debug`` is for a CPU dry run of this script."""

TASK = (
    "Repository: example/project\n\nThe function `parse_range` in utils/ranges.py returns an off-by-one result for "
    "inclusive ranges like '3-7'; tests/test_ranges.py::test_inclusive fails. Task {i}: make it pass."
)
OBSERVATION = "returncode: 1\n" + "tests/test_ranges.py::test_inclusive FAILED\nAssertionError: 4 != 5\n" * 6


def build_model(shape: Shape, out: Path, dtype: torch.dtype, device: str) -> Path:
    """A random-init Qwen3 of ``shape`` with a tokenizer whose vocabulary has exactly ``shape.vocab`` entries."""
    tokenizer = train_tokenizer(builtin_corpus(), vocab_size=8000)
    tokenizer.save_pretrained(out)
    pad_vocabulary(out / "tokenizer.json", shape.vocab)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    config = Qwen3Config(
        vocab_size=shape.vocab,
        hidden_size=shape.hidden,
        intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads,
        head_dim=shape.head_dim,
        max_position_embeddings=40960,
        tie_word_embeddings=True,
        eos_token_id=eos,
        pad_token_id=0,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen3ForCausalLM(config).to(dtype)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=0)
    model.save_pretrained(out)
    (out / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()  # the server about to start sizes its KV cache from the free GPU memory
    return out


def pad_vocabulary(tokenizer_json: Path, size: int) -> None:
    """Add filler entries (never produced by encoding, decodable) so token ids up to ``size - 1`` exist."""
    data = json.loads(tokenizer_json.read_text())
    vocab: dict[str, int] = data["model"]["vocab"]
    for index in range(len(vocab), size):
        vocab[f"Ġfill{index}"] = index
    tokenizer_json.write_text(json.dumps(data))


def perturbed_copy(model_dir: Path, out: Path) -> Path:
    """The 'trained' checkpoint: every weight with small noise added, same config and tokenizer."""
    from safetensors.torch import load_file

    out.mkdir(parents=True, exist_ok=True)
    for item in model_dir.iterdir():
        if item.suffix != ".safetensors":
            (out / item.name).write_bytes(item.read_bytes())
    generator = torch.Generator().manual_seed(1)
    for shard in model_dir.glob("*.safetensors"):
        tensors = load_file(shard)
        noisy = {
            k: (v.float() + 0.02 * torch.randn(v.shape, generator=generator)).to(v.dtype) for k, v in tensors.items()
        }
        save_file(noisy, out / shard.name, metadata={"format": "pt"})
    return out


def lora_adapter(shape: Shape, base: Path, out: Path, rank: int) -> Path:
    """A PEFT-format LoRA adapter on q/v projections with random A and B, written without peft."""
    out.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(2)
    tensors: dict[str, torch.Tensor] = {}
    dims = {"q_proj": shape.heads * shape.head_dim, "v_proj": shape.kv_heads * shape.head_dim}
    for layer in range(shape.layers):
        for name, out_dim in dims.items():
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{name}"
            tensors[f"{prefix}.lora_A.weight"] = 0.02 * torch.randn(rank, shape.hidden, generator=generator)
            tensors[f"{prefix}.lora_B.weight"] = 0.02 * torch.randn(out_dim, rank, generator=generator)
    save_file(tensors, out / "adapter_model.safetensors", metadata={"format": "pt"})
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": rank,
        "lora_alpha": 2 * rank,
        "lora_dropout": 0.0,
        "target_modules": sorted(dims),
        "bias": "none",
        "fan_in_fan_out": False,
        "modules_to_save": None,
        "base_model_name_or_path": str(base),
    }
    (out / "adapter_config.json").write_text(json.dumps(config))
    return out


def rollout(policy: VLLMPolicy, batch: int, turns: int, sampling: SamplingParams) -> tuple[float, int, list]:
    """Multi-turn agent conversations; returns (seconds, generated tokens, per-turn prompt ids)."""
    agent = Agent()
    prefixes = [agent.initial_messages(TASK.format(i=i)) for i in range(batch)]
    histories: list[list[tuple[str, str]]] = [[] for _ in range(batch)]
    prompts_per_turn: list[list[list[int]]] = []
    seconds, tokens = 0.0, 0
    for turn in range(turns):
        conversations: list[Conversation] = [agent.render(p, h) for p, h in zip(prefixes, histories, strict=True)]
        start = time.perf_counter()
        completions: list[Completion] = policy.generate(conversations, sampling)
        seconds += time.perf_counter() - start
        tokens += sum(len(c.token_ids or ()) for c in completions)
        prompts_per_turn.append([list(c.prompt_token_ids or ()) for c in completions])
        for history, completion in zip(histories, completions, strict=True):
            history.append((completion.text, OBSERVATION))
        print(f"  rollout turn {turn + 1}/{turns}: {tokens} tokens so far, {seconds:.1f}s", flush=True)
    return seconds, tokens, prompts_per_turn


def plain(base_url: str, model: str, prompts_per_turn: list, max_tokens: int) -> tuple[float, int]:
    """The same prompts as raw token-id completions, one batched request per turn."""
    seconds, tokens = 0.0, 0
    with httpx.Client(base_url=base_url, timeout=600) as client:
        for prompts in prompts_per_turn:
            body = {
                "model": model,
                "prompt": prompts,
                "max_tokens": max_tokens,
                "temperature": 1.0,
                "top_k": 0,
                "top_p": 1.0,
                "seed": 0,
            }
            start = time.perf_counter()
            response = client.post("/v1/completions", json=body)
            seconds += time.perf_counter() - start
            response.raise_for_status()
            tokens += int(response.json()["usage"]["completion_tokens"])
    return seconds, tokens


def timed(label: str, results: dict[str, float], action: object) -> None:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    results[label] = time.perf_counter() - start
    print(f"  {label}: {results[label]:.2f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SHAPES), default="0.6B")
    parser.add_argument("--workdir", default="/tmp/swe-dagger-gpu-check")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--lora-rank", type=int, default=16)
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    shape, work = SHAPES[args.size], Path(args.workdir)
    print(f"== gpu_check: Qwen3-{args.size} shapes, random init, device={'cuda' if gpu else 'cpu'}", flush=True)
    timings: dict[str, float] = {}
    timed(
        "build_model_s",
        timings,
        lambda: build_model(shape, work / "base", torch.bfloat16 if gpu else torch.float32, "cuda" if gpu else "cpu"),
    )
    ckpt = perturbed_copy(work / "base", work / "ckpt-1")
    adapter = lora_adapter(shape, work / "base", work / "lora-1", args.lora_rank)
    config = VLLMServerConfig(
        model=str(work / "base"),
        dtype="bfloat16" if gpu else "float32",
        max_model_len=4096,
        enable_lora=True,
        max_lora_rank=args.lora_rank,
        enable_sleep_mode=gpu,
        gpu_memory_utilization=0.85 if gpu else None,
        log_path=str(work / "server.log"),
    )
    server = VLLMServer(config)
    timed("server_start_s", timings, server.start)
    sampling = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=1.0, seed=0)
    greedy = SamplingParams(max_new_tokens=32)
    with VLLMPolicy.from_server(server, model_version="base", full_sync="inplace") as policy:
        rollout(policy, 4, 1, sampling)  # warm-up (compilation, CUDA graphs) outside the measurement
        roll_s, roll_tokens, prompts = rollout(policy, args.batch, args.turns, sampling)
        plain_s, plain_tokens = plain(server.base_url, config.served_model_name, prompts, args.max_new_tokens)
        probe = [Agent().initial_messages(TASK.format(i=i)) for i in range(4)]
        base_ids = [c.token_ids for c in policy.generate(probe, greedy)]
        timed("sync_lora_s", timings, lambda: policy.sync_weights(str(adapter), "lora-1"))
        timed("first_lora_batch_s", timings, lambda: policy.generate(probe, greedy))
        timed("sync_full_inplace_s", timings, lambda: policy.sync_weights(str(ckpt), "ckpt-1-inplace"))
        inplace_ids = [c.token_ids for c in policy.generate(probe, greedy)]
        policy.full_sync = "restart"
        timed("sync_full_restart_s", timings, lambda: policy.sync_weights(str(ckpt), "ckpt-1-restart"))
        restart_ids = [c.token_ids for c in policy.generate(probe, greedy)]
        if gpu:
            with VLLMAdmin(server.base_url) as admin:
                timed("sleep_s", timings, lambda: admin.sleep(1))
                timed("wake_s", timings, admin.wake_up)
            assert [c.token_ids for c in policy.generate(probe, greedy)] == restart_ids, "outputs changed by sleep"
    roll_rate, plain_rate = roll_tokens / roll_s, plain_tokens / plain_s
    batch_s = roll_s / args.turns
    print("== results", flush=True)
    print(f"rollout (VLLMPolicy, chat + ids + logprobs): {roll_tokens} tokens in {roll_s:.2f}s = {roll_rate:.0f} tok/s")
    print(f"plain vLLM (same prompt ids): {plain_tokens} tokens in {plain_s:.2f}s = {plain_rate:.0f} tok/s")
    print(f"ratio rollout/plain tok/s: {roll_rate / plain_rate:.3f}")
    for key in ("sync_lora_s", "sync_full_inplace_s", "sync_full_restart_s", "sleep_s", "wake_s"):
        if key in timings:
            print(f"{key}: {timings[key]:.3f}s = {timings[key] / batch_s:.3f} x one rollout turn ({batch_s:.2f}s)")
    print(f"server_start_s: {timings['server_start_s']:.1f}, build_model_s: {timings['build_model_s']:.1f}")
    print(f"checkpoint changed outputs: {inplace_ids != base_ids or restart_ids != base_ids}")
    print(f"in-place reload of tied embeddings matches restart: {inplace_ids == restart_ids}")


if __name__ == "__main__":
    main()
