"""One-line edits by line number, as ``sed -i`` commands a student can read off a numbered view of the file.

The ``visible`` oracle style turns a repair hunk (workspace text -> gold text) into single-line operations and
emits the *last* one in file order, so earlier edits never shift the line numbers of the ones still to do: the
numbered view the student saw stays valid for every line above the edit. Insertions append after the line
above (``Na``), in reverse order, for the same reason (only an insertion at the top of a file uses ``1i``).

Every command is one line of plain GNU sed, quoted for bash: the substring to replace is a visible part of the
line (``s`` takes the first occurrence in that line, so it is widened until its first occurrence is the changed
place), with BRE metacharacters and the delimiter escaped (a ``.`` only where it would match elsewhere first),
and ``&``/``\\`` escaped in the replacement.
"""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass

from swe_dagger.teachers.regions import RepairHunk, common_ends


@dataclass(frozen=True)
class LineOp:
    """One single-line change at 1-based line ``line`` of the current file.

    ``kind``: ``replace`` (line ``line`` becomes ``new``), ``delete`` (line ``line`` goes), ``append`` (``new`` is
    inserted after line ``line``) or ``insert`` (``new`` is inserted before line ``line``; only at the top).
    ``old`` is the current text of line ``line`` (with its terminator): the text the edit relies on.
    """

    kind: str
    line: int
    old: str
    new: str = ""


def line_ops(hunk: RepairHunk) -> list[LineOp]:
    """The single-line operations that turn ``hunk.old`` into ``hunk.new``, in file order.

    Applied from the last to the first, each leaves the numbers of the lines above it unchanged.
    """
    old, new = list(hunk.old), list(hunk.new)
    first = hunk.first_line
    ops: list[LineOp] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        pairs = min(i2 - i1, j2 - j1)
        ops += [LineOp("replace", first + i1 + k, old[i1 + k], new[j1 + k]) for k in range(pairs)]
        ops += [LineOp("delete", first + i, old[i]) for i in range(i1 + pairs, i2)]
        extra = new[j1 + pairs : j2]
        if not extra:
            continue
        anchor = i2 - 1  # append after the last old line of the block (the line above the insertion)
        if anchor < 0:  # nothing above inside the hunk: the hunk starts at the top of the file
            ops += [LineOp("insert", first, old[0] if old else "", text) for text in extra]
        else:
            ops += [LineOp("append", first + anchor, old[anchor], text) for text in extra]
    return ops


def next_op(ops: list[LineOp]) -> LineOp:
    """The operation to do now: the last one (see the module docstring); for insertions before line 1 or after one
    anchor, the last inserted text comes first so the final order is right."""
    return ops[-1]


def expressible(op: LineOp) -> bool:
    """Whether ``op`` is a plain one-line sed edit: both texts are whole lines (ending in ``\\n``, no ``\\r``)."""
    texts = [op.old] if op.kind == "delete" else [op.old, op.new]
    if op.kind == "insert" and not op.old:
        return False  # an empty file: nothing to anchor on
    return all(t.endswith("\n") and "\r" not in t and "\n" not in t[:-1] for t in texts)


_BRE_SPECIAL = re.compile(r"([\\.*\[\]^$/])")
_BRE_SPECIAL_NO_DOT = re.compile(r"([\\*\[\]^$/])")


def escape_pattern(text: str, line: str | None = None) -> str:
    """``text`` as a literal GNU sed basic regular expression between ``/`` delimiters.

    With ``line`` (the text ``s`` runs on, where ``text`` first occurs at the place to change): a ``.`` stays
    unescaped when matching any character there still finds that first occurrence first, so the common case reads as
    the code does (``self.x`` rather than ``self\\.x``) and is easier to copy.
    """
    special = _BRE_SPECIAL
    if line is not None and "." in text:
        loose = re.search("".join("." if c == "." else re.escape(c) for c in text), line)
        if loose is not None and loose.start() == line.find(text):
            special = _BRE_SPECIAL_NO_DOT
    return special.sub(r"\\\1", text)


def escape_replacement(text: str) -> str:
    """``text`` as a literal sed ``s`` replacement between ``/`` delimiters."""
    return re.sub(r"([\\&/])", r"\\\1", text)


def changed_span(old: str, new: str) -> tuple[str, str]:
    """A short substring of ``old`` (whose first occurrence is where the change is) and what replaces it.

    The changed characters are widened to whole whitespace-separated words, then by one more word on each side
    until the substring's first occurrence in ``old`` is the changed place.
    """
    prefix, suffix = common_ends(old, new)
    a, b = prefix, len(old) - suffix
    while a > 0 and not old[a - 1].isspace():
        a -= 1
    while b < len(old) and not old[b].isspace():
        b += 1
    while a > 0 or b < len(old):
        if b > a and old.find(old[a:b]) == a:
            break
        if a > 0:  # one more word (and the space before it) on the left
            a -= 1
            while a > 0 and old[a - 1].isspace():
                a -= 1
            while a > 0 and not old[a - 1].isspace():
                a -= 1
        if b < len(old):
            while b < len(old) and old[b].isspace():
                b += 1
            while b < len(old) and not old[b].isspace():
                b += 1
    return old[a:b], new[a : len(new) - (len(old) - b)]


def sed_command(op: LineOp, path: str) -> str:
    """The bash command doing ``op`` on ``path`` (see :func:`expressible`)."""
    if not expressible(op):
        raise ValueError(f"line {op.line} of {path}: {op.kind} of {op.new!r} is not a one-line sed edit")
    target = shlex.quote(path)
    if op.kind == "delete":
        return f"sed -i '{op.line}d' {target}"
    if op.kind in ("append", "insert"):
        text = op.new[:-1].replace("\\", "\\\\")
        script = f"{op.line}{op.kind[0]}\\{text}" if text else f"{op.line}{op.kind[0]}\\\\"
        return f"sed -i {_single_quoted(script)} {target}"
    old, new = changed_span(op.old[:-1], op.new[:-1])
    pattern = escape_pattern(old, op.old[:-1]) if old else "^.*$"
    script = f"{op.line}s/{pattern}/{escape_replacement(new)}/"
    return f"sed -i {_single_quoted(script)} {target}"


def _single_quoted(text: str) -> str:
    """``text`` in single quotes for bash (a quote inside becomes ``'\\''``)."""
    return "'" + text.replace("'", "'\\''") + "'"


_NL_LINE = re.compile(r"^ *(\d+)\t(.*)$", re.MULTILINE)


def numbered_lines(observation: str) -> dict[int, str]:
    """The lines an ``nl -ba`` view in ``observation`` shows: line number -> text (without terminator)."""
    return {int(m.group(1)): m.group(2) for m in _NL_LINE.finditer(observation)}


def view_command(path: str, first: int, last: int, *, relative: bool = False) -> str:
    """Lines ``first``-``last`` of ``path`` with their numbers (``relative``: written ``first,+count``)."""
    end = f"+{last - first}" if relative else str(last)
    return f"nl -ba {shlex.quote(path)} | sed -n '{first},{end}p'"
