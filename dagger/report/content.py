"""What the sinks are given besides per-step scalars: the run's config flattened to hyperparameters, its final
metrics, and a few held-out episodes as short markdown."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.report.sinks import Axis, HParam, Reporter
from swe_dagger.dagger.run.metrics import read_all
from swe_dagger.envs.actions import FormatError, parse_action

if TYPE_CHECKING:
    from swe_dagger.dagger.config import RunConfig

FINAL_KEYS = ("eval/resolve_rate", "eval/agreement", "eval/first_turn_agreement", "eval/format_error_rate",
              "rollout/resolve_rate", "rollout/agreement", "train/sft_loss", "train/pg_loss", "data/dataset_labels")
"""Metrics of the last DAgger iteration (``final/…``) and the last GRPO step (``final/grpo/…``) that go beside the
hyperparameters, where the round recorded them."""

ACTION_CHARS = 160
"""Longest command shown per turn in an episode's text (longer ones end with ``…``)."""


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, HParam]:
    """Nested sections as dotted keys (``sft.lr``); ``None``, lists and empty mappings as JSON text (the hparams
    plugin takes numbers, booleans and strings only)."""
    out: dict[str, HParam] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        elif isinstance(value, bool | int | float | str):
            out[name] = value
        else:
            out[name] = json.dumps(value, sort_keys=True, default=str)
    return out


def run_hparams(cfg: RunConfig) -> dict[str, HParam]:
    """The run's resolved config as flat hyperparameters (``dagger.iterations``, ``sft.lr``, ...)."""
    from swe_dagger.typed import to_mapping

    return flatten(to_mapping(cfg))


def final_metrics(run_dir: Path) -> dict[str, float]:
    """``final/<key>`` from the last DAgger row and ``final/grpo/<key>`` from the last GRPO row of ``metrics/``."""
    rows = read_all(run_dir)
    out: dict[str, float] = {}
    for phase, prefix in ((None, "final/"), ("grpo", "final/grpo/")):
        last = [r for r in rows if r.get("phase") == phase][-1:]
        for row in last:
            out.update({prefix + key: float(row[key]) for key in FINAL_KEYS if key in row})
    return out


def _command(action: str) -> str:
    try:
        text = " ".join(parse_action(action).split())
    except FormatError:
        return "(format error)"
    return text if len(text) <= ACTION_CHARS else text[: ACTION_CHARS - 1] + "…"


def episode_markdown(traj: Trajectory) -> str:
    """Task, outcome, then one line per turn: author and command (short)."""
    outcome = f"error: {traj.error}" if traj.error else f"{traj.resolution or 'not graded'}, reward {traj.reward:g}"
    lines = [f"**{traj.task_id}**: {outcome}, {len(traj.turns)} turns"]
    if traj.tampered:
        lines.append(f"tampered (dropped before grading): {', '.join(traj.tampered)}")
    lines += [f"{t.index + 1}. {t.author}: `{_command(t.action)}`" for t in traj.turns]
    return "\n".join(lines)


def episodes_markdown(trajs: Sequence[Trajectory], limit: int) -> str | None:
    """The first ``limit`` episodes, separated by rules; ``None`` when there is nothing to show."""
    shown = [episode_markdown(t) for t in trajs[:limit]]
    if not shown:
        return None
    more = f"\n\n({len(trajs) - len(shown)} more episodes in the run's episode log)" if len(trajs) > len(shown) else ""
    return "\n\n---\n\n".join(shown) + more


def report_episodes(reporter: Reporter, trajs: Sequence[Trajectory] | None, *, limit: int, axis: Axis,
                    step: int) -> None:
    """The first ``limit`` held-out episodes as the text ``eval/episodes`` beside the round's metrics."""
    text = episodes_markdown(trajs or [], limit)
    if text is not None:
        reporter.text("eval/episodes", text, axis=axis, step=step)
