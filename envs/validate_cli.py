"""``swe-dagger tasks validate FILE``: grade gold and empty patches, flag flaky tasks, write the filtered file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swe_dagger.sandbox.factory import BACKENDS
from swe_dagger.sandbox.registry_param import registry_option


def validate(
    file: Annotated[Path, typer.Argument(help="Task file (.json, .jsonl, .parquet) to validate.")],
    sandbox: Annotated[str, typer.Option(help="Sandbox backend: local (bubblewrap), docker, or a plugin.",
                                         **registry_option(BACKENDS))] = "local",
    reruns: Annotated[int, typer.Option(min=0, help="Extra runs of each patch; disagreeing runs flag it flaky.")] = 2,
    workers: Annotated[int, typer.Option(min=1, help="Tasks validated concurrently.")] = 2,
    out: Annotated[Path | None, typer.Option(help="Output directory (default: the task file's directory).")] = None,
    test_timeout: Annotated[float, typer.Option(help="Seconds allowed for one test run.")] = 900.0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
) -> None:
    """Check every task: gold patch grades FULL, empty patch NO, reruns agree (else: flaky).

    Writes <name>.report.json and <name>.validated.jsonl (the passing tasks, marked validated; training
    refuses unmarked tasks unless told to allow them).
    """
    from rich.console import Console

    from swe_dagger.envs.loading import TaskFormatError, load_tasks
    from swe_dagger.envs.validate import validate_tasks, write_validation

    console = Console(soft_wrap=True)
    try:
        tasks = load_tasks(file)
    except TaskFormatError as exc:
        typer.echo(f"bad task file: {exc}", err=True)
        raise typer.Exit(2) from exc
    report = validate_tasks(tasks, sandbox=sandbox, reruns=reruns, workers=workers, test_timeout_s=test_timeout,
                            progress=progress)
    name = file.name.split(".")[0]
    report_path, validated_path = write_validation(report, tasks, out or file.parent, name)
    for result in report.results:
        if not result.passed:
            console.print(f"[red]FAIL[/red] {result.instance_id}: {'; '.join(result.problems)}")
    console.print(
        f"{len(report.passed_ids)}/{len(tasks)} tasks passed in {report.duration_s:.1f} s; "
        f"report: {report_path}; validated tasks: {validated_path}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``validate`` command to the ``tasks`` app."""
    app.command("validate")(validate)
