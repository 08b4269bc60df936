"""Student generation on CPU: fp32 vs bf16 (autocast, or bf16 weights as ``student.rollout_dtype``), batch 1 vs 8,
without vs with the shared system prompt's KV cache reused; used by ``bench/generation.py --matrix``.

Every variant runs the same 8 prompts (one per env: the same system prompt, a different issue each, as in a batched
collection) through the same greedy ``generate`` call with exactly ``new_tokens`` new tokens per prompt (EOS
suppressed), so only the variant changes. Batch 1 generates the 8 prompts one after another, batch 8 all at once.

KV reuse: the system prompt's keys/values are computed once per model and dtype (as a collection would, once per
checkpoint) and handed to ``generate`` as its cache; a batch lines the prompts up as [system | padding | rest],
padding masked, so the cached positions are the same in every row (positions come from the attention mask, so
the rest keeps its own positions). A greedy check compares the tokens with and without the cache.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.dagger.sft.pack import common_prefix

ISSUES = [f"{name}() in src/pkg/{mod}.py returns {bad} for {arg}; it should return {good}. "
          f"tests/test_{mod}.py::test_{name} fails." for name, mod, bad, arg, good in [
              ("parse_version", "version", "(2, 3)", "'1.2.3'", "(1, 2, 3)"),
              ("area", "shapes", "5", "(2, 3)", "6"), ("slugify", "text", "'A-b'", "'A b'", "'a-b'"),
              ("median", "stats", "2.5", "[1, 2, 3]", "2"), ("merge", "dicts", "the first dict", "two dicts", "both"),
              ("clamp", "num", "11", "(11, 0, 10)", "10"), ("chunks", "seq", "3 chunks", "(range(4), 2)", "2 chunks"),
              ("is_leap", "dates", "True", "1900", "False")]]


@dataclass(frozen=True)
class Variant:
    dtype: str
    """``fp32``, ``bf16-autocast`` (fp32 weights under CPU autocast) or ``bf16`` (bf16 weights)."""
    batch: int
    reuse: bool


def prompts(tokenizer: Any, style: str) -> tuple[list[list[int]], int]:
    """The 8 prompts' token ids and the length of their shared prefix (the system prompt and the user header)."""
    agent = Agent(AgentConfig.for_style(style))
    ids = []
    for issue in ISSUES:
        messages = [{"role": m.role, "content": m.content} for m in agent.initial_messages(issue)]
        out = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        ids.append([int(t) for t in (out["input_ids"] if hasattr(out, "keys") else out)])
    return ids, min(common_prefix(ids[0], other) for other in ids[1:])


def context(dtype: str) -> AbstractContextManager[Any]:
    return torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bf16-autocast" else nullcontext()


def prefix_cache(model: Any, prefix: list[int], dtype: str) -> Any:
    with torch.no_grad(), context(dtype):
        return model(input_ids=torch.tensor([prefix]), use_cache=True).past_key_values


def generate(model: Any, batch: list[list[int]], shared: int, cache: Any, new_tokens: int, pad_id: int,
             dtype: str) -> torch.Tensor:
    """Greedy ``new_tokens`` tokens for every prompt of ``batch``; with ``cache`` its first ``shared`` tokens are
    taken from it."""
    head = shared if cache is not None else 0
    width = max(len(p) - head for p in batch)
    ids = torch.full((len(batch), head + width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, p in enumerate(batch):
        ids[row, :head], mask[row, :head] = torch.tensor(p[:head]), 1
        ids[row, head + width - len(p) + head :], mask[row, head + width - len(p) + head :] = torch.tensor(p[head:]), 1
    extra: dict[str, Any] = {}
    if cache is not None:
        extra["cache"] = copy.deepcopy(cache)
        extra["cache"].batch_repeat_interleave(len(batch))
    with torch.no_grad(), context(dtype):
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                             do_sample=False, pad_token_id=pad_id, **extra)
    return out[:, head + width :]


def run_variant(model: Any, ids: list[list[int]], shared: int, caches: dict[str, Any], v: Variant, new_tokens: int,
                pad_id: int) -> tuple[float, float, torch.Tensor]:
    """(wall seconds, CPU seconds, generated tokens of all 8 prompts) for one pass of variant ``v``."""
    cache = caches[v.dtype] if v.reuse else None
    wall, cpu = time.perf_counter(), time.process_time()
    rows = [generate(model, ids[i : i + v.batch], shared, cache, new_tokens, pad_id, v.dtype)
            for i in range(0, len(ids), v.batch)]
    return time.perf_counter() - wall, time.process_time() - cpu, torch.cat(rows)


def matrix(load: Callable[[str], Any], tokenizer: Any, style: str, new_tokens: int, repeats: int,
           say: Callable[[str], None]) -> list[str]:
    """Table lines: tokens/s (wall and per CPU second) of every variant and the ratios against fp32 batch 1."""
    ids, shared = prompts(tokenizer, style)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    say(f"8 prompts of {min(map(len, ids))}-{max(map(len, ids))} tokens, shared prefix {shared} tokens, "
        f"{new_tokens} new tokens each, {torch.get_num_threads()} thread(s)")
    results: dict[Variant, tuple[float, float]] = {}
    outputs: dict[Variant, torch.Tensor] = {}
    for dtype in ("fp32", "bf16-autocast", "bf16"):
        model = load("bf16" if dtype == "bf16" else "fp32")
        caches = {dtype: prefix_cache(model, ids[0][:shared], dtype)}
        variants = [Variant(dtype, b, r) for b in (1, 8) for r in (False, True)]
        run_variant(model, ids[:1], shared, caches, Variant(dtype, 1, True), 4, pad_id)  # warm-up
        timings: dict[Variant, list[tuple[float, float]]] = {v: [] for v in variants}
        for _ in range(repeats):
            for v in variants:
                wall, cpu, out = run_variant(model, ids, shared, caches, v, new_tokens, pad_id)
                timings[v].append((wall, cpu))
                outputs[v] = out
        for v in variants:
            results[v] = (statistics.median(t[0] for t in timings[v]), statistics.median(t[1] for t in timings[v]))
            say(f"  {v.dtype:<13} batch {v.batch} reuse {'yes' if v.reuse else 'no ':<3}: "
                f"{results[v][0]:.2f} s wall, {results[v][1]:.2f} s CPU")
    total = len(ids) * new_tokens
    base = results[Variant("fp32", 1, False)]
    lines = [f"{'dtype':<13} {'batch':>5} {'kv reuse':>8} {'tok/s':>8} {'tok/CPU-s':>10} {'x fp32 b1 (wall)':>17} "
             f"{'(CPU)':>6}  same tokens as no reuse"]
    for v, (wall, cpu) in results.items():
        same = bool(torch.equal(outputs[v], outputs[Variant(v.dtype, v.batch, False)]))
        lines.append(f"{v.dtype:<13} {v.batch:>5} {'yes' if v.reuse else 'no':>8} {total / wall:>8.1f} "
                     f"{total / cpu:>10.1f} {base[0] / wall:>16.2f}x {base[1] / cpu:>5.2f}x  {'yes' if same else 'NO'}")
    return lines
