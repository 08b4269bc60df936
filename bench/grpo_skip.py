"""GRPO update wall time with zero-advantage sequences skipped vs forwarded (``grpo_update(skip_zero_advantage=)``).

    python bench/grpo_skip.py [--groups 4] [--group-size 4] [--turns 3] [--repeats 3] [--params 1.5M]

Builds a tiny real Qwen3 student, makes ``groups`` groups of ``group-size`` episodes of ``turns`` student turns each
(token ids encoded from fixed text: the update only needs ids), and gives half the groups equal rewards (advantage 0,
as a group where every episode resolved or none did) and the other half differing rewards. Each repeat runs the
same update (default ``GRPOConfig``: one epoch, one minibatch, no KL term) from the same initial weights twice,
forwarding everything and skipping the zero-advantage sequences, alternating which goes first; prints the median
wall seconds of each, their ratio, and the largest parameter difference between the two results (the updates are
the same: the normaliser still counts the skipped tokens).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from swe_dagger.agents.agent import Agent
from swe_dagger.agents.tiny_student import build_tiny_student
from swe_dagger.dagger.config import GRPOConfig, SFTConfig
from swe_dagger.dagger.grpo.advantages import trajectory_advantages
from swe_dagger.dagger.grpo.update import grpo_update, rl_sequences
from swe_dagger.dagger.records import Trajectory, Turn
from swe_dagger.dagger.sft.checkpoints import load_student

AGENT = Agent()


def episodes(tok: object, groups: int, size: int, turns: int) -> list[Trajectory]:
    """Half the groups with rewards 1, 0, 1, 0, ... (signal), half all 1 (advantage 0)."""
    out = []
    for g in range(groups):
        prefix = AGENT.initial_messages(f"task {g}: area() returns wrong results; tests/test_core.py fails.")
        for e in range(size):
            steps = []
            for k in range(turns):
                action = f"THOUGHT: step {k} of episode {e}.\n\n```bash\ngrep -n 'def ' shapes/core_{g}_{e}.py\n```"
                ids = tok.encode(action, add_special_tokens=False)  # type: ignore[attr-defined]
                steps.append(Turn(k, "student", action, None, f"<returncode>0</returncode> out {k}", token_ids=ids))
            reward = float(e % 2) if g % 2 == 0 else 1.0
            out.append(Trajectory(f"task-{g}", prefix, tuple(steps), reward, "FULL" if reward else "NO",
                                  terminated=True, truncated=False, episode=e))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--params", default="1.5M")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        student = build_tiny_student(Path(tmp) / "student", params=args.params, vocab_size=1000, seed=0)
        _, tok = load_student(student, trainable=False)
        trajs = episodes(tok, args.groups, args.group_size, args.turns)
        advantages = trajectory_advantages(trajs).tolist()
        sequences, per_seq = rl_sequences(trajs, advantages, tok, AGENT, require_logprobs=False)
        cfg = GRPOConfig(lr=1e-3)
        times: dict[bool, list[float]] = {False: [], True: []}
        params: dict[bool, list[torch.Tensor]] = {}
        for r in range(args.repeats):
            for skip in (r % 2 == 1, r % 2 == 0):
                model, _ = load_student(student, trainable=True)
                started = time.perf_counter()
                result, _ = grpo_update(model, sequences, per_seq, cfg, precision=SFTConfig(),
                                        pad_id=tok.pad_token_id, seed=0, skip_zero_advantage=skip)
                times[skip].append(time.perf_counter() - started)
                params[skip] = [p.detach().clone() for p in model.parameters()]
        diff = max(float((a - b).abs().max()) for a, b in zip(params[False], params[True], strict=True))
        zero = sum(a == 0.0 for a in per_seq)
        before, after = statistics.median(times[False]), statistics.median(times[True])
        print(f"{len(sequences)} sequences, {zero} at advantage 0 ({args.groups} groups of {args.group_size}, "
              f"{args.turns} turns), {args.params} student, {args.repeats} repeats; skipped {result.sequences_skipped}")
        print(f"forward all: {before:.2f} s  skip A=0: {after:.2f} s  ratio {after / before:.2f}  "
              f"max |param diff| {diff:.2e}")


if __name__ == "__main__":
    main()
