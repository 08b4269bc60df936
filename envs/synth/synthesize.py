"""Synthesize SWE-bench-style tasks from one project: mutate a function, keep it if real test runs show it breaks.

Pipeline per project: unpack → git repo (original commit) → venv (built once) → baseline (each test file run twice on
the original; only tests passing both times count) → candidate mutants, breadth-first over functions, run in
parallel on worker copies → kept mutants (≥ 1 selected test fails, no timeout) become parentless commits whose
revert diff is checked to restore the original tree exactly → :class:`~swe_dagger.envs.task.Task` rows.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import Progress

from swe_dagger.envs.synth.candidates import Candidate, project_candidates
from swe_dagger.envs.synth.mutations import KINDS, MutationError, apply_mutation
from swe_dagger.envs.synth.project import Project, load_project
from swe_dagger.envs.synth.runner import PytestRun, clean_node_id, pytest_command, run_tests
from swe_dagger.envs.synth.selection import under
from swe_dagger.envs.synth.task_build import OriginalRepo, build_task
from swe_dagger.envs.synth.venv import ensure_venv, runtime_requirements
from swe_dagger.envs.task import Task

_FAILED = ("FAILED", "ERROR")


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the synthesizer (defaults suit the default suite on 2 cores)."""

    seed: int = 0
    """Orders functions and mutants; same seed + same source → same tasks."""
    max_tasks: int | None = None
    """Stop after this many kept tasks for the project (``None``: no cap)."""
    max_per_function: int = 2
    """Kept mutants per function at most (keeps the suite diverse)."""
    max_tries_per_function: int = 4
    """Mutants tried per function at most (equivalent mutants are common)."""
    kinds: tuple[str, ...] = KINDS
    """Mutation kinds to use (see :mod:`swe_dagger.envs.synth.mutations`)."""
    workers: int = 2
    """Test runs in parallel (each on its own copy of the project)."""
    pytest_spec: str = "pytest>=8,<9"
    """pytest installed in the project's venv."""
    min_timeout_s: float = 30.0
    """Floor of a mutant run's time limit (the limit is ``timeout_factor`` × the baseline run, at least this)."""
    timeout_factor: float = 5.0
    max_selected_items: int = 25
    """More test items than this naming a function → run the whole test files instead."""


@dataclass(frozen=True)
class SynthStats:
    """What happened to the candidates (none silently dropped)."""

    candidates: int = 0
    tried: int = 0
    kept: int = 0
    survived: int = 0
    """Mutants no selected test noticed (equivalent or untested behaviour)."""
    timed_out: int = 0
    invalid: int = 0
    """Mutations whose text did not parse back to a different program."""
    reasons: dict[str, int] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class SynthResult:
    project: Project
    tasks: tuple[Task, ...]
    stats: SynthStats
    repo: Path
    venv: Path


def _baseline(
    project: Project, workdirs: Sequence[Path], venv: Path, pool: ThreadPoolExecutor
) -> tuple[dict[str, str], dict[str, float]]:
    """Statuses of every test of the relevant files that PASSED twice on the original, and each file's run time."""
    files = sorted({t for m in project.modules for t in m.tests})

    def run(i: int, test_file: str) -> PytestRun:
        cmd = pytest_command([test_file], project.pythonpath)
        return run_tests(workdirs[i % len(workdirs)], venv, cmd, timeout_s=600)

    runs = list(pool.map(run, range(2 * len(files)), files + files))
    passed: dict[str, str] = {}
    durations: dict[str, float] = {}
    for i, test_file in enumerate(files):
        first, second = runs[i], runs[i + len(files)]
        durations[test_file] = max(first.duration_s, second.duration_s)
        for node_id, status in first.statuses.items():
            if status == "PASSED" and second.statuses.get(node_id) == "PASSED" and clean_node_id(node_id):
                passed[node_id] = status
    return passed, durations


@dataclass(frozen=True)
class _Outcome:
    candidate: Candidate
    mutated: str
    run: PytestRun | None
    fail_to_pass: tuple[str, ...] = ()
    pass_to_pass: tuple[str, ...] = ()
    reason: str = ""


def _try(
    cand: Candidate, workdir: Path, project: Project, venv: Path, baseline: dict[str, str], timeout_s: float
) -> _Outcome:
    path = workdir / cand.module.module
    original = path.read_text(encoding="utf-8")
    try:
        mutated = apply_mutation(original, cand.mutation, cand.module.module)
    except MutationError:
        return _Outcome(cand, "", None, reason="invalid")
    expected = [t for t in baseline if under(t, cand.selection)]
    if not expected:
        return _Outcome(cand, mutated, None, reason="no baseline test")
    path.write_text(mutated, encoding="utf-8")
    try:
        run = run_tests(workdir, venv, pytest_command(cand.selection, project.pythonpath), timeout_s=timeout_s)
    finally:
        path.write_text(original, encoding="utf-8")
    if run.timed_out:
        return _Outcome(cand, mutated, run, reason="timed out")
    f2p = tuple(t for t in expected if run.statuses.get(t) in _FAILED)
    p2p = tuple(t for t in expected if run.statuses.get(t) == "PASSED")
    return _Outcome(cand, mutated, run, f2p, p2p, "" if f2p else "survived")


def synthesize_project(
    source: str, work_dir: Path, config: SynthConfig = SynthConfig(), *, progress: bool = True
) -> SynthResult:
    """Tasks from ``source`` (a directory or ``name==version``); repos, venvs and sdists live under ``work_dir``."""
    project = load_project(source, work_dir)
    repo = OriginalRepo.create(project, work_dir / "repos" / project.name)
    venv = ensure_venv(
        work_dir / "venvs" / project.name, runtime_requirements(project.root), pytest_spec=config.pytest_spec
    )
    scratch = work_dir / "scratch" / project.name
    shutil.rmtree(scratch, ignore_errors=True)
    workdirs = [scratch / f"w{i}" for i in range(max(1, config.workers))]
    for wd in workdirs:
        shutil.copytree(project.root, wd, ignore=shutil.ignore_patterns(".git", "__pycache__", ".complete"))
    try:
        with ThreadPoolExecutor(len(workdirs)) as pool:
            baseline, durations = _baseline(project, workdirs, venv, pool)
            per_function = project_candidates(
                project,
                seed=config.seed,
                kinds=config.kinds,
                max_tries=config.max_tries_per_function,
                max_items=config.max_selected_items,
            )
            outcomes = _run_rounds(per_function, workdirs, project, venv, baseline, durations, config, pool, progress)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if scratch.parent.is_dir() and not any(scratch.parent.iterdir()):
            scratch.parent.rmdir()
    tasks = tuple(build_task(project, repo, venv, o.candidate, o.mutated, o.run, o.fail_to_pass, o.pass_to_pass)
                  for o in outcomes if not o.reason)  # fmt: skip
    reasons: dict[str, int] = {}
    for o in outcomes:
        reasons[o.reason or "kept"] = reasons.get(o.reason or "kept", 0) + 1
    stats = SynthStats(
        candidates=sum(len(c) for c in per_function),
        tried=len(outcomes),
        kept=len(tasks),
        survived=reasons.get("survived", 0),
        timed_out=reasons.get("timed out", 0),
        invalid=reasons.get("invalid", 0),
        reasons=reasons,
    )
    return SynthResult(project, tasks, stats, repo.path, venv)


def _run_rounds(
    per_function: list[list[Candidate]],
    workdirs: list[Path],
    project: Project,
    venv: Path,
    baseline: dict[str, str],
    durations: dict[str, float],
    config: SynthConfig,
    pool: ThreadPoolExecutor,
    progress: bool,
) -> list[_Outcome]:
    """Breadth-first rounds (each function's next mutant), in chunks whose results are accounted in candidate
    order, so the kept set depends on the seed only, not on thread timing."""
    kept_per_fn: dict[str, int] = {}
    outcomes: list[_Outcome] = []
    cap = config.max_tasks if config.max_tasks is not None else 10**9
    chunk = 4 * len(workdirs)
    total = sum(len(c) for c in per_function)
    with Progress(disable=not progress) as bar:
        job = bar.add_task(f"mutants of {project.name}", total=total)
        for round_no in range(config.max_tries_per_function):
            todo = [fn[round_no] for fn in per_function if round_no < len(fn)]
            todo = [c for c in todo if kept_per_fn.get(c.function_key, 0) < config.max_per_function]
            for start in range(0, len(todo), chunk):
                kept = sum(1 for o in outcomes if not o.reason)
                if kept >= cap:
                    return outcomes
                batch = todo[start : start + chunk]

                def attempt(worker: int, cand: Candidate) -> _Outcome:
                    spent = sum(durations.get(t, 0.0) for t in cand.module.tests)
                    limit = max(config.min_timeout_s, config.timeout_factor * spent)
                    return _try(cand, workdirs[worker], project, venv, baseline, limit)

                results = _map_on_workers(pool, attempt, batch, len(workdirs))
                for outcome in results:
                    key = outcome.candidate.function_key
                    if not outcome.reason:
                        if kept_per_fn.get(key, 0) >= config.max_per_function or kept >= cap:
                            outcome = _Outcome(outcome.candidate, outcome.mutated, outcome.run, reason="over cap")
                        else:
                            kept_per_fn[key] = kept_per_fn.get(key, 0) + 1
                            kept += 1
                    outcomes.append(outcome)
                    bar.advance(job)
    return outcomes


def _map_on_workers(
    pool: ThreadPoolExecutor, fn: Callable[[int, Candidate], _Outcome], batch: list[Candidate], workers: int
) -> list[_Outcome]:
    """``fn(worker, item)`` for every item, worker ``i`` taking items ``i, i+n, …`` (one workdir per worker);
    results in batch order."""

    def lane(worker: int) -> list[_Outcome]:
        return [fn(worker, cand) for cand in batch[worker::workers]]

    lanes = list(pool.map(lane, range(workers)))
    return [lanes[i % workers][i // workers] for i in range(len(batch))]
