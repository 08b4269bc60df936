"""``swe-dagger sandbox``: check which backends work here, remove leaked workspaces and containers."""

from __future__ import annotations

import os

import typer
from rich.console import Console
from rich.table import Table

from swe_dagger.sandbox.protocol import SandboxUnavailable

app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False)
_console = Console()


def backend_status() -> dict[str, str | None]:
    """Backend name -> ``None`` when usable here, else the reason (with how to fix it)."""
    from swe_dagger.sandbox.docker_support import connect
    from swe_dagger.sandbox.local import find_bwrap

    status: dict[str, str | None] = {}
    try:
        find_bwrap()
        status["local"] = None
    except SandboxUnavailable as exc:
        status["local"] = str(exc)
    try:
        connect().close()
        status["docker"] = None
    except SandboxUnavailable as exc:
        status["docker"] = str(exc)
    return status


@app.command()
def check() -> None:
    """Report which sandbox backends are available on this machine, and why not."""
    table = Table("backend", "available", "details")
    status = backend_status()
    for name, reason in status.items():
        detail = reason or ""
        if name == "local" and reason is None:
            detail = "root: commands run as a per-workspace uid" if os.geteuid() == 0 else "user namespaces"
        table.add_row(name, "yes" if reason is None else "no", detail)
    _console.print(table)
    if all(reason is not None for reason in status.values()):
        raise typer.Exit(1)


@app.command()
def gc(
    all_: bool = typer.Option(False, "--all", help="Remove every swe-dagger sandbox, even ones still in use."),
    older_than: float | None = typer.Option(
        None, "--older-than", help="Also remove sandboxes created more than this many seconds ago."
    ),
) -> None:
    """Remove leaked sandboxes: local workspace directories and docker containers (by default: those whose owner
    process is gone)."""
    from swe_dagger.sandbox.docker_support import connect, remove_leaked
    from swe_dagger.sandbox.local_gc import remove_leaked_workspaces

    workspaces = remove_leaked_workspaces(everything=all_, older_than_s=older_than)
    for item in workspaces:
        _console.print(f"removed workspace {item.name} (owner {item.owner}, {item.age_s:.0f} s old)")
    _console.print(f"{len(workspaces)} local workspace(s) removed")
    try:
        client = connect()
    except SandboxUnavailable as exc:
        _console.print(f"docker: skipped ({exc})")
        return
    try:
        removed = remove_leaked(client, everything=all_, older_than_s=older_than)
    finally:
        client.close()
    for item in removed:
        _console.print(f"removed {item.name} (owner {item.owner}, {item.age_s:.0f} s old)")
    _console.print(f"{len(removed)} container(s) removed")
