"""``swe-dagger view``: a static HTML site of a run's (or an evaluation's) episodes, mounted by ``register(app)``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def view_command(
    source: Annotated[Path, typer.Argument(help="A run dir, a swe-dagger eval / swebench-eval folder, or one "
                                           "trajectory file (.jsonl / .json).")],
    out: Annotated[Path | None, typer.Option("--out", help="Site folder (default: RUN_DIR/view or FILE.view).")] = None,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the index in the default browser.")] = False,
) -> None:
    """Write a self-contained HTML viewer (no server, no network): an index of episodes and a page per episode."""
    from swe_dagger.dagger.rollout.serialize import RecordFormatError
    from swe_dagger.dagger.view.site import write_site

    try:
        index, episodes = write_site(source, out)
    except (FileNotFoundError, RecordFormatError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{len(episodes)} episodes → {index}")
    if open_browser:
        import webbrowser

        webbrowser.open(index.resolve().as_uri())


def register(app: typer.Typer) -> None:
    app.command("view")(view_command)
