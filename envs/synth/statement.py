"""Problem statements written from a mutant's real failing test output (no LLM): which function misbehaves,
what its docstring says it should do, which tests fail, and the assertion lines pytest printed.

The statement never quotes the fix: callers pass the gold patch's added lines and any excerpt line holding one of
them is left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_SECTION = re.compile(r"^_{3,} (?P<title>.+?) _{3,}$")
_MAX_TESTS_LISTED = 8
_MAX_SECTIONS = 2
_MAX_LINES_PER_SECTION = 8
_MAX_LINE_CHARS = 300


def dotted_name(module_path: str, qualname: str) -> str:
    """``toolz/itertoolz.py`` + ``partition_all`` → ``toolz.itertoolz.partition_all`` (``src/`` and ``__init__``
    dropped)."""
    parts = module_path.removesuffix(".py").split("/")
    if parts and parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([*parts, qualname])


def failure_excerpts(log: str) -> list[tuple[str, list[str]]]:
    """``(test title, its "E " lines)`` for each section of pytest's FAILURES block, in order."""
    sections: list[tuple[str, list[str]]] = []
    in_failures = False
    for line in log.splitlines():
        if line.startswith("=") and "FAILURES" in line:
            in_failures = True
            continue
        if in_failures and line.startswith("=") and line.rstrip().endswith("="):
            break  # next block (short test summary)
        match = _SECTION.match(line) if in_failures else None
        if match:
            sections.append((match["title"], []))
        elif sections and line.startswith("E "):
            sections[-1][1].append(line.rstrip()[:_MAX_LINE_CHARS])
    return sections


def write_problem_statement(
    *,
    function: str,
    docstring: str | None,
    test_files: Sequence[str],
    failing: Sequence[str],
    log: str,
    forbidden: Sequence[str] = (),
) -> str:
    """The issue text for one task. ``forbidden``: lines (stripped) that must not appear (the fix's lines)."""
    banned = {f.strip() for f in forbidden if len(f.strip()) >= 4}
    lines = [f"`{function}` does not behave as documented."]
    summary = (docstring or "").strip().split("\n\n")[0].replace("\n", " ").strip()
    if summary:
        lines += ["", f"Its documentation says: “{summary[:400]}”"]
    shown = list(failing[:_MAX_TESTS_LISTED])
    more = len(failing) - len(shown)
    lines += ["", f"Running `{' '.join(test_files)}` gives {len(failing)} failing test(s) that should pass:", ""]
    lines += [f"- {test}" for test in shown]
    if more:
        lines.append(f"- … and {more} more")
    excerpts = []
    for title, e_lines in failure_excerpts(log)[:_MAX_SECTIONS]:
        kept = [ln for ln in e_lines if not any(b in ln for b in banned)][:_MAX_LINES_PER_SECTION]
        if kept:
            excerpts += [title, *kept, ""]
    if excerpts:
        lines += ["", "Failure output:", "", "```", *excerpts[:-1], "```"]
    lines += ["", "The failing tests should pass, and the other tests of this module should keep passing."]
    return "\n".join(lines) + "\n"
