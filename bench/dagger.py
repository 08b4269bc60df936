"""Collector throughput: episodes/s with 1 env vs N concurrent envs (student calls batched across envs).

Usage: python bench/dagger.py [--tasks FILE] [--envs 4] [--episodes 8] [--beta 0.5]
Default tasks: the default suite's train split (prepared on first use). Prints one ratio measured in this run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from contextlib import closing
from pathlib import Path

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.backends.hf import HFPolicy
from swe_dagger.agents.protocol import SamplingParams
from swe_dagger.agents.tiny_student import build_tiny_student
from swe_dagger.dagger.config import EnvConfig
from swe_dagger.dagger.rollout.collector import Collector, EpisodeSpec
from swe_dagger.dagger.rollout.env_worker import make_swe_env
from swe_dagger.envs.loading import load_tasks
from swe_dagger.teachers.factory import TeacherConfig, make_teacher


def run(tasks: list, policy: HFPolicy, envs: int, episodes: int, beta: float, max_turns: int) -> float:
    make = make_swe_env(tasks, EnvConfig(max_turns=max_turns, allow_unvalidated=True))
    specs = [EpisodeSpec(0, e, tasks[e % len(tasks)].instance_id, beta, seed=e) for e in range(episodes)]
    start = time.perf_counter()
    with closing(make_teacher(TeacherConfig())) as teacher, Collector(
        make, envs, Agent(AgentConfig(max_prompt_tokens=512)), policy, teacher,
        sampling=SamplingParams(max_new_tokens=48), mixing="per_turn", max_turns=max_turns,
        count_tokens=policy.count_tokens,
    ) as collector:
        collector.run(specs, lambda traj: None)
    return episodes / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", default=None)
    parser.add_argument("--envs", type=int, default=4)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--beta", type=float, default=0.5)
    parser.add_argument("--max-turns", type=int, default=4)
    args = parser.parse_args()
    if args.tasks is None:
        from swe_dagger.envs.synth.default_suite import ensure_default_suite

        args.tasks = str(ensure_default_suite(max_tasks=60).train_path)
    tasks = load_tasks(args.tasks)
    with tempfile.TemporaryDirectory() as tmp:
        policy = HFPolicy.from_pretrained(build_tiny_student(Path(tmp) / "student", params="1M"))
        one = run(tasks, policy, 1, args.episodes, args.beta, args.max_turns)
        many = run(tasks, policy, args.envs, args.episodes, args.beta, args.max_turns)
    print(f"collector: 1 env {one:.3f} episodes/s, {args.envs} envs {many:.3f} episodes/s, "
          f"ratio {many / one:.2f}x (beta={args.beta}, {args.episodes} episodes, max_turns={args.max_turns})")


if __name__ == "__main__":
    main()
