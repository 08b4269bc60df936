"""The Ray engine against the threaded local engine on this machine, in one run: episodes/s with N env actors, and
the per-episode overhead Ray adds.

    python bench/ray.py                          # 8 episodes of 3 turns on the default held-out suite, 2 envs
    python bench/ray.py --episodes 16 --envs 4 --address auto   # on a running cluster (else a local one)

Both engines run the same collector over the same episode specs: a scripted student stands in for the decisions
(it lists the repository, then reads a file; no teacher, so only the envs are measured), ``--envs`` episodes in
lock step. Printed: the local engine's episodes/s, the Ray engine's (with the actors' start-up timed apart), their
ratio, the wall seconds Ray adds per episode, and a Ray round trip (a no-op actor call) in ms with how many an
episode makes (open, reset, a step per turn, the final diff, close).

The split that says where an episode's time goes, per engine: each env call timed from the driver (open, reset,
step, close: mean seconds), beside the step's own time measured where the env runs (``Step.seconds``: in the
thread, or inside the actor), so driver-side minus env-side is the engine's cost per call. Also printed: the
niceness of the driver and of each actor process (a Ray worker runs at its raylet's niceness plus Ray's
``worker_niceness``, 15 by default, unless the engine sets it) and the first env's import in this process, timed
before the local run so neither engine pays it inside its episodes (each actor pays it in its start-up).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.protocol import Completion, Conversation, SamplingParams
from swe_dagger.dagger.config import EnvConfig
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.rollout.collector import Collector, EpisodeSpec
from swe_dagger.dagger.rollout.config import RolloutConfig
from swe_dagger.dagger.rollout.env_worker import EnvWorker, MakeWorker, Reset, Step, Worker, make_swe_env
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


class Calls:
    """Driver-side seconds of each env call (``open`` = building the worker), and the steps' own seconds."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name].append(seconds)

    def timed(self, make_worker: MakeWorker) -> MakeWorker:
        def make(make_env: Callable[[], Any]) -> Worker:
            started = time.perf_counter()
            worker = make_worker(make_env)
            self.add("open", time.perf_counter() - started)
            return Timed(worker, self)

        return make

    def mean(self, name: str) -> float:
        values = self.seconds.get(name, [])
        return sum(values) / len(values) if values else 0.0


class Timed:
    """A worker whose calls are timed from the driver."""

    def __init__(self, inner: Worker, calls: Calls) -> None:
        self.inner, self.calls = inner, calls

    def _time(self, name: str, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return call()
        finally:
            self.calls.add(name, time.perf_counter() - started)

    def reset(self, task_id: str, seed: int) -> Reset:
        reset: Reset = self._time("reset", lambda: self.inner.reset(task_id, seed))
        return reset

    def step(self, action: str) -> Step:
        step: Step = self._time("step", lambda: self.inner.step(action))
        self.calls.add("step in env", step.seconds)
        return step

    def diff(self) -> str:
        return str(self._time("diff", self.inner.diff))

    def close(self) -> None:
        self._time("close", self.inner.close)


def collect(make_env: Any, specs: list[EpisodeSpec], envs: int, turns: int, make_worker: MakeWorker,
            calls: Calls) -> float:
    """Wall seconds to run ``specs`` (workers opened and closed included); ``calls`` gets each call's time."""
    started = time.perf_counter()
    done: list[Trajectory] = []
    with Collector(make_env, envs, Agent(AgentConfig.for_style("compact")), Scripted(), None,
                   sampling=SamplingParams(max_new_tokens=64), mixing="per_turn", max_turns=turns,
                   make_worker=calls.timed(make_worker)) as collector:
        collector.run(specs, done.append)
    for traj in done:
        calls.add("episode", traj.timings["wall_s"])
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
    make_env = make_swe_env(tasks, EnvConfig(max_turns=args.turns), prompt_style="compact")
    specs = [EpisodeSpec(0, e, tasks[e % len(tasks)].instance_id, 0.0, seed=1000 + e, label=False)
             for e in range(args.episodes)]
    started = time.perf_counter()
    make_env().close()  # the env's imports (gymnasium, swebench), once per process: not inside the local episodes
    warm = time.perf_counter() - started
    local_calls, ray_calls = Calls(), Calls()
    local = collect(make_env, specs, args.envs, args.turns, EnvWorker, local_calls)
    started = time.perf_counter()
    engine = RayEngine(RolloutConfig(engine="ray", ray_address=args.address, ray_actor_cpus=0), sandbox="local",
                       actors=args.envs, log=lambda _: None)
    try:
        startup = time.perf_counter() - started
        on_ray = collect(make_env, specs, args.envs, args.turns, engine.worker, ray_calls)
        rt = round_trip_ms(engine)
        nodes = len({s.node for s in engine.pool.slots})
        actor_nice = sorted({os.getpriority(os.PRIO_PROCESS, s.pid) for s in engine.pool.slots if s.pid}) \
            if nodes == 1 else "on other nodes"
    finally:
        engine.close()
    n, calls = args.episodes, 2 + args.turns + 2  # open, reset, a step per turn, final diff, close
    print(f"{n} episodes x {args.turns} turns on {len(tasks)} held-out tasks, {args.envs} envs in lock step, "
          f"Ray on {nodes} node(s)")
    print("| engine | wall s | episodes/s |")
    print("|---|---|---|")
    print(f"| local (threads) | {local:.1f} | {n / local:.3f} |")
    print(f"| ray ({args.envs} env actors) | {on_ray:.1f} | {n / on_ray:.3f} |")
    print(f"ray actors' start-up: {startup:.1f} s (once per run, the env imports included); "
          f"ray / local episodes/s = {local / on_ray:.2f}x "
          f"(ray is {on_ray / local:.2f}x the wall)")
    print(f"ray overhead per episode: {(on_ray - local) / n:+.2f} s wall; round trip {rt:.2f} ms x ~{calls} calls "
          f"= {rt * calls / 1000:.3f} s of it")
    print("mean seconds per call, timed from the driver (step in env: inside the thread / the actor)")
    print("| engine | open | reset | step | step in env | diff | close | episode wall |")
    print("|---|---|---|---|---|---|---|---|")
    for name, c in (("local", local_calls), ("ray", ray_calls)):
        print(f"| {name} | " + " | ".join(f"{c.mean(k):.2f}" for k in
                                          ("open", "reset", "step", "step in env", "diff", "close", "episode")) + " |")
    print(f"niceness: driver {os.getpriority(os.PRIO_PROCESS, 0)}, env actors {actor_nice}; first env import in "
          f"this process {warm:.1f} s (timed apart); load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
