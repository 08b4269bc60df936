"""Episodes to view, from any place swe-dagger writes trajectories, as one record shape.

Sources (a directory or a single file):

- a training run dir: ``episodes/train_iter_NNN.jsonl`` (the DAgger mixture) and ``episodes/eval_iter_NNN.jsonl``
  (held-out, student alone); ``config.yaml`` names the run;
- a ``swe-dagger eval`` folder: ``episodes.jsonl``;
- a ``swe-dagger swebench-eval`` folder: ``trajectories/<instance_id>.json`` (``{"outcome", "trajectory"}``);
- a single ``.jsonl`` (one trajectory per line) or ``.json`` file (one swebench-eval instance, or one trajectory).

Every reader goes through ``serialize.trajectory_from_json``, so a malformed record is an error naming its file and
line, never skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.rollout.episode_log import read_trajectories
from swe_dagger.dagger.rollout.serialize import RecordFormatError, trajectory_from_json
from swe_dagger.durable.files import AppendLog

_LOG = re.compile(r"^(train|eval)_iter_(\d{3,})\.jsonl$")


@dataclass(frozen=True)
class EpisodeView:
    """One episode and where it came from."""

    key: str
    """Unique, file-name safe id of the episode within the site."""
    split: str
    """``train`` (collected for labels), ``held-out`` (evaluation), or ``swebench``."""
    source: str
    """The file it was read from."""
    traj: Trajectory
    status: str | None = None
    """swebench-eval outcome status (``resolved``/``unresolved``/``empty_patch``/``error``)."""
    outcome_error: str | None = None
    """swebench-eval: the error of an instance whose episode never ran (then ``traj`` is a stub without turns)."""


def load_episodes(source: Path) -> list[EpisodeView]:
    """Every episode under ``source`` (see the module doc); raises ``FileNotFoundError`` naming what was looked for."""
    if source.is_file():
        return _from_file(source)
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no such file or directory")
    found: list[EpisodeView] = []
    logs = sorted(p for p in (source / "episodes").glob("*.jsonl") if _LOG.match(p.name))
    for path in logs:
        m = _LOG.match(path.name)
        assert m is not None
        split = "train" if m.group(1) == "train" else "held-out"
        found += [_view(t, split, path) for t in read_trajectories(AppendLog(path))]
    if (source / "episodes.jsonl").is_file():
        found += _from_file(source / "episodes.jsonl", split="held-out")
    for path in sorted((source / "trajectories").glob("*.json")):
        found += _from_file(path)
    if not found:
        raise FileNotFoundError(
            f"{source}: no episodes found (looked for episodes/train_iter_*.jsonl, episodes/eval_iter_*.jsonl, "
            "episodes.jsonl and trajectories/*.json)")
    return found


def _view(traj: Trajectory, split: str, path: Path, **extra: Any) -> EpisodeView:
    prefix = {"train": "train", "held-out": "eval", "swebench": "swebench"}[split]
    name = traj.task_id if split == "swebench" else f"{traj.iteration:03d}_{traj.episode:04d}_{traj.task_id}"
    key = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{prefix}_{name}")
    return EpisodeView(key=key, split=split, source=str(path), traj=traj, **extra)


def _from_file(path: Path, split: str = "train") -> list[EpisodeView]:
    if path.suffix == ".jsonl":
        if path.name.startswith("eval_"):
            split = "held-out"
        return [_view(t, split, path) for t in read_trajectories(AppendLog(path))]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RecordFormatError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RecordFormatError(f"{path}: expected a JSON object, got {type(data).__name__}")
    if "outcome" not in data:
        return [_view(trajectory_from_json(data, str(path)), split, path)]
    outcome = data["outcome"]
    if not isinstance(outcome, dict) or "instance_id" not in outcome or "status" not in outcome:
        raise RecordFormatError(f"{path}: field 'outcome' must hold at least 'instance_id' and 'status'")
    if data.get("trajectory") is None:  # the instance failed before its episode ran
        stub = Trajectory(task_id=str(outcome["instance_id"]), prefix=(), turns=(), reward=0.0, resolution=None,
                          terminated=False, truncated=False, error=outcome.get("error"))
        return [_view(stub, "swebench", path, status=str(outcome["status"]), outcome_error=outcome.get("error"))]
    traj = trajectory_from_json(data["trajectory"], f"{path}: trajectory")
    if traj.patch is None and outcome.get("model_patch") is not None:  # written before trajectories held the patch
        traj = replace(traj, patch=str(outcome["model_patch"]))
    return [_view(traj, "swebench", path, status=str(outcome["status"]), outcome_error=outcome.get("error"))]
