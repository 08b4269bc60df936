"""SFT memory with and without gradient checkpointing (``sft.gradient_checkpointing``), in one run.

    python bench/sft_memory.py --student students/smollm2-135m --batch 4 --seq 1792 --precision bf16
    python bench/sft_memory.py                     # a tiny random-init student, 4 x 1024 tokens

Each setting trains the same micro-batches (random token ids, every position a target) for ``--steps`` optimizer
steps in a fresh subprocess, so its peak resident memory (``VmHWM``) is its own. ``training peak`` is that peak minus
the resident memory just before training (model loaded, examples built): what the activations, gradients and optimizer
state add. Seconds are the training's wall time (the ratio matters; the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _vm(key: str) -> int:
    """``/proc/self/status`` field ``key`` in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


def one(args: argparse.Namespace, checkpointing: bool) -> dict[str, float]:
    import torch

    from swe_dagger.dagger.config import SFTConfig
    from swe_dagger.dagger.sft.checkpoints import load_student
    from swe_dagger.dagger.sft.examples import SFTExample
    from swe_dagger.dagger.sft.trainer import train_sft

    torch.set_num_threads(args.threads)
    model, tok = load_student(Path(args.student))
    gen = torch.Generator().manual_seed(0)
    vocab = min(len(tok), model.config.vocab_size)
    examples = []
    for _ in range(args.batch * args.steps):
        ids = torch.randint(0, vocab, (args.seq,), generator=gen).tolist()
        examples.append(SFTExample(input_ids=tuple(ids), labels=tuple(ids)))
    cfg = SFTConfig(epochs=1, batch_size=args.batch, warmup_steps=0, lr=1e-5, precision=args.precision,
                    gradient_checkpointing=checkpointing)
    before = _vm("VmRSS")
    started = time.perf_counter()
    train_sft(model, examples, cfg, pad_id=tok.pad_token_id or 0, seed=0)
    return {"seconds": time.perf_counter() - started, "before": before, "peak": _vm("VmHWM")}


def tiny_student(root: Path) -> Path:
    from swe_dagger.agents.tiny_student import build_tiny_student

    return build_tiny_student(root / "tiny")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", default=None, help="checkpoint dir (default: a tiny random-init student)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=["plain", "checkpointing"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args, args.child == "checkpointing")))
        return
    with tempfile.TemporaryDirectory() as tmp:
        student = args.student or str(tiny_student(Path(tmp)))
        rows = {}
        for mode in ("plain", "checkpointing"):
            cmd = [sys.executable, __file__, "--student", student, "--batch", str(args.batch), "--seq", str(args.seq),
                   "--steps", str(args.steps), "--precision", args.precision, "--threads", str(args.threads),
                   "--child", mode]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows[mode] = json.loads(out.strip().splitlines()[-1])
    print(f"student {student}: {args.steps} steps of {args.batch} x {args.seq} tokens, {args.precision}")
    print(f"{'mode':<14} {'RSS before MiB':>15} {'peak MiB':>9} {'training peak MiB':>18} {'seconds':>8}")
    for mode, r in rows.items():
        print(f"{mode:<14} {r['before']:>15.0f} {r['peak']:>9.0f} {r['peak'] - r['before']:>18.0f} "
              f"{r['seconds']:>8.1f}")
    plain, ckpt = rows["plain"], rows["checkpointing"]
    peak = (ckpt["peak"] - ckpt["before"]) / (plain["peak"] - plain["before"])
    print(f"training peak: checkpointing / plain = {peak:.2f}; time: checkpointing / plain = "
          f"{ckpt['seconds'] / plain['seconds']:.2f}")


if __name__ == "__main__":
    main()
