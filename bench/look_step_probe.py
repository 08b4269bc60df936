"""Can the student learn to read the issue? SFT from a random init on the oracle's first label (``grep -n 'def '
<module the issue names>``) of every training task, then the greedy first reply on held-out tasks, every few epochs.

Isolates prompt style and learning rate from the DAgger loop (section "What was wrong" of session 3's note):

    python bench/look_step_probe.py --prompt compact --lr 1e-3
    python bench/look_step_probe.py --prompt default --lr 3e-3

Prints accuracy (the module path right) on 12 training and all held-out tasks, and seconds per epoch.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import torch

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.tiny_student import build_tiny_student
from swe_dagger.dagger.config import SFTConfig
from swe_dagger.dagger.rollout.env_worker import env_task_prompt
from swe_dagger.dagger.sft.checkpoints import load_student, pad_token_id
from swe_dagger.dagger.sft.dataset import LabelRow
from swe_dagger.dagger.sft.examples import encode_row, prompt_ids
from swe_dagger.dagger.sft.trainer import train_sft
from swe_dagger.envs.loading import load_tasks
from swe_dagger.envs.observations import task_prompt
from swe_dagger.envs.synth.default_suite import ensure_default_suite
from swe_dagger.envs.task import Task
from swe_dagger.teachers.oracle_commands import outline_command, reply


def gold_module(task: Task) -> str:
    match = re.search(r"^diff --git a/(\S+)", task.patch, re.M)
    if match is None:
        raise ValueError(f"{task.instance_id}: gold patch names no file")
    return match.group(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompt", choices=("compact", "default"), default="compact")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--params", default="1.5M")
    ap.add_argument("--max-tasks", type=int, default=60, help="default suite size (as tasks.suite_max_tasks)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    suite = ensure_default_suite(max_tasks=a.max_tasks)
    train, test = load_tasks(suite.train_path), load_tasks(suite.test_path)
    agent = Agent(AgentConfig.for_style(a.prompt, max_prompt_tokens=512))
    style = env_task_prompt(a.prompt)

    def prefix(t: Task) -> tuple:  # type: ignore[type-arg]
        return tuple(agent.initial_messages(task_prompt(t, style)))

    with tempfile.TemporaryDirectory() as tmp:
        texts = [t.problem_statement for t in train] + [t.patch for t in train]
        model, tok = load_student(build_tiny_student(Path(tmp) / "student", texts, params=a.params, seed=0))
    rows = [LabelRow(iteration=0, beta=1.0, task_id=t.instance_id, episode=0, turn=0, author="teacher",
                     prefix=prefix(t), history=(), student_action=None, reward=0.0, resolution=None,
                     label=reply("List the functions of the file the issue names.", outline_command(gold_module(t))))
            for t in train]
    examples = [encode_row(r, agent, tok, 1024) for r in rows]
    print(f"{a.prompt} prompt: {sum(len(e.input_ids) for e in examples) / len(examples):.0f} tokens per example; "
          f"{len(train)} train / {len(test)} held-out tasks", flush=True)

    def accuracy(tasks: list[Task]) -> float:
        hits = 0
        with torch.no_grad():
            for t in tasks:
                ids = torch.tensor([prompt_ids(tok, prefix(t))])
                out = model.generate(ids, max_new_tokens=40, do_sample=False, pad_token_id=pad_token_id(tok))
                hits += outline_command(gold_module(t)) in tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        return hits / len(tasks)

    cfg = SFTConfig(epochs=a.every, lr=a.lr, batch_size=4)
    for k in range(a.epochs // a.every):
        started = time.perf_counter()
        result = train_sft(model, examples, cfg, pad_id=pad_token_id(tok), seed=k)
        per_epoch = (time.perf_counter() - started) / a.every
        print(f"epoch {(k + 1) * a.every:3d}  loss {result.final_loss:.3f}  train@12 {accuracy(train[:12]):.2f}  "
              f"held-out {accuracy(test):.2f}  {per_epoch:.1f} s/epoch", flush=True)


if __name__ == "__main__":
    main()
