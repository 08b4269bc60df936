"""The Ray engine against the threaded local engine on this machine, in one run: episodes/s with N env actors, and
the per-episode overhead Ray adds.

    python bench/ray.py                          # 8 episodes of 3 turns on the default held-out suite, 2 envs
    python bench/ray.py --episodes 16 --envs 4 --address auto   # on a running cluster (else a local one)

Both engines run the same collector over the same episode specs: a scripted student stands in for the decisions
(it lists the repository, then reads a file; no teacher, so only the envs are measured), ``--envs`` episodes in
lock step. Printed: the local engine's episodes/s, the Ray engine's (with the actors' start-up timed apart), their
ratio, the wall seconds Ray adds per episode, and a Ray round trip (a no-op actor call) in ms with how many an
episode makes (open, reset, a step per turn, the final diff, close).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.protocol import Completion, Conversation, SamplingParams
from swe_dagger.dagger.rollout.collector import Collector, EpisodeSpec
from swe_dagger.dagger.rollout.config import RolloutConfig
from swe_dagger.dagger.rollout.env_worker import EnvWorker, MakeWorker, make_swe_env
from swe_dagger.dagger.rollout.ray_engine import RayEngine
from swe_dagger.envs.loading import load_tasks

SUITE = Path.home() / ".cache" / "swe-dagger" / "tasks" / "default"
REPLIES = ("THOUGHT: look.\n\n```bash\nls\n```",
           "THOUGHT: read.\n\n```bash\nhead -n 40 $(git ls-files '*.py' | head -n 1)\n```")
# this file is bench/ray.py: its folder must not shadow the ray package when Ray is imported below
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


class Scripted:
    """Stands in for the student's decisions: the replies in turn order."""

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        return [Completion(text=REPLIES[min(sum(m.role == "assistant" for m in c), len(REPLIES) - 1)])
                for c in conversations]

    def close(self) -> None:
        pass


def collect(make_env: Any, specs: list[EpisodeSpec], envs: int, turns: int, make_worker: MakeWorker) -> float:
    """Wall seconds to run ``specs`` (workers opened and closed included)."""
    started = time.perf_counter()
    with Collector(make_env, envs, Agent(AgentConfig.for_style("compact")), Scripted(), None,
                   sampling=SamplingParams(max_new_tokens=64), mixing="per_turn", max_turns=turns,
                   make_worker=make_worker) as collector:
        collector.run(specs, lambda _: None)
    return time.perf_counter() - started


def round_trip_ms(engine: RayEngine, calls: int = 200) -> float:
    """One no-op actor call (``where``) and its result, in ms (median-free: the mean of ``calls`` in a row)."""
    import ray

    actor = engine.pool.slots[0].actor
    ray.get(actor.where.remote())
    started = time.perf_counter()
    for _ in range(calls):
        ray.get(actor.where.remote())
    return (time.perf_counter() - started) / calls * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=8)
    ap.add_argument("--envs", type=int, default=2, help="envs in lock step (local threads = Ray env actors)")
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--address", default="local", help="rollout.ray_address (default: a local cluster)")
    args = ap.parse_args()
    tasks = load_tasks(SUITE / "test.jsonl")
    make_env = make_swe_env(tasks, sandbox="local", max_turns=args.turns, command_timeout_s=30,
                            allow_unvalidated=False, prompt_style="compact")
    specs = [EpisodeSpec(0, e, tasks[e % len(tasks)].instance_id, 0.0, seed=1000 + e, label=False)
             for e in range(args.episodes)]
    local = collect(make_env, specs, args.envs, args.turns, EnvWorker)
    started = time.perf_counter()
    engine = RayEngine(RolloutConfig(engine="ray", ray_address=args.address, ray_actor_cpus=0), sandbox="local",
                       actors=args.envs, log=lambda _: None)
    try:
        startup = time.perf_counter() - started
        on_ray = collect(make_env, specs, args.envs, args.turns, engine.worker)
        rt = round_trip_ms(engine)
        nodes = len({s.node for s in engine.pool.slots})
    finally:
        engine.close()
    n, calls = args.episodes, 2 + args.turns + 2  # open, reset, a step per turn, final diff, close
    print(f"{n} episodes x {args.turns} turns on {len(tasks)} held-out tasks, {args.envs} envs in lock step, "
          f"Ray on {nodes} node(s)")
    print("| engine | wall s | episodes/s |")
    print("|---|---|---|")
    print(f"| local (threads) | {local:.1f} | {n / local:.3f} |")
    print(f"| ray ({args.envs} env actors) | {on_ray:.1f} | {n / on_ray:.3f} |")
    print(f"ray actors' start-up: {startup:.1f} s (once per run); local / ray episodes/s = {local / on_ray:.2f}x "
          f"(ray is {on_ray / local:.2f}x the wall)")
    print(f"ray overhead per episode: {(on_ray - local) / n:+.2f} s wall; round trip {rt:.2f} ms x ~{calls} calls "
          f"= {rt * calls / 1000:.3f} s of it")


if __name__ == "__main__":
    main()
