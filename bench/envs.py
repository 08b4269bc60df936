"""Episodes/s of swe_dagger/SWE-v0: N envs stepping concurrently in threads vs one env, measured in one run.

An episode is what a good agent does on the tiny calc project (tests/envs/calc_project.py): reset (a fresh
bubblewrap workspace), look at the code, apply the fix with a heredoc + ``git apply``, submit (tests run in a copy of
the workspace, graded with swebench's rules). The real work per episode is git, bash and a pytest run.

    python bench/envs.py [--envs 8] [--episodes 16]
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from swe_dagger.envs.actions import SUBMIT_MARKER
from swe_dagger.envs.swe_env import SWEEnv
from swe_dagger.envs.task import Task

ROOT = Path(__file__).resolve().parent.parent


def _calc_tasks(root: Path) -> list[Task]:
    spec = importlib.util.spec_from_file_location("calc_project", ROOT / "tests" / "envs" / "calc_project.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("tests/envs/calc_project.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.build_calc_project(root)[2])


def _episode(env: SWEEnv, task: Task) -> float:
    env.reset(options={"task_id": task.instance_id})
    env.step("```bash\ncat calc/ops.py\n```")
    env.step(f"```bash\ncat > /tmp/fix.patch <<'EOF'\n{task.patch}EOF\ngit apply /tmp/fix.patch\n```")
    _, reward, terminated, _, info = env.step(f"```bash\necho {SUBMIT_MARKER}\n```")
    if not terminated or "error" in info:
        raise RuntimeError(f"episode on {task.instance_id} did not grade: {info}")
    return reward


def _run(tasks: list[Task], n_envs: int, episodes: int, progress: Progress) -> tuple[float, float]:
    """(episodes/s, mean reward) with ``n_envs`` envs, each in its own thread, sharing ``episodes`` episodes."""
    envs = [SWEEnv(tasks, allow_unvalidated=True, max_turns=5) for _ in range(n_envs)]
    job = progress.add_task(f"{n_envs} env(s)", total=episodes)

    def worker(index: int) -> list[float]:
        rewards = []
        for k in range(index, episodes, n_envs):
            # alternate tasks so the env opens a new workspace every episode (no same-task fast reset)
            rewards.append(_episode(envs[index], tasks[(k // n_envs + index) % len(tasks)]))
            progress.advance(job)
        return rewards

    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=n_envs) as pool:
            rewards = [r for chunk in pool.map(worker, range(n_envs)) for r in chunk]
    finally:
        for env in envs:
            env.close()
    elapsed = time.perf_counter() - start
    return len(rewards) / elapsed, sum(rewards) / len(rewards)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", type=int, default=8, help="concurrent envs in the batched run")
    parser.add_argument("--episodes", type=int, default=16, help="episodes per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tasks = _calc_tasks(Path(tmp))
        with Progress(transient=True) as progress:
            _run(tasks, 1, 2, progress)  # warm-up: page cache, pytest bytecode
            single, single_reward = _run(tasks, 1, args.episodes, progress)
            batched, batched_reward = _run(tasks, args.envs, args.episodes, progress)
    table = Table(title=f"swe_dagger/SWE-v0 episodes/s ({args.episodes} episodes each, sandbox=local)")
    for column in ("envs", "episodes/s", "mean reward", "speed-up vs 1 env"):
        table.add_column(column)
    table.add_row("1", f"{single:.2f}", f"{single_reward:.2f}", "1.00x")
    table.add_row(str(args.envs), f"{batched:.2f}", f"{batched_reward:.2f}", f"{batched / single:.2f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
