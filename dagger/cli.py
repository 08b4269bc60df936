"""The ``swe-dagger`` command: one Typer app whose sub-apps live beside the code they drive."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from swe_dagger.dagger.logs import setup_logging

app = typer.Typer(
    name="swe-dagger",
    help="Train small SWE agents by DAgger (+ RLVR), evaluate them on SWE-bench.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# (sub-command name, module holding a Typer app called `app`, help)
_SUBAPPS = [
    ("sandbox", "swe_dagger.sandbox.cli", "Sandbox maintenance (gc of leaked containers, checks)."),
    ("tasks", "swe_dagger.envs.cli", "Task suites: validate, synthesize, prepare the default suite."),
    ("student", "swe_dagger.agents.cli", "Student models: build a tiny local student."),
]


@app.callback()
def _root(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log lines on stderr: -v info, "
                                         "-vv debug (with the HTTP/lock lines of libraries).")] = 0,
    quiet: Annotated[int, typer.Option("--quiet", "-q", count=True, help="Only errors in the log.")] = 0,
) -> None:
    """Options before the command: the log's verbosity (``swe-dagger -v train ...``)."""
    setup_logging(verbose - quiet)


@app.command()
def version() -> None:
    """Print the installed swe-dagger version."""
    from importlib.metadata import version as _v

    typer.echo(_v("swe-dagger"))


_mounted: list[bool] = []


def mount_subapps() -> None:
    """Add every sub-command to ``app`` (once; main() and tests call it)."""
    if _mounted:
        return
    _mounted.append(True)
    for name, module_name, help_text in _SUBAPPS:
        app.add_typer(importlib.import_module(module_name).app, name=name, help=help_text)
    for module_name in ("swe_dagger.dagger.run_cli", "swe_dagger.dagger.eval.swebench_cli",
                        "swe_dagger.dagger.view.cli", "swe_dagger.dagger.sft.export",
                        "swe_dagger.dagger.eval.compare_cli"):
        importlib.import_module(module_name).register(app)


def main() -> None:
    setup_logging(0)  # before any import can call logging.basicConfig(level=INFO); the callback sets -v/-q's level
    mount_subapps()
    app()


if __name__ == "__main__":
    main()
