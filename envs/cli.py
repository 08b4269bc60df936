"""``swe-dagger tasks ...``: task-suite commands. Each command group registers itself from its own module."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(no_args_is_help=True)

for _module in ("swe_dagger.envs.validate_cli", "swe_dagger.envs.synth.cli"):
    importlib.import_module(_module).register(app)
