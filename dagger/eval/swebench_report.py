"""Per-instance outcomes of a SWE-bench evaluation, and the results table with a per-repo breakdown.

Statuses: ``resolved`` (FULL), ``unresolved`` (graded, not FULL), ``empty_patch`` (nothing to grade: not resolved,
as in the harness), ``error`` (our machinery failed: image missing, sandbox crash, grading crash). The resolve rate
is resolved / all instances (errors count against it, as in the harness's report) and errors are listed, never
hidden; a resumed run retries them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from swe_dagger.dagger.records import Trajectory
from swe_dagger.durable.files import atomic_write_json

Status = Literal["resolved", "unresolved", "empty_patch", "error"]


@dataclass(frozen=True)
class InstanceOutcome:
    """What one instance's episode gave (the trajectory file holds this plus the full trajectory)."""

    instance_id: str
    repo: str
    status: Status
    resolution: str | None
    """The env's verdict (``FULL``/``PARTIAL``/``NO``) on the final patch; ``None`` when not graded."""
    submitted: bool
    model_patch: str
    turns: int
    error: str | None = None


def instance_outcome(traj: Trajectory, repo: str) -> InstanceOutcome:
    """The outcome of an episode that ran, read off its trajectory (the one record; nothing is graded twice):
    ``error`` when the env reported one, ``empty_patch`` for an empty final diff, else resolved iff ``FULL``."""
    patch = traj.patch or ""
    status: Status = "error" if traj.error else "empty_patch" if not patch.strip() else \
        "resolved" if traj.resolution == "FULL" else "unresolved"
    return InstanceOutcome(traj.task_id, repo, status, traj.resolution, traj.terminated, patch, len(traj.turns),
                           traj.error)


def outcome_from_json(data: Mapping[str, Any], where: str) -> InstanceOutcome:
    try:
        return InstanceOutcome(
            instance_id=str(data["instance_id"]), repo=str(data["repo"]), status=data["status"],
            resolution=data["resolution"], submitted=bool(data["submitted"]), model_patch=str(data["model_patch"]),
            turns=int(data["turns"]), error=data.get("error"),
        )
    except KeyError as exc:
        raise ValueError(f"{where}: outcome is missing field {exc.args[0]!r}") from None


@dataclass(frozen=True)
class Tally:
    total: int
    resolved: int
    unresolved: int
    empty_patch: int
    error: int

    @property
    def resolve_rate(self) -> float | None:
        return self.resolved / self.total if self.total else None


def tally(outcomes: Sequence[InstanceOutcome]) -> Tally:
    count = {s: sum(o.status == s for o in outcomes) for s in ("resolved", "unresolved", "empty_patch", "error")}
    return Tally(total=len(outcomes), **count)


def by_repo(outcomes: Sequence[InstanceOutcome]) -> dict[str, Tally]:
    groups: dict[str, list[InstanceOutcome]] = defaultdict(list)
    for o in outcomes:
        groups[o.repo].append(o)
    return {repo: tally(groups[repo]) for repo in sorted(groups)}


def _row(t: Tally) -> dict[str, Any]:
    return {**asdict(t), "resolve_rate": t.resolve_rate}


def write_results(out_dir: Path, outcomes: Sequence[InstanceOutcome], meta: Mapping[str, Any]) -> dict[str, Any]:
    """``results.json``: totals, per-repo breakdown, resolved/error ids; returns what it wrote."""
    results = {
        **meta, "total": _row(tally(outcomes)), "per_repo": {r: _row(t) for r, t in by_repo(outcomes).items()},
        "resolved_ids": sorted(o.instance_id for o in outcomes if o.status == "resolved"),
        "errors": {o.instance_id: o.error for o in outcomes if o.status == "error"},
    }
    atomic_write_json(out_dir / "results.json", results)
    return results


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


def results_table(outcomes: Sequence[InstanceOutcome], title: str) -> Table:
    table = Table(title=title)
    for col in ("repo", "instances", "resolved", "unresolved", "empty patch", "errors", "resolve rate"):
        table.add_column(col, justify="left" if col == "repo" else "right")
    rows = [*by_repo(outcomes).items(), ("all", tally(outcomes))]
    for repo, t in rows:
        table.add_row(f"[bold]{repo}" if repo == "all" else repo, str(t.total), str(t.resolved), str(t.unresolved),
                      str(t.empty_patch), str(t.error), _pct(t.resolve_rate))
    return table


def print_results(outcomes: Sequence[InstanceOutcome], title: str, console: Console | None = None) -> None:
    """The results table (each error's text: :func:`problem_lines`)."""
    console = console or Console(stderr=True)
    console.print(results_table(outcomes, title))


ERROR_CHARS = 1000
"""Longest error text printed per instance (``results.json`` holds all of it)."""


def problem_lines(outcomes: Sequence[InstanceOutcome], preds: Path) -> list[str]:
    """What the console says beside the totals: each errored instance's error, and why ``preds`` holds no
    prediction when it holds none."""
    lines = []
    for o in outcomes:
        if o.status == "error":
            text = o.error or "(no message)"
            cut = f"… (the rest in {preds.parent / 'results.json'})" if len(text) > ERROR_CHARS else ""
            lines.append(f"error: {o.instance_id}: {text[:ERROR_CHARS]}{cut}")
    errors = len(lines)
    if not outcomes:
        lines.append(f"{preds} is empty: no instance was evaluated")
    elif errors == len(outcomes):
        lines.append(f"{preds} is empty: all {errors} instances ended in an error (above), so none has a patch to "
                     "grade; fix the cause and rerun the same command (errored instances are retried)")
    return lines


def outcome_json(o: InstanceOutcome) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(o)))
