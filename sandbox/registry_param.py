"""Command-line values that must be a name in a :class:`~swe_dagger.sandbox.registry.Registry`.

Sandbox backends, policy backends and teachers are open sets (plugins, ``pkg.module:Class``), so they cannot be a
``Literal``; these helpers check the name when the command line is parsed (an unknown one is a usage error that
lists the available names) and show the names in ``--help``::

    typer.Option("--sandbox", **registry_option(BACKENDS))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from swe_dagger.sandbox.registry import Registry, UnknownNameError


def registry_option(registry: Registry) -> dict[str, Any]:
    """Keyword arguments for ``typer.Option``/``typer.Argument``: ``parser`` (resolves the name, keeps the text),
    ``metavar`` (the names, e.g. ``[docker|local|pkg.module:Class]``) and shell completion of the names."""
    def parse(value: str) -> str:
        try:
            registry.resolve(value)
        except (UnknownNameError, ImportError, ValueError) as exc:
            raise ValueError(str(exc)) from None  # the CLI shows it as "Invalid value for '--opt': ..."
        return value

    def complete(incomplete: str) -> list[str]:
        return [n for n in registry.names() if n.startswith(incomplete)]

    complete_names: Callable[[str], list[str]] = complete
    return {"parser": parse, "metavar": "[" + "|".join([*registry.names(), "pkg.module:Class"]) + "]",
            "autocompletion": complete_names}
