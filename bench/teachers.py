"""Teacher benchmark: label latency, and the oracle's resolve rate over the default suite (clean and corrupted).

    python bench/teachers.py                      # FULL default suite, local sandbox
    python bench/teachers.py --max-tasks 10 --corruptions 20
    python bench/teachers.py --tasks my.validated.jsonl
    python bench/teachers.py --style patch        # the oracle's git-apply label style (default: visible)
    python bench/teachers.py --find body --kinds compare_op swap_args   # the SmolLM2 config's labels and tasks

Prints, from one run: the oracle's resolve rate on every task, its rate from randomly corrupted mid-episode
states, its label latency (p50/p95 per state, batched), a label-cache hit's latency, and the ratio of
labelling time to env step time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium
from rich.progress import Progress

import swe_dagger.envs  # noqa: F401  (registers swe_dagger/SWE-v0)
from swe_dagger.agents.protocol import Message
from swe_dagger.envs.actions import SUBMIT_MARKER
from swe_dagger.envs.loading import load_tasks
from swe_dagger.envs.task import Task
from swe_dagger.teachers.cache import CachedTeacher
from swe_dagger.teachers.corruptions import random_corruption
from swe_dagger.teachers.oracle import OracleTeacher
from swe_dagger.teachers.protocol import TeacherState


@dataclass
class Timings:
    label_s: list[float] = field(default_factory=list)
    step_s: list[float] = field(default_factory=list)
    states: list[TeacherState] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)


def episode(env: Any, oracle: OracleTeacher, task: Task, t: Timings, rng: random.Random | None = None) -> float:
    """One oracle episode; with ``rng``, a few oracle steps, then 1-3 random student edits, then the oracle."""
    obs, _ = env.reset(options={"task_id": task.instance_id})
    msgs = [Message("user", obs)]
    pending: list[str | None] = []  # None: the oracle acts; a command: the "student" runs it
    if rng is not None:
        pending = [None] * rng.randint(0, 4) + [random_corruption(rng, task) for _ in range(rng.randint(1, 3))]
    while True:
        state = TeacherState(task, tuple(msgs), env.unwrapped.workspace_diff())
        student = pending.pop(0) if pending else None
        if student is not None:
            action = f"THOUGHT: let me try this.\n\n```bash\n{student}\n```"
        else:
            start = time.perf_counter()
            (action,) = oracle.label([state])
            t.label_s.append(time.perf_counter() - start)
            t.states.append(state)
            if SUBMIT_MARKER in action and any(p is not None for p in pending):
                pending = [p for p in pending if p is not None]  # corrupt before the oracle would submit
                continue
        start = time.perf_counter()
        obs, reward, terminated, truncated, info = env.step(action)
        t.step_s.append(time.perf_counter() - start)
        if info.get("error"):
            raise RuntimeError(f"task {task.instance_id}: {info['error']}")
        msgs += [Message("assistant", action), Message("user", obs)]
        if terminated or truncated:
            t.turns.append(len(msgs) // 2)
            return float(reward)


def _ms(xs: list[float], q: float) -> float:
    return 1000 * statistics.quantiles(xs, n=100)[int(q) - 1] if len(xs) > 1 else 1000 * (xs[0] if xs else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=Path, nargs="+", help="validated task files (default: the default suite)")
    ap.add_argument("--style", default="visible", help="oracle label style: visible or patch")
    ap.add_argument(
        "--find", default="outline", help="visible style's look: outline (all defs), name (its def line) or body"
    )
    ap.add_argument("--max-tasks", type=int, default=None, help="cap on tasks (default: all)")
    ap.add_argument("--reproduce", action="store_true", help="oracle runs the failing tests before its first edit")
    ap.add_argument("--kinds", nargs="+", default=None, help="only synthesized tasks of these mutation kinds")
    ap.add_argument("--corruptions", type=int, default=20, help="corrupted mid-episode runs")
    ap.add_argument("--sandbox", default="local")
    ap.add_argument("--max-turns", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    if args.tasks:
        tasks = [t for path in args.tasks for t in load_tasks(path)]
    else:
        from swe_dagger.envs.synth.default_suite import ensure_default_suite

        suite = ensure_default_suite(max_tasks=args.max_tasks)
        tasks = load_tasks(suite.train_path) + load_tasks(suite.test_path)
    if args.kinds:
        from swe_dagger.envs.synth.task_build import tasks_of_kinds

        tasks = tasks_of_kinds(tasks, tuple(args.kinds), "bench/teachers.py")
    tasks = tasks[: args.max_tasks] if args.max_tasks else tasks
    env = gymnasium.make("swe_dagger/SWE-v0", tasks=tasks, sandbox=args.sandbox, max_turns=args.max_turns)
    oracle = OracleTeacher(style=args.style, find=args.find, reproduce=args.reproduce)
    clean, messy = Timings(), Timings()
    failed: list[str] = []
    rng = random.Random(args.seed)
    try:
        with Progress() as bar:
            job = bar.add_task("oracle episodes", total=len(tasks) + args.corruptions)
            resolved = 0
            for task in tasks:
                ok = episode(env, oracle, task, clean) == 1.0
                resolved += ok
                if not ok:
                    failed.append(task.instance_id)
                bar.advance(job)
            recovered = 0
            for _ in range(args.corruptions):
                task = rng.choice(tasks)
                ok = episode(env, oracle, task, messy, rng) == 1.0
                recovered += ok
                if not ok:
                    failed.append(f"{task.instance_id} (corrupted)")
                bar.advance(job)
    finally:
        env.close()

    states = clean.states + messy.states
    start = time.perf_counter()
    oracle.label(states)
    batched = (time.perf_counter() - start) / len(states)
    with tempfile.TemporaryDirectory() as tmp:
        cached = CachedTeacher(OracleTeacher(style=args.style, find=args.find), Path(tmp) / "labels.jsonl")
        cached.label(states)
        start = time.perf_counter()
        cached.label(states)
        hit = (time.perf_counter() - start) / len(states)
    labels = clean.label_s + messy.label_s
    how = f"{args.sandbox} sandbox, oracle style {args.style}, find {args.find}"
    print(f"tasks                      {len(tasks)} ({how})")
    print(f"oracle resolve rate        {resolved}/{len(tasks)} = {resolved / len(tasks):.1%}")
    if args.corruptions:
        print(f"after random corruptions   {recovered}/{args.corruptions} = {recovered / args.corruptions:.1%}")
    turns = clean.turns
    print(f"turns per clean episode    {len(clean.step_s) / len(tasks):.1f} (max {max(turns)}, "
          f"> 6 in {sum(n > 6 for n in turns)})")
    print(f"label latency per state    p50 {_ms(labels, 50):.2f} ms, p95 {_ms(labels, 95):.2f} ms (n={len(labels)})")
    print(f"batched label per state    {1000 * batched:.3f} ms")
    print(f"cache hit per state        {1000 * hit:.4f} ms  (label / hit = {statistics.mean(labels) / hit:.0f}x)")
    steps = clean.step_s + messy.step_s
    print(f"env step per turn          mean {1000 * statistics.mean(steps):.1f} ms")
    print(f"label time / env time      {sum(labels) / sum(steps):.4f}")
    if failed:
        print("not resolved:", ", ".join(failed))


if __name__ == "__main__":
    main()
