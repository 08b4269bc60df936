"""Pairing modules with tests by what the tests import, for projects whose test files are not named after modules
(``test.py`` at the root importing the package, ``tests/test_basic.py``, ...).

A test file goes with every project module it imports: ``import pkg.mod``, ``from pkg.mod import f``,
``from pkg import mod``, and, through a package's ``__init__.py``, the modules it re-exports (``from .mod import *``,
followed from ``__init__`` to ``__init__``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

LAYOUTS = (
    "the package at the root or under src/ (pkg/mod.py or src/pkg/mod.py); tests named after a module "
    "(test_<module>.py or <module>_test.py, anywhere), or else any test file (test*.py, *_test.py, tests.py, or a .py "
    "under tests/ or test/) that imports the package's modules, directly or through its __init__.py"
)
"""What ``swe-dagger tasks synthesize`` can read, in one sentence (its help and its errors say it)."""


def any_test_file(rel: Path) -> bool:
    """A file that holds tests by the usual conventions, whatever module it is named after."""
    name = rel.name
    if not name.endswith(".py") or name in ("conftest.py", "__init__.py"):
        return False
    in_tests_dir = any(part in ("tests", "test") for part in rel.parts[:-1])
    return name.startswith("test") or name.endswith("_test.py") or name == "tests.py" or in_tests_dir


def _dotted(rel: Path, pythonpath: str) -> str:
    parts = list(rel.with_suffix("").parts)
    if pythonpath and parts[:1] == [pythonpath]:
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imported_names(tree: ast.AST, package: str | None = None) -> set[str]:
    """Dotted names an AST imports (``from a import b`` gives ``a`` and ``a.b``); relative imports resolve against
    ``package`` (the importing ``__init__``'s own package), else they are skipped."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if package is None:
                    continue
                base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _parse(path: Path) -> ast.AST | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8", errors="replace"), filename=str(path))
    except SyntaxError:
        return None


def modules_by_import(root: Path, files: Iterable[Path], code: Iterable[Path]) -> dict[str, tuple[str, ...]]:
    """Module path → the test files (paths relative to ``root``) that import it; modules no test imports are left
    out. ``files``: every Python file of the project; ``code``: the modules that may be mutated."""
    files = list(files)
    pythonpath = "src" if any(rel.parts[0] == "src" for rel in code) else ""
    by_name = {_dotted(rel, pythonpath): rel for rel in files if not any_test_file(rel)}
    mutable = {rel.as_posix() for rel in code}
    reexports: dict[str, set[str]] = {}  # package name -> names its __init__ imports
    for name, rel in by_name.items():
        if rel.name == "__init__.py" and (tree := _parse(root / rel)) is not None:
            reexports[name] = _imported_names(tree, package=name)
    paired: dict[str, list[str]] = {}
    for rel in files:
        if not any_test_file(rel) or (tree := _parse(root / rel)) is None:
            continue
        for module in sorted(_reached(_imported_names(tree), by_name, reexports) & mutable):
            paired.setdefault(module, []).append(rel.as_posix())
    return {module: tuple(tests) for module, tests in sorted(paired.items())}


def _reached(names: set[str], by_name: dict[str, Path], reexports: dict[str, set[str]]) -> set[str]:
    """Module paths of ``names``, following packages' re-exports."""
    seen: set[str] = set()
    todo = [n for n in names if n in by_name]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [n for n in reexports.get(name, ()) if n in by_name and n not in seen]
    return {by_name[n].as_posix() for n in seen}
