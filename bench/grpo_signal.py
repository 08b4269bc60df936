"""Would GRPO have had signal on a run's episodes, under the binary reward and under the shaped one?

Reads a run's episode logs (default: the GRPO groups, ``episodes/grpo_iter_XXX.jsonl``) and, per log, groups the
scored episodes by task and counts the groups whose rewards differ under each reward: the binary env reward (1 iff
FULL) and the shaped one (:mod:`swe_dagger.envs.shaped_reward`, from the grader's recorded failing tests). Both are
computed from the *same* episodes, so the columns compare the rewards, not two samples. Also: how many episodes
submitted (only a graded episode can earn anything but 0 under either reward) and how many resolved.

    python bench/grpo_signal.py RUN_DIR [--kind grpo] [--tasks FILE ...] [--p2p-penalty 1.0]

Tasks default to the run's own task files (``provenance.tasks`` in its ``config.yaml``). Other kinds (``eval``,
``train``) are grouped by task too: one episode per task there, so no group has signal, but the submit rate and
the shaped values still say what a GRPO group of that policy could have scored. An empty log is an error.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from swe_dagger.dagger.grpo.groups import episode_rewards, groups_of
from swe_dagger.dagger.grpo.metrics import submit_rate
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.rollout.episode_log import read_trajectories
from swe_dagger.durable.files import AppendLog
from swe_dagger.envs.loading import load_tasks
from swe_dagger.envs.task import Task


def run_tasks(run_dir: Path) -> list[Task]:
    data = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    paths = [v["path"] for v in (data.get("provenance") or {}).get("tasks", {}).values()]
    if not paths:
        raise SystemExit(f"{run_dir}/config.yaml names no task files (provenance.tasks); pass --tasks")
    return [t for p in paths for t in load_tasks(Path(p))]


@dataclass(frozen=True)
class SignalRow:
    """One log's counts."""

    episodes: int
    submitted: float
    """Share of the scored episodes that submitted (were graded)."""
    full: int
    groups: int
    signal_binary: int
    """Groups whose binary rewards differ."""
    signal_shaped: int
    """Groups whose shaped rewards differ."""
    shaped_mean: float
    shaped_values: tuple[float, ...]
    """The distinct shaped rewards seen (rounded)."""


def signal_row(trajs: list[Trajectory], tasks: list[Task], p2p_penalty: float) -> SignalRow:
    """Counts for one log (its scored episodes grouped by task, as a GRPO step groups them)."""
    scored = [t for t in trajs if t.error is None]
    if not scored:
        raise ValueError("no scored episode (empty log, or every episode had an infrastructure error)")
    binary = episode_rewards(scored, tasks, "binary")
    shaped = episode_rewards(scored, tasks, "shaped", p2p_penalty=p2p_penalty)
    by_binary, by_shaped = groups_of(scored, binary), groups_of(scored, shaped)
    return SignalRow(
        episodes=len(trajs), submitted=submit_rate(scored) or 0.0, full=sum(t.resolution == "FULL" for t in scored),
        groups=len(by_binary), signal_binary=sum(g.has_signal for g in by_binary),
        signal_shaped=sum(g.has_signal for g in by_shaped), shaped_mean=sum(shaped) / len(shaped),
        shaped_values=tuple(sorted({round(x, 3) for x in shaped})),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--kind", default="grpo", help="episode log kind: grpo, train, eval, grpo_eval")
    ap.add_argument("--tasks", type=Path, nargs="*", help="task files (default: the run's)")
    ap.add_argument("--p2p-penalty", type=float, default=1.0)
    args = ap.parse_args(argv)
    tasks = [t for p in args.tasks for t in load_tasks(p)] if args.tasks else run_tasks(args.run_dir)
    logs = sorted((args.run_dir / "episodes").glob(f"{args.kind}_iter_*.jsonl"))
    if not logs:
        raise SystemExit(f"{args.run_dir}/episodes has no {args.kind}_iter_*.jsonl")
    print(f"{'log':<24} {'eps':>4} {'submit':>6} {'FULL':>4} {'groups':>6} {'sig bin':>7} {'sig shp':>7} "
          f"{'shaped':>7}  shaped values")
    for log in logs:
        r = signal_row(read_trajectories(AppendLog(log)), tasks, args.p2p_penalty)
        print(f"{log.stem:<24} {r.episodes:>4} {100 * r.submitted:>5.0f}% {r.full:>4} {r.groups:>6} "
              f"{r.signal_binary:>7} {r.signal_shaped:>7} {r.shaped_mean:>7.3f}  {list(r.shaped_values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
