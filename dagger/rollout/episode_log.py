"""The episode log on disk: one iteration's trajectories, appended and fsync'd one finished episode at a time.

``episodes/{kind}_iter_XXX.jsonl`` (``kind``: ``train``, ``eval``, ``grpo``) holds one Trajectory per line; a line
cut short by a kill is dropped when read (see :class:`~swe_dagger.durable.files.AppendLog`).
"""

from __future__ import annotations

from pathlib import Path

from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.rollout.serialize import RecordFormatError, trajectory_from_json, trajectory_to_json
from swe_dagger.durable.files import AppendLog


def episode_log(run_dir: Path, kind: str, iteration: int) -> AppendLog:
    """The append-only trajectory log of one iteration's ``train`` collection or ``eval``."""
    return AppendLog(run_dir / "episodes" / f"{kind}_iter_{iteration:03d}.jsonl")


def append_trajectory(log: AppendLog, traj: Trajectory) -> None:
    log.append(trajectory_to_json(traj))


def read_trajectories(log: AppendLog) -> list[Trajectory]:
    """The log's trajectories ordered by episode index; a duplicated episode is an error (never silently merged)."""
    by_episode: dict[int, Trajectory] = {}
    for n, data in enumerate(log.records(), 1):
        traj = trajectory_from_json(data, f"{log.path}:{n}")
        if traj.episode in by_episode:
            raise RecordFormatError(f"{log.path}:{n}: episode {traj.episode} is recorded twice")
        by_episode[traj.episode] = traj
    return [by_episode[k] for k in sorted(by_episode)]
