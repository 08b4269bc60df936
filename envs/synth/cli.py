"""``swe-dagger tasks synthesize SOURCE --out FILE`` and ``swe-dagger tasks default``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swe_dagger.sandbox.factory import BACKENDS
from swe_dagger.sandbox.registry_param import registry_option


def synthesize(
    source: Annotated[str, typer.Argument(help="A project directory with a test suite, or a PyPI pin name==version.")],
    out: Annotated[Path, typer.Option("--out", help="JSONL file to write the tasks to (split files beside it).")],
    work_dir: Annotated[
        Path | None, typer.Option(help="Where repos/venvs/sdists go (default: a folder beside --out).")
    ] = None,
    max_tasks: Annotated[int | None, typer.Option(help="Stop after this many tasks.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for mutant order and the split.")] = 0,
    workers: Annotated[int, typer.Option(help="Parallel test runs.")] = 2,
    test_fraction: Annotated[float, typer.Option(help="Share of functions whose tasks go to the test split.")] = 0.2,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
) -> None:
    """Mutate functions of SOURCE; keep mutants that break tests; write SWE-bench-style task rows.

    Layouts: the package at the root or under src/; tests named after a module (test_<module>.py or
    <module>_test.py, anywhere), or else any test file (test*.py, *_test.py, tests.py, a .py under tests/ or test/)
    that imports the package's modules, directly or through its __init__.py.
    """
    from swe_dagger.envs.loading import save_tasks
    from swe_dagger.envs.synth.project import SourceError
    from swe_dagger.envs.synth.split import split_by_function
    from swe_dagger.envs.synth.synthesize import SynthConfig, synthesize_project

    work = work_dir or out.parent / f"{out.stem}.work"
    config = SynthConfig(seed=seed, max_tasks=max_tasks, workers=workers)
    try:
        result = synthesize_project(source, work.resolve(), config, progress=progress)
    except SourceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    tasks = list(result.tasks)
    save_tasks(tasks, out)
    train, test = split_by_function(tasks, test_fraction=test_fraction, seed=seed)
    save_tasks(train, out.with_name(f"{out.stem}.train.jsonl"))
    save_tasks(test, out.with_name(f"{out.stem}.test.jsonl"))
    s = result.stats
    typer.echo(
        f"{len(tasks)} tasks from {result.project.name} {result.project.version} -> {out} "
        f"(train {len(train)}, test {len(test)}; tried {s.tried} of {s.candidates} candidates: {s.reasons})"
    )


def default(
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the cache holds the suite.")] = False,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Cache dir (default $SWE_DAGGER_CACHE or ~/.cache/swe-dagger).")
    ] = None,
    max_tasks: Annotated[int | None, typer.Option(help="Cap the suite (small suites for smoke tests).")] = None,
    sandbox: Annotated[str, typer.Option(help="Sandbox backend used to validate the tasks.",
                                         **registry_option(BACKENDS))] = "local",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
) -> None:
    """Prepare the default suite (validated tasks from pinned sdists) in the cache; instant when cached."""
    from swe_dagger.envs.synth.default_suite import SuiteCacheError, ensure_default_suite

    try:  # a cache the sandbox hides is refused before any work
        suite = ensure_default_suite(cache, max_tasks=max_tasks, progress=progress, force=force, sandbox=sandbox)
    except SuiteCacheError as exc:
        typer.echo(f"error: --cache: {exc}", err=True)
        raise typer.Exit(2) from None
    how = "cached" if suite.prep_s == 0.0 else f"prepared in {suite.prep_s:.0f} s"
    typer.echo(f"default suite ({how}): {suite.n_train} train + {suite.n_test} test tasks")
    typer.echo(f"train: {suite.train_path}\ntest:  {suite.test_path}\nmanifest: {suite.manifest_path}")


def register(app: typer.Typer) -> None:
    """Add ``synthesize`` and ``default`` to the ``swe-dagger tasks`` app."""
    app.command("synthesize")(synthesize)
    app.command("default")(default)
