"""Parse git-style unified diffs into per-file records of *edits against the base*.

The oracle compares a workspace diff with the gold patch. Headers and hunk boundaries differ between
two diffs of the same change, so both are reduced to :class:`Edit` lists (which base lines are replaced
by which new lines) plus the base lines each diff reveals (context and removed lines).
Lines keep their terminator: ``"x\\n"``, or ``"x"`` for a last line without a newline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_NO_NEWLINE = "\\ No newline at end of file"


class DiffParseError(ValueError):
    """A diff that is not a well-formed unified diff (the message names the file and line)."""


@dataclass(frozen=True)
class Edit:
    """Base lines ``[start, end)`` (0-based) replaced by ``added``; ``start == end`` is a pure insertion."""

    start: int
    end: int
    removed: tuple[str, ...]
    added: tuple[str, ...]


@dataclass(frozen=True)
class Hunk:
    """One ``@@`` hunk: header numbers and its lines as ``(tag, text)`` with tag in ``' '``, ``'-'``, ``'+'``."""

    old_start: int
    old_len: int
    new_start: int
    new_len: int
    lines: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FileDiff:
    """The changes to one file. ``old_path``/``new_path`` are ``None`` for created/deleted files."""

    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...]
    binary: bool = False
    new_mode: str | None = None

    @property
    def path(self) -> str:
        """The file's path in the workspace after the change (the old path for deletions)."""
        return self.new_path or self.old_path or ""

    @property
    def is_new(self) -> bool:
        return self.old_path is None

    @property
    def is_deleted(self) -> bool:
        return self.new_path is None

    @property
    def is_rename(self) -> bool:
        return self.old_path is not None and self.new_path is not None and self.old_path != self.new_path

    def edits(self) -> list[Edit]:
        """The file's changes as edits against the base, in order."""
        return [edit for hunk in self.hunks for edit in _hunk_edits(hunk)]

    def base_lines(self) -> dict[int, str]:
        """The base lines this diff reveals (0-based index -> line): its context and removed lines."""
        known: dict[int, str] = {}
        for hunk in self.hunks:
            pos = _hunk_base_index(hunk)
            for tag, text in hunk.lines:
                if tag in " -":
                    known[pos] = text
                    pos += 1
        return known


def _hunk_base_index(hunk: Hunk) -> int:
    # "-N,0" means "after line N"; otherwise N is the 1-based first line.
    return hunk.old_start if hunk.old_len == 0 else hunk.old_start - 1


def _hunk_edits(hunk: Hunk) -> list[Edit]:
    edits: list[Edit] = []
    pos = _hunk_base_index(hunk)
    start = pos
    removed: list[str] = []
    added: list[str] = []

    def flush() -> None:
        if removed or added:
            edits.append(Edit(start, start + len(removed), tuple(removed), tuple(added)))
            removed.clear()
            added.clear()

    for tag, text in hunk.lines:
        if tag == " ":
            flush()
            pos += 1
            start = pos
        elif tag == "-":
            if not removed and not added:
                start = pos
            removed.append(text)
            pos += 1
        else:
            if not removed and not added:
                start = pos
            added.append(text)
    flush()
    return edits


def _unquote(path: str) -> str:
    """Undo git's C-style quoting of unusual path names."""
    if len(path) >= 2 and path[0] == path[-1] == '"':
        return path[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1").decode()
    return path


def _strip_prefix(path: str) -> str | None:
    path = _unquote(path.split("\t", 1)[0].rstrip())
    if path == "/dev/null":
        return None
    return path[2:] if path[:2] in ("a/", "b/") else path


def _git_header_paths(line: str) -> tuple[str, str]:
    rest = line[len("diff --git ") :]
    if rest.startswith('"'):
        end = rest.index('"', 1)
        while rest[end - 1] == "\\":
            end = rest.index('"', end + 1)
        return rest[: end + 1], rest[end + 2 :]
    half = len(rest) // 2  # "a/x b/x": the same name twice, so split in the middle
    return rest[:half], rest[half + 1 :]


@dataclass
class _FileBuilder:
    old_path: str | None
    new_path: str | None
    hunks: list[Hunk]
    binary: bool = False
    new_mode: str | None = None

    def build(self) -> FileDiff:
        return FileDiff(self.old_path, self.new_path, tuple(self.hunks), self.binary, self.new_mode)


def parse_diff(text: str, *, source: str = "diff") -> list[FileDiff]:
    """Parse a unified diff (git's format or plain ``---``/``+++``) into one :class:`FileDiff` per file."""
    lines = text.splitlines(keepends=True)
    files: list[FileDiff] = []
    cur: _FileBuilder | None = None
    i = 0
    while i < len(lines):
        raw = lines[i].rstrip("\r\n")
        if raw.startswith("diff --git "):
            if cur is not None:
                files.append(cur.build())
            a, b = _git_header_paths(raw)
            cur = _FileBuilder(_strip_prefix(a), _strip_prefix(b), [])
        elif raw.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old, new = _strip_prefix(raw[4:]), _strip_prefix(lines[i + 1][4:].rstrip("\r\n"))
            if cur is None or cur.hunks:
                if cur is not None:
                    files.append(cur.build())
                cur = _FileBuilder(old, new, [])
            else:
                cur.old_path, cur.new_path = old, new
            i += 1
        elif cur is not None and raw.startswith("new file mode "):
            cur.old_path, cur.new_mode = None, raw.split()[-1]
        elif cur is not None and raw.startswith("deleted file mode "):
            cur.new_path = None
        elif cur is not None and raw.startswith("new mode "):
            cur.new_mode = raw.split()[-1]
        elif cur is not None and raw.startswith("rename from "):
            cur.old_path = _unquote(raw[len("rename from ") :])
        elif cur is not None and raw.startswith("rename to "):
            cur.new_path = _unquote(raw[len("rename to ") :])
        elif cur is not None and (raw.startswith("Binary files ") or raw == "GIT binary patch"):
            cur.binary = True
        elif raw.startswith("@@"):
            if cur is None:
                raise DiffParseError(f"{source}: line {i + 1}: hunk before any file header")
            hunk, i = _parse_hunk(lines, i, source)
            cur.hunks.append(hunk)
            continue
        i += 1
    if cur is not None:
        files.append(cur.build())
    return files


def _parse_hunk(lines: list[str], i: int, source: str) -> tuple[Hunk, int]:
    header = lines[i].rstrip("\r\n")
    m = _HUNK.match(header)
    if m is None:
        raise DiffParseError(f"{source}: line {i + 1}: malformed hunk header {header!r}")
    old_start, new_start = int(m.group(1)), int(m.group(3))
    old_len = 1 if m.group(2) is None else int(m.group(2))
    new_len = 1 if m.group(4) is None else int(m.group(4))
    body: list[tuple[str, str]] = []
    old_left, new_left = old_len, new_len
    i += 1
    while i < len(lines) and (old_left > 0 or new_left > 0 or lines[i].startswith("\\")):
        line = lines[i]
        if line.startswith("\\"):
            if body:  # "\ No newline at end of file": the previous line has no terminator
                tag, text = body[-1]
                body[-1] = (tag, text[:-1] if text.endswith("\n") else text)
            i += 1
            continue
        tag, text = line[:1], line[1:]
        if not text.endswith("\n"):
            text += "\n"
        if tag == "" or tag == "\n":  # some tools drop the space of an empty context line
            tag, text = " ", "\n"
        if tag not in " -+":
            raise DiffParseError(f"{source}: line {i + 1}: unexpected line in hunk {header!r}: {line[:60]!r}")
        if tag in " -":
            old_left -= 1
        if tag in " +":
            new_left -= 1
        if old_left < 0 or new_left < 0:
            raise DiffParseError(f"{source}: line {i + 1}: hunk {header!r} is longer than its header says")
        body.append((tag, text))
        i += 1
    if old_left > 0 or new_left > 0:
        raise DiffParseError(f"{source}: hunk {header!r} is truncated (ends at line {i})")
    return Hunk(old_start, old_len, new_start, new_len, tuple(body)), i


def render_line(tag: str, text: str) -> str:
    """One hunk body line; a line without a terminator gets git's no-newline marker."""
    if text.endswith("\n"):
        return tag + text
    return f"{tag}{text}\n{_NO_NEWLINE}\n"
