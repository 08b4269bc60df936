"""One registry shape for backends and plugins: short name -> ``"pkg.module:Attr"``.

Lives in the lowest layer (``sandbox``) so every folder can use it without reaching sideways.
Full dotted paths (``pkg.module:Class``) are accepted too, and third parties add names through an
entry-point group. An unknown name raises an error that lists what exists.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any


class UnknownNameError(KeyError):
    """A name that is neither registered, an entry point, nor an importable ``pkg.module:Attr``."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def load_object(path: str) -> Any:
    """Import ``"pkg.module:Attr"`` (or ``"pkg.module.Attr"``) and return the attribute."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"not an import path: {path!r} (expected 'pkg.module:Attr')")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise ImportError(f"module {module_name!r} has no attribute {attr!r} (from {path!r})") from exc


class Registry:
    """Lazy name -> object lookup for one kind of component (e.g. ``"teacher"``)."""

    def __init__(self, kind: str, builtins: Mapping[str, str], entry_point_group: str | None = None) -> None:
        self.kind = kind
        self._builtins = dict(builtins)
        self._group = entry_point_group

    def _plugins(self) -> dict[str, str]:
        if self._group is None:
            return {}
        return {ep.name: ep.value for ep in entry_points(group=self._group)}

    def names(self) -> list[str]:
        """Every short name available: built-ins and installed plugins."""
        return sorted({*self._builtins, *self._plugins()})

    def resolve(self, name: str) -> Any:
        """Return the object behind ``name``; unknown names list the available ones."""
        target = self._builtins.get(name) or self._plugins().get(name)
        if target is None and (":" in name or "." in name):
            target = name
        if target is None:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; available: {', '.join(self.names()) or '(none)'}"
                f" (or give a full import path 'pkg.module:Class')"
            )
        return load_object(target)
