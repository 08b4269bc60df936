"""SFT per state vs prefix-shared packing (``sft.packing``): tokens per epoch and training wall time, in one run.

    python bench/packing.py                                # the main job's labels at /tmp/mj1 + synthetic T=6/30/100
    python bench/packing.py --run RUN_DIR --turns 6 30 --repeats 3 --threads 2

Rows:
- ``run``: a finished run's label files aggregated as its last iteration trains on them (``data/labels_iter_*``),
  rendered with that run's prompt style and ``student.max_prompt_tokens``, its ``sft`` config, its initial student.
- ``T=...``: synthetic episodes of T turns (authors drawn per turn with β = 0.5: student turns carry a teacher
  label that differs from the action), rendered without an elision budget and with a ``max_seq_len`` that cuts
  nothing, so each state's prompt holds the whole history: the O(T²) case packing is for.

``tokens`` counts the sequences' tokens per epoch; ``computed`` adds the padding of the micro-batches (what the
model actually runs over; left padding per state, right padding packed). Seconds are one epoch of ``train_sft``
from the same initial weights, the median of ``--repeats`` runs, per state and packed interleaved in ABBA order
(so a load that changes during the run biases neither): ``cpu s`` is this process's CPU time (with the default
``--threads 1`` it is the work done, and stays comparable on a machine other jobs load), ``wall s`` the elapsed
time. ``loss`` is the mean loss of that one epoch (both modes train the same states; packed micro-batches group an
episode's states, so the updates differ).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.dagger.config import SFTConfig, load_resolved
from swe_dagger.dagger.sft import dataset
from swe_dagger.dagger.sft.checkpoints import load_student, pad_token_id
from swe_dagger.dagger.sft.dataset import LabelRow
from swe_dagger.dagger.sft.examples import SFTExample, encode_rows
from swe_dagger.dagger.sft.pack import PackedSequence, pack_examples
from swe_dagger.dagger.sft.trainer import micro_batches, train_sft

COMMANDS = ["ls -la src", "grep -rn 'def parse' src", "sed -n '1,30p' src/pkg/core.py", "python -m pytest -q tests",
            "git diff", "sed -i 's/a < b/a <= b/' src/pkg/core.py", "cat tests/test_core.py", "git status"]
WORDS = ["the", "value", "of", "index", "when", "parse", "returns", "none", "result", "token", "check", "line",
         "file", "test", "error", "list", "map"]


def synthetic_rows(turns: int, episodes: int, seed: int) -> tuple[list[LabelRow], Agent]:
    agent = Agent(AgentConfig.for_style("compact", max_prompt_tokens=None))
    rng = random.Random(seed)
    rows: list[LabelRow] = []
    for e in range(episodes):
        prefix = agent.initial_messages(" ".join(rng.choices(WORDS, k=120)))
        history: list[tuple[str, str]] = []
        for t in range(turns):
            action = f"THOUGHT: {' '.join(rng.choices(WORDS, k=8))}.\n\n```bash\n{rng.choice(COMMANDS)}\n```"
            student = rng.random() < 0.5
            label = f"THOUGHT: {' '.join(rng.choices(WORDS, k=8))}.\n\n```bash\n{rng.choice(COMMANDS)}\n```"
            rows.append(LabelRow(
                iteration=0, beta=0.5, task_id=f"synthetic-{e}", episode=e, turn=t,
                author="student" if student else "teacher", prefix=prefix, history=tuple(history),
                label=label if student else action, student_action=action if student else None, reward=0.0,
                resolution=None,
            ))
            lines = [f"{rng.randint(1, 99)}: {' '.join(rng.choices(WORDS, k=6))}" for _ in range(rng.randint(1, 4))]
            history.append((action, "<returncode>0</returncode>\n<output>\n" + "\n".join(lines) + "\n</output>"))
    return rows, agent


def run_rows(run_dir: Path) -> tuple[list[LabelRow], Agent, SFTConfig]:
    cfg = load_resolved(run_dir)
    iterations = sorted(int(p.stem.rsplit("_", 1)[1]) for p in (run_dir / "data").glob("labels_iter_*.jsonl"))
    agent = Agent(AgentConfig.for_style(cfg.student.prompt, max_prompt_tokens=cfg.student.max_prompt_tokens))
    return dataset.aggregate(run_dir, iterations), agent, cfg.sft


def computed_tokens(units: list[SFTExample] | list[PackedSequence], batch_size: int, seed: int) -> int:
    """Tokens the model runs over in one epoch: every micro-batch is as wide as its longest sequence."""
    order = torch.randperm(len(units), generator=torch.Generator().manual_seed(seed)).tolist()
    return sum(len(b) * max(len(units[i].input_ids) for i in b) for b in micro_batches(units, order, batch_size))


def seconds(student: Path, examples: list[SFTExample], keys: list[Any], cfg: SFTConfig, packing: str) -> tuple[
        float, float, float]:
    """(wall seconds, CPU seconds of this process, final loss) of one epoch of ``train_sft``."""
    model, tok = load_student(student, trainable=True)
    cpu = time.process_time()
    result = train_sft(model, examples, replace(cfg, epochs=1, packing=packing), pad_id=pad_token_id(tok), seed=0,
                       episodes=keys)
    return result.seconds, time.process_time() - cpu, result.final_loss


def measure(name: str, rows: list[LabelRow], agent: Agent, cfg: SFTConfig, student: Path, repeats: int) -> str:
    _, tok = load_student(student)
    examples = encode_rows(rows, agent, tok, cfg.max_seq_len)
    keys = [(r.iteration, r.episode) for r in rows]
    packed = pack_examples(examples, keys, cfg.pack_max_tokens)
    tokens = [sum(len(u.input_ids) for u in units) for units in (examples, packed)]
    computed = [computed_tokens(units, cfg.batch_size, 0) for units in (examples, packed)]
    runs: dict[str, list[tuple[float, float, float]]] = {"none": [], "episode": []}
    for r in range(repeats):  # ABBA order: a load change during the run biases neither mode
        for packing in ("none", "episode")[:: 1 if r % 2 == 0 else -1]:
            runs[packing].append(seconds(student, examples, keys, cfg, packing))
    (wall_s, cpu_s, loss_s), (wall_p, cpu_p, loss_p) = (
        tuple(statistics.median(r[k] for r in runs[mode]) for k in range(3)) for mode in ("none", "episode"))
    return (f"{name:<8} {len(examples):>6} {len(packed):>6} {tokens[0]:>8} {tokens[1]:>7} "
            f"{tokens[0] / tokens[1]:>5.2f}x {computed[0]:>8} {computed[1]:>7} {computed[0] / computed[1]:>5.2f}x "
            f"{cpu_s:>7.1f} {cpu_p:>6.1f} {cpu_s / cpu_p:>5.2f}x "
            f"{wall_s:>7.1f} {wall_p:>6.1f} {wall_s / wall_p:>5.2f}x {loss_s:.4f}/{loss_p:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=Path("/tmp/mj1"), help="finished run dir ('' to skip)")
    parser.add_argument("--turns", type=int, nargs="*", default=[6, 30, 100])
    parser.add_argument("--episodes", type=int, default=0, help="synthetic episodes per T (0: 120 // T, at least 1)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    header = (f"{'data':<8} {'states':>6} {'seqs':>6} {'tokens':>8} {'packed':>7} {'ratio':>6} {'computed':>8} "
              f"{'packed':>7} {'ratio':>6} {'cpu s':>7} {'packed':>6} {'ratio':>6} {'wall s':>7} {'packed':>6} "
              f"{'ratio':>6} loss state/packed")
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        init = args.run / "student_init" if str(args.run) else None
        if init is None or not init.is_dir():
            from swe_dagger.agents.tiny_student import build_tiny_student

            init = build_tiny_student(Path(tmp) / "student", params="1.5M", seed=0)
        if str(args.run) and (args.run / "data").is_dir():
            rows, agent, cfg = run_rows(args.run)
            lines.append(measure("run", rows, agent, cfg, init, args.repeats))
            print(lines[-1], flush=True)
        for turns in args.turns:
            episodes = args.episodes or max(1, 120 // turns)
            rows, agent = synthetic_rows(turns, episodes, seed=turns)
            cfg = SFTConfig(max_seq_len=1 << 16)
            lines.append(measure(f"T={turns}", rows, agent, cfg, init, args.repeats))
            print(lines[-1], flush=True)
    print(f"\nthreads={torch.get_num_threads()} repeats={args.repeats} student={init}")
    print(header)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
