"""Which tests exercise a function: the top-level test functions/classes of its module's test files that name it.

Running only those (``file::Item`` node ids) keeps each task's test run short on big test files, and a function
no test names is not worth mutating (no test could notice).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SuiteItem:
    """A top-level test function or class of a test file, and its source text."""

    file: str
    name: str
    text: str


def suite_items(root: Path, test_file: str) -> list[SuiteItem]:
    """Top-level ``test*`` functions and classes holding ``test*`` methods, in file order."""
    source = (root / test_file).read_text(encoding="utf-8")
    items = []
    for node in ast.parse(source, filename=test_file).body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        is_test_func = not isinstance(node, ast.ClassDef) and node.name.startswith("test")
        is_test_class = isinstance(node, ast.ClassDef) and any(
            isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test") for n in node.body
        )
        if is_test_func or is_test_class:
            items.append(SuiteItem(test_file, node.name, ast.get_source_segment(source, node) or ""))
    return items


def mention_name(qualname: str) -> str | None:
    """The name tests would use for a function: ``f``, or a method's name (its class's for dunder/private ones)."""
    cls, _, meth = qualname.rpartition(".")
    if meth.startswith("_"):
        return cls if cls and not cls.startswith("_") else None
    return meth


def select_tests(items: Sequence[SuiteItem], qualname: str, *, max_items: int) -> tuple[str, ...]:
    """Test files or ``file::Item`` ids that name the function; ``()`` when none does.

    A file whose every item is selected, or a selection over ``max_items`` items, is given as whole files.
    """
    name = mention_name(qualname)
    if name is None:
        return ()
    word = re.compile(rf"\b{re.escape(name)}\b")
    chosen = [item for item in items if word.search(item.text)]
    if not chosen:
        return ()
    files = list(dict.fromkeys(item.file for item in chosen))
    per_file = {f: [i for i in items if i.file == f] for f in files}
    if len(chosen) > max_items or all(len([c for c in chosen if c.file == f]) == len(per_file[f]) for f in files):
        return tuple(files)
    return tuple(f"{item.file}::{item.name}" for item in chosen)


def under(node_id: str, selection: Sequence[str]) -> bool:
    """True when the test ``node_id`` is one that running ``selection`` runs."""
    return any(node_id == s or node_id.startswith((f"{s}::", f"{s}[")) for s in selection)


def selected_outcomes(baseline: Mapping[str, str], selection: Sequence[str]) -> dict[str, str]:
    """The part of a whole-file baseline ``{node id: status}`` that ``selection`` covers."""
    return {t: s for t, s in baseline.items() if under(t, selection)}
