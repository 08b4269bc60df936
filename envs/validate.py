"""Task health: does each task grade FULL with its gold patch, NO with no patch, and the same way every time?

A task passes when every gold run is FULL, every empty run is NO, and no run differs from another of its kind
(verdict or any listed test's status): otherwise it is flagged (flaky, broken, or trivially solved). Passing tasks
are marked with ``Task.extra["validated"]`` (see :attr:`Task.validated`); the env refuses unmarked tasks unless
``allow_unvalidated=True``, so training never runs on a task whose reward is wrong.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from swe_dagger.envs.evaluation import Evaluation, evaluate_patch
from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.task import VALIDATED_KEY, Task
from swe_dagger.sandbox.protocol import Limits, WorkspaceSource


@dataclass(frozen=True)
class RunVerdict:
    """One graded test run: the verdict, or the error that prevented one."""

    resolution: str | None
    error: str | None
    duration_s: float
    failing: tuple[str, ...] = ()
    """Listed (FAIL_TO_PASS + PASS_TO_PASS) tests that did not pass in this run."""


@dataclass(frozen=True)
class TaskValidation:
    """All runs of one task and the conclusion drawn from them."""

    instance_id: str
    gold: tuple[RunVerdict, ...]
    empty: tuple[RunVerdict, ...]
    duration_s: float

    @property
    def flaky(self) -> bool:
        """Runs of the same patch disagree (verdict or which listed tests fail)."""
        return any(len({(r.resolution, r.failing) for r in runs}) > 1 for runs in (self.gold, self.empty))

    @property
    def problems(self) -> tuple[str, ...]:
        """Why the task fails validation (empty when it passes)."""
        found = [f"{kind} run errored: {r.error}" for kind, runs in (("gold", self.gold), ("empty", self.empty))
                 for r in runs if r.error]
        found += [f"gold patch graded {r.resolution}" for r in self.gold if r.resolution not in (None, "FULL")]
        found += [f"empty patch graded {r.resolution}" for r in self.empty if r.resolution not in (None, "NO")]
        if self.flaky:
            found.append("flaky: reruns disagree")
        return tuple(dict.fromkeys(found))

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ValidationReport:
    """The outcome for a whole task file, in input order."""

    results: tuple[TaskValidation, ...]
    reruns: int
    sandbox: str
    duration_s: float

    @property
    def passed_ids(self) -> tuple[str, ...]:
        return tuple(r.instance_id for r in self.results if r.passed)

    def validated_tasks(self, tasks: Sequence[Task]) -> list[Task]:
        """The tasks that passed, marked validated (input order kept)."""
        by_id = {r.instance_id: r for r in self.results}
        runs = 1 + self.reruns
        return [
            dataclasses.replace(t, extra={**t.extra, VALIDATED_KEY: f"gold=FULL empty=NO runs={runs}"})
            for t in tasks
            if t.instance_id in by_id and by_id[t.instance_id].passed
        ]

    def to_json(self) -> dict[str, object]:
        return {
            "sandbox": self.sandbox,
            "reruns": self.reruns,
            "duration_s": round(self.duration_s, 3),
            "total": len(self.results),
            "passed": len(self.passed_ids),
            "flaky": [r.instance_id for r in self.results if r.flaky],
            "tasks": [
                {**dataclasses.asdict(r), "flaky": r.flaky, "passed": r.passed, "problems": list(r.problems)}
                for r in self.results
            ],
        }


def _verdict(run: Callable[[], Evaluation]) -> RunVerdict:
    start = time.monotonic()
    try:
        evaluation = run()
    except Exception as exc:  # recorded per run: one broken task must not stop the others
        return RunVerdict(None, f"{type(exc).__name__}: {exc}", time.monotonic() - start)
    failing = (*evaluation.report.f2p_failure, *evaluation.report.p2p_failure)
    return RunVerdict(evaluation.resolution, None, time.monotonic() - start, tuple(sorted(failing)))


def validate_task(task: Task, *, sandbox: str = "local", reruns: int = 2, test_timeout_s: float = 900.0,
                  limits: Limits | None = None) -> TaskValidation:
    """Grade ``task`` with no patch and with its gold patch, ``1 + reruns`` times each, in one workspace."""
    from swe_dagger.sandbox.factory import open_sandbox

    start = time.monotonic()
    try:
        source = WorkspaceSource(task.repo_path, task.base_commit or None) if task.repo_path else None
        box = open_sandbox(sandbox, source, limits=limits or Limits(),
                           runtime=task.venv if sandbox != "docker" else None, image=task.image)
    except Exception as exc:
        failed = (RunVerdict(None, f"opening the sandbox failed: {type(exc).__name__}: {exc}", 0.0),)
        return TaskValidation(task.instance_id, failed, failed, time.monotonic() - start)

    def graded(patch: str) -> RunVerdict:
        return _verdict(lambda: evaluate_patch(box, task, patch, test_timeout_s))

    with box:
        empty = tuple(graded("") for _ in range(1 + reruns))
        gold: tuple[RunVerdict, ...] = (graded(task.patch),)
        if gold[0].error is None:  # a gold patch that doesn't apply fails the same way every time
            gold += tuple(graded(task.patch) for _ in range(reruns))
    return TaskValidation(task.instance_id, gold, empty, time.monotonic() - start)


def validate_tasks(tasks: Sequence[Task], *, sandbox: str = "local", reruns: int = 2, workers: int = 2,
                   progress: bool = True, test_timeout_s: float = 900.0, limits: Limits | None = None
                   ) -> ValidationReport:
    """Validate every task (``workers`` at a time) and return the report, in input order."""
    from rich.progress import Progress

    if reruns < 0 or workers < 1:
        raise ValueError(f"reruns must be >= 0 and workers >= 1 (got reruns={reruns}, workers={workers})")
    start = time.monotonic()

    def one(task: Task) -> TaskValidation:
        return validate_task(task, sandbox=sandbox, reruns=reruns, test_timeout_s=test_timeout_s, limits=limits)

    with ThreadPoolExecutor(max_workers=workers) as pool, Progress(disable=not progress, transient=True) as bar:
        job = bar.add_task("validating tasks", total=len(tasks))
        results = []
        for result in pool.map(one, tasks):
            results.append(result)
            bar.advance(job)
    return ValidationReport(tuple(results), reruns, sandbox, time.monotonic() - start)


def write_validation(report: ValidationReport, tasks: Sequence[Task], out_dir: Path, name: str) -> tuple[Path, Path]:
    """Write ``<name>.report.json`` and ``<name>.validated.jsonl`` (passing tasks, marked) under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report_path = out_dir / f"{name}.report.json"
    report_path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    validated_path = save_tasks(report.validated_tasks(tasks), out_dir / f"{name}.validated.jsonl")
    return report_path, validated_path
