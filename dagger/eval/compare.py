"""Compare runs: held-out metrics per mode and iteration, mean and a 95% bootstrap CI over seeds and tasks.

Each run directory holds its config (``config.yaml``: the mode and seed) and, per finished iteration
(``metrics/iter_XXX.json``), the student-alone held-out episodes (``episodes/eval_iter_XXX.jsonl``); a GRPO phase's
evaluated steps are ``episodes/grpo_eval_iter_XXX.jsonl`` with ``metrics/grpo_XXX.json``, compared as the group
``grpo`` with the GRPO step in place of the iteration. From those
episodes each task gets counts (resolved / scored episodes; agreeing / labeled student turns; the same on first
turns), so a run's metric is exactly what ``metrics.rollout_stats`` reports for it: a ratio of summed counts.

Runs are grouped by mode and by every config key in which the given runs differ (seed, run dir and display keys
aside): ``dagger · dagger.relabel=disagreement`` and ``dagger · dagger.relabel=all`` are two groups, and runs from
different initial students are never pooled. A group's value at an iteration is the mean over its runs (seeds). Its
CI is a two-level bootstrap with a fixed RNG: draw runs with replacement, then, inside each drawn run, its held-out
tasks with replacement; the 2.5/97.5 percentiles of the replicated means bound the interval. With one run only the
tasks are resampled. ``teacher_calls`` beside them: the training collections' teacher calls so far.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from swe_dagger.dagger.config import ConfigError, load_resolved
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.report.content import run_hparams
from swe_dagger.dagger.report.sinks import HParam
from swe_dagger.dagger.rollout import episode_log
from swe_dagger.dagger.run.metrics import agrees, grpo_metrics_path, metrics_path
from swe_dagger.durable.files import read_json

METRICS = ("resolve_rate", "agreement", "first_turn_agreement")
"""What is compared, named as in ``metrics.jsonl`` (``eval/<name>``)."""

NOT_A_VARIANT = frozenset({"seed", "run_dir", "mode", "phases", "progress", "tensorboard", "student.model"})
"""Config keys that do not make runs different variants (``mode`` and ``phases`` name the group already, and the
student is named by its model's last path part)."""

Counts = tuple[float, float, float, float, float, float]
"""Per task: (resolved, scored, agreeing, labeled, first-turn agreeing, first turns labeled)."""


class CompareError(ValueError):
    """A directory given to ``compare`` cannot be compared; the message names it and what is missing."""


@dataclass(frozen=True)
class RunEvals:
    """One run's held-out evaluations: per evaluated iteration, the per-task counts (tasks in first-seen order)."""

    run_dir: Path
    mode: str
    seed: int
    student: str
    """The initial student's name (``student.model``'s last path part, or ``tiny``)."""
    iterations: dict[int, np.ndarray]
    """iteration → array of shape (tasks, 6), columns as :data:`Counts`."""
    unfinished: tuple[int, ...] = ()
    """Iterations with eval episodes but no metrics file yet (still running): left out of the comparison."""
    grpo_steps: dict[int, np.ndarray] = field(default_factory=dict)
    """GRPO step → per-task counts of that step's held-out evaluation (a ``grpo`` phase's ``eval_every``)."""
    settings: dict[str, HParam] = field(default_factory=dict)
    """The run's config as dotted keys (:func:`~swe_dagger.dagger.report.content.run_hparams`)."""
    teacher_calls: dict[int, float] = field(default_factory=dict)
    """Iteration → teacher calls of the training collections up to and including it (``rollout/teacher_calls``)."""


@dataclass(frozen=True)
class Estimate:
    mean: float | None
    """Mean over runs of each run's rate (runs where nothing was measured are left out); ``None`` if none."""
    low: float | None
    high: float | None
    runs: int
    tasks: int
    """Held-out tasks per run (the largest count among the runs)."""


def episode_counts(traj: Trajectory) -> Counts:
    labeled = [t for t in traj.turns if t.author == "student" and t.teacher_label is not None]
    first = [t for t in labeled if t.index == 0]
    return (float(traj.error is None and traj.resolution == "FULL"), float(traj.error is None),
            float(sum(agrees(t.action, t.teacher_label or "") for t in labeled)), float(len(labeled)),
            float(sum(agrees(t.action, t.teacher_label or "") for t in first)), float(len(first)))


def task_counts(trajs: Sequence[Trajectory]) -> np.ndarray:
    """Counts summed per task (a task evaluated twice is one resampling unit)."""
    by_task: dict[str, np.ndarray] = {}
    for traj in trajs:
        by_task[traj.task_id] = by_task.get(traj.task_id, np.zeros(6)) + np.array(episode_counts(traj))
    return np.array(list(by_task.values()), dtype=float).reshape(-1, 6)


def load_run(run_dir: Path) -> RunEvals:
    """The held-out evaluations of the DAgger/BC iterations that finished in ``run_dir``."""
    if not run_dir.is_dir():
        raise CompareError(f"{run_dir} is not a run directory (no such directory)")
    try:
        cfg = load_resolved(run_dir)
    except ConfigError as exc:
        raise CompareError(str(exc)) from None
    iterations, unfinished = _finished(run_dir, "eval", lambda i: metrics_path(run_dir, i))
    grpo_steps, unfinished_grpo = _finished(run_dir, "grpo_eval", lambda s: grpo_metrics_path(run_dir, s))
    if not iterations and not grpo_steps:
        raise CompareError(f"{run_dir}: no held-out evaluation episodes of a finished iteration "
                           f"(episodes/eval_iter_XXX.jsonl with metrics/iter_XXX.json, or a GRPO step's "
                           f"episodes/grpo_eval_iter_XXX.jsonl with metrics/grpo_XXX.json); eval.episodes may be 0")
    calls: dict[int, float] = {}
    so_far = 0.0
    for i in range(max(iterations, default=-1) + 1):
        if metrics_path(run_dir, i).is_file():
            so_far += float(read_json(metrics_path(run_dir, i)).get("rollout/teacher_calls", 0.0))
        if i in iterations:
            calls[i] = so_far
    return RunEvals(run_dir, cfg.mode, cfg.seed, Path(cfg.student.model).name, iterations,
                    tuple(unfinished + unfinished_grpo), grpo_steps, run_hparams(cfg), calls)


def variant_names(runs: Sequence[RunEvals]) -> list[str]:
    """Per run, what sets it apart from the others: its student (when they start from different ones) and
    ``key=value`` for each config key whose value differs among ``runs`` (a path value by its last part)."""
    keys = sorted(k for k in {k for r in runs for k in r.settings} - NOT_A_VARIANT
                  if len({r.settings.get(k) for r in runs}) > 1)
    several_students = len({r.student for r in runs}) > 1
    names = []
    for r in runs:
        parts = [r.student] if several_students else []
        for key in keys:
            value = r.settings.get(key)
            parts.append(f"{key}={Path(value).name if isinstance(value, str) and '/' in value else value}")
        names.append(", ".join(parts))
    return names


def _finished(run_dir: Path, kind: str, metrics_file: Callable[[int], Path]) -> tuple[dict[int, np.ndarray], list[int]]:
    """Per-task counts of each ``kind`` evaluation whose round finished (its metrics file exists), and the rounds
    with eval episodes but no metrics file yet."""
    done: dict[int, np.ndarray] = {}
    unfinished = []
    for log_path in sorted((run_dir / "episodes").glob(f"{kind}_iter_*.jsonl")):
        i = int(log_path.stem.removeprefix(f"{kind}_iter_"))
        if not metrics_file(i).is_file():
            unfinished.append(i)
            continue
        counts = task_counts(episode_log.read_trajectories(episode_log.episode_log(run_dir, kind, i)))
        if len(counts):
            done[i] = counts
    return done, unfinished


def rates(counts: np.ndarray, metric: str) -> np.ndarray:
    """``metric`` of counts summed over the task axis (the second to last); NaN where nothing was measured."""
    col = 2 * METRICS.index(metric)
    return _ratio(counts[..., col].sum(axis=-1), counts[..., col + 1].sum(axis=-1))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def estimate(runs: Sequence[np.ndarray], metric: str, *, resamples: int = 2000, seed: int = 0) -> Estimate:
    """Mean over ``runs`` (each a (tasks, 6) count array) of ``metric``, with a 95% two-level bootstrap CI."""
    point = np.array([float(rates(c, metric)) for c in runs])
    tasks = max((len(c) for c in runs), default=0)
    if not runs or np.isnan(point).all():
        return Estimate(None, None, None, len(runs), tasks)
    rng = np.random.default_rng(seed)
    n, col = len(runs), 2 * METRICS.index(metric)
    # replicated[r, b, j]: run r's rate on its j-th independent task resample in replicate b
    replicated = np.empty((n, resamples, n))
    for r, c in enumerate(runs):
        picks = rng.integers(0, len(c), size=(resamples, n, len(c)))
        replicated[r] = _ratio(c[picks, col].sum(axis=-1), c[picks, col + 1].sum(axis=-1))
    chosen = rng.integers(0, n, size=(resamples, n))  # the runs (seeds) drawn in each replicate
    values = replicated[chosen, np.arange(resamples)[:, None], np.arange(n)[None, :]]
    with warnings.catch_warnings():  # a replicate whose drawn runs all measured nothing: NaN, dropped below
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(values, axis=1)
    low, high = (float(v) for v in np.percentile(means[~np.isnan(means)], [2.5, 97.5]))
    return Estimate(float(np.nanmean(point)), low, high, n, tasks)


def compare(runs: Sequence[RunEvals], *, resamples: int = 2000, seed: int = 0) -> dict[str, dict[int, dict[str,
                                                                                                         Estimate]]]:
    """group → iteration → metric → estimate over the runs of that group evaluated at that iteration, plus
    ``teacher_calls`` (the training collections' calls so far: mean over the runs, low/high their min/max). A group
    is a mode (``dagger``, ``bc``) or ``grpo`` (a GRPO phase's evaluated steps, keyed by step), as ``· variant`` when
    the runs differ (:func:`variant_names`)."""
    out: dict[str, dict[int, dict[str, Estimate]]] = {}
    rounds: dict[str, list[tuple[dict[int, np.ndarray], dict[int, float]]]] = {}
    for r, variant in zip(runs, variant_names(runs), strict=True):
        suffix = f" · {variant}" if variant else ""
        if r.iterations:
            rounds.setdefault(r.mode + suffix, []).append((r.iterations, r.teacher_calls))
        if r.grpo_steps:
            rounds.setdefault("grpo" + suffix, []).append((r.grpo_steps, {}))
    for name in sorted(rounds):
        per_run = rounds[name]
        steps = sorted({i for evals, _ in per_run for i in evals})
        out[name] = {i: {m: estimate([evals[i] for evals, _ in per_run if i in evals], m, resamples=resamples,
                                     seed=seed) for m in METRICS} for i in steps}
        for i in steps:
            calls = [c[i] for evals, c in per_run if i in evals and i in c]
            out[name][i]["teacher_calls"] = Estimate(float(np.mean(calls)) if calls else None,
                                                     min(calls, default=None), max(calls, default=None),
                                                     len(calls), 0)
    return out
