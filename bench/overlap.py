"""``dagger.overlap`` in one run: what preparing the next collection's envs during SFT saves, and what it costs SFT.

    python bench/overlap.py                     # the default suite's 12 held-out tasks, 4 envs, 60 training steps
    python bench/overlap.py --episodes 8 --steps 30 --threads 1

The sequence measured is the loop's "train, then collect": a training stand-in (real optimizer steps of the
main job's tiny student on random token batches of the main job's shape) followed by the resets a collection does
before its episodes' first turns (``--episodes`` fresh workspaces on the default suite, in waves of ``--envs`` reset
in parallel, as the collector does them).

- ``serial``: train, then reset every episode's env (what ``dagger.overlap: false`` pays);
- ``overlap``: a :class:`~swe_dagger.dagger.rollout.prefetch.Prefetch` resets them one by one in a background thread
  while training runs, then ``take()`` waits for what is left.

It prints the training seconds (alone and beside the prefetch thread), the reset seconds of the collection's start
and what is left to wait for, and the total of each sequence with their ratio. The two alternate ``--repeats``
times; medians.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from swe_dagger.agents.tiny_student import build_tiny_student
from swe_dagger.dagger.config import EnvConfig
from swe_dagger.dagger.rollout.env_worker import EnvWorker, make_swe_env
from swe_dagger.dagger.rollout.prefetch import Key, Prefetch, close_ready
from swe_dagger.dagger.sft.checkpoints import load_student
from swe_dagger.envs.loading import load_tasks

SUITE = Path.home() / ".cache" / "swe-dagger" / "tasks" / "default"


def train_steps(model: Any, steps: int, seq_len: int = 700, batch: int = 4) -> tuple[float, float]:
    """``steps`` AdamW steps on random tokens (the main job's batch size and about its sequence length); returns
    (wall s, this thread's CPU s: the work, which other load does not change)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    started, cpu = time.perf_counter(), time.thread_time()
    for _ in range(steps):
        ids = torch.randint(0, vocab, (batch, seq_len), generator=gen)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    return time.perf_counter() - started, time.thread_time() - cpu


def serial_resets(make_env: Any, keys: list[Key], envs: int) -> float:
    """Reset ``keys`` in waves of ``envs`` (each wave in parallel), as a collection without overlap does."""
    started = time.perf_counter()
    with ThreadPoolExecutor(envs) as pool:
        workers = list(pool.map(lambda _: EnvWorker(make_env), range(envs)))
        try:
            for w in range(0, len(keys), envs):
                wave = keys[w : w + envs]
                list(pool.map(lambda p: p[0].reset(*p[1]), zip(workers, wave, strict=False)))
        finally:
            for worker in workers:
                worker.close()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=12)
    ap.add_argument("--envs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads of the training stand-in")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tasks = load_tasks(SUITE / "test.jsonl")
    keys = [(tasks[e % len(tasks)].instance_id, 1000 + e) for e in range(args.episodes)]
    make_env = make_swe_env(tasks, EnvConfig(max_turns=6), prompt_style="compact")
    with tempfile.TemporaryDirectory() as tmp:
        model, _ = load_student(build_tiny_student(Path(tmp) / "student", params="1.5M", seed=0), trainable=True)
    names = ("train", "train_cpu", "resets", "train_bg", "train_bg_cpu", "wait", "serial", "overlap")
    rows: dict[str, list[float]] = {k: [] for k in names}
    for _ in range(args.repeats):
        wall, cpu = train_steps(model, args.steps)
        rows["train"].append(wall)
        rows["train_cpu"].append(cpu)
        rows["resets"].append(serial_resets(make_env, keys, args.envs))
        rows["serial"].append(rows["train"][-1] + rows["resets"][-1])
        started = time.perf_counter()
        prefetch = Prefetch(make_env, keys)
        try:
            wall, cpu = train_steps(model, args.steps)
            rows["train_bg"].append(wall)
            rows["train_bg_cpu"].append(cpu)
            waited = time.perf_counter()
            prefetch.wait()
            rows["wait"].append(time.perf_counter() - waited)
            rows["overlap"].append(time.perf_counter() - started)
            if prefetch.error:
                raise RuntimeError(prefetch.error)
        finally:
            close_ready(prefetch.take().values())
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{args.episodes} episodes on {len(tasks)} held-out tasks, {args.envs} envs, {args.steps} training steps, "
          f"torch threads {args.threads}, medians of {args.repeats}")
    print("| sequence | training s (its CPU s) | collection-start resets s | total s |")
    print("|---|---|---|---|")
    print(f"| serial (overlap false) | {med['train']:.1f} ({med['train_cpu']:.1f}) | {med['resets']:.1f} | "
          f"{med['serial']:.1f} |")
    print(f"| overlap (overlap true) | {med['train_bg']:.1f} ({med['train_bg_cpu']:.1f}) | {med['wait']:.1f} "
          f"(left to wait) | {med['overlap']:.1f} |")
    print(f"saved {med['serial'] - med['overlap']:.1f} s; serial / overlap = {med['serial'] / med['overlap']:.2f}x")


if __name__ == "__main__":
    main()
