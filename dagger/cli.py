"""The ``swe-dagger`` command: one Typer app whose sub-apps live beside the code they drive."""

from __future__ import annotations

import importlib
import logging

import typer

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


@app.command()
def version() -> None:
    """Print the installed swe-dagger version."""
    from importlib.metadata import version as _v

    typer.echo(_v("swe-dagger"))


def _mount_subapps() -> None:
    for name, module_name, help_text in _SUBAPPS:
        app.add_typer(importlib.import_module(module_name).app, name=name, help=help_text)
    for module_name in ("swe_dagger.dagger.run_cli", "swe_dagger.dagger.eval.swebench_cli",
                        "swe_dagger.dagger.view.cli", "swe_dagger.dagger.sft.export",
                        "swe_dagger.dagger.eval.compare_cli"):
        importlib.import_module(module_name).register(app)


def main() -> None:
    # importing swebench (grading) calls logging.basicConfig(level=INFO): keep httpx from logging every teacher request
    logging.getLogger("httpx").setLevel(logging.WARNING)
    _mount_subapps()
    app()


if __name__ == "__main__":
    main()
