"""The ``visible`` oracle style's edit step: view the lines with numbers, then change one line the view showed.

Given the repair hunk of one region (workspace text -> gold text) and the conversation so far, the step is
either a numbered view of the region (when the file's latest ``nl -ba`` view does not show the current text of
the line to edit) or the region's last single-line edit (:mod:`~swe_dagger.teachers.line_edits`). The view
starts at the ``def`` line enclosing the edit and ends before the next ``def``, as the file's ``grep -n 'def '``
outline showed them (so the range is readable off an earlier observation), else a few lines around the edit.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from swe_dagger.teachers.line_edits import (
    expressible,
    line_ops,
    next_op,
    numbered_lines,
    sed_command,
    view_command,
)
from swe_dagger.teachers.regions import RepairHunk

MAX_VIEW_LINES = 80
"""A view from the enclosing ``def`` longer than this starts a few lines above the edit instead."""
VIEW_PAGE = 30
"""Views after a look by name show a page: the ``def`` line and this many lines after it (``sed -n 'N,+30p'``); an
edit further down is shown by the next page, which starts after the last line the previous one showed. The length
is fixed, so a student can copy the whole command from what it saw (the ``def`` line's number); a length fitted to
where the bug is would be privileged information (most synthesized bugs sit within 30 lines of their ``def``)."""

_OUTLINE_LINE = re.compile(r"^(\d+):.*\bdef ", re.MULTILINE)


def last_view(path: str, history: Sequence[tuple[str, str]]) -> dict[int, str]:
    """Line number -> text, as the latest numbered view of ``PATH`` in ``history`` (command, observation) showed: an
    ``nl -ba PATH`` command or a ``grep -n -A N 'def ...' PATH`` look (see :func:`grep_lines`)."""
    prefix = f"nl -ba {shlex.quote(path)}"
    for command, observation in reversed(history):
        if command.startswith(prefix + " ") or command == prefix:
            return numbered_lines(observation)
        if _GREP_BODY.match(command) and _greps_defs(command, path):
            return grep_lines(observation)
    return {}


def _greps_defs(command: str, path: str) -> bool:
    """Whether ``command`` is a look's ``grep -n ... 'def ...' PATH`` (outline, by name, or with the body)."""
    return command.startswith("grep -n") and "'def " in command and command.endswith(f" {shlex.quote(path)}")


_GREP_BODY = re.compile(r"^grep -nE? -A \d+ ")
_GREP_LINE = re.compile(r"^(\d+)[:-](.*)$", re.MULTILINE)


def grep_lines(observation: str) -> dict[int, str]:
    """The lines a ``grep -n -A N`` on one file showed: ``N:text`` (a match) and ``N-text`` (context after it)."""
    return {int(m.group(1)): m.group(2) for m in _GREP_LINE.finditer(observation)}


def outline(path: str, history: Sequence[tuple[str, str]]) -> list[int]:
    """The ``def`` line numbers the latest ``grep -n 'def ...' PATH`` of ``history`` showed (the whole outline or
    the named functions' lines; sorted; [] if none)."""
    for cmd, observation in reversed(history):
        if _greps_defs(cmd, path):
            return sorted(int(m.group(1)) for m in _OUTLINE_LINE.finditer(observation))
    return []


def view_range(lo: int, hi: int, defs: Sequence[int], *, by_name: bool = False) -> tuple[int, int]:
    """Lines to view so that ``lo``-``hi`` show: from the enclosing ``def`` to the line before the next one.

    ``by_name`` (the look grepped only the named functions, so the next ``def`` is unknown): the page of
    :data:`VIEW_PAGE` + 1 lines, counted from the enclosing ``def``, that holds ``hi`` (the line edited first).
    """
    above = [d for d in defs if d <= lo]
    first = above[-1] if above and lo - above[-1] < MAX_VIEW_LINES else max(1, lo - 3)
    if by_name:
        start = first + (hi - first) // (VIEW_PAGE + 1) * (VIEW_PAGE + 1)
        return start, start + VIEW_PAGE
    below = [d for d in defs if d > hi]
    last = below[0] - 1 if below and below[0] - 1 - first < MAX_VIEW_LINES else hi + 3
    return first, max(last, hi)


def visible_edit(
    path: str, hunk: RepairHunk, history: Sequence[tuple[str, str]], *, by_name: bool = False
) -> tuple[str, str] | None:
    """``(thought, command)``: a view of the region or its last one-line edit; ``None`` when the edit is not a
    one-line sed edit (a line without a final newline, a carriage return), for the caller to patch instead."""
    ops = line_ops(hunk)
    op = next_op(ops)
    if not expressible(op):
        return None
    if last_view(path, history).get(op.line) != op.old[:-1]:
        lo, hi = min(o.line for o in ops), max(o.line for o in ops)
        first, last = view_range(lo, hi, outline(path, history), by_name=by_name)
        command = view_command(path, first, last, relative=by_name)
        if history and history[-1][0] == command:
            return None  # the view ran and still does not show the line (its output was cut): patch instead
        if by_name:
            return f"Show the code from line {first} of `{path}` with line numbers, to find the line to edit.", command
        return f"Show lines {first}-{last} of `{path}` with their numbers, to edit the right line.", command
    if op.kind == "replace":
        thought = f"Line {op.line} of `{path}` is wrong; change it."
    elif op.kind == "delete":
        thought = f"Line {op.line} of `{path}` should not be there; delete it."
    elif op.kind == "append":
        thought = f"A line is missing after line {op.line} of `{path}`; add it."
    else:
        thought = f"A line is missing at the top of `{path}`; add it."
    return thought, sed_command(op, path)
