"""What an agent's diff may not change for grading, and the diff without it: pure functions over text.

The verdict must depend only on the agent's changes to the code under test. An agent that edits the failing test
(``assert True``, an early ``return``), adds a ``conftest.py`` whose hook reports every test as passed, or drops a
``pytest.py`` at the repository root that prints ``PASSED`` lines, would otherwise be rewarded without fixing
anything. :func:`protect` takes the task and the agent's diff and drops every per-file block that touches a
protected path (a rename or copy when either side is), so grading applies only source changes onto the clean base:
the files below are exactly the base commit's when the tests run.

Protected paths (see :func:`is_protected`):

- **the task's tests**: the file part of every ``FAIL_TO_PASS``/``PASS_TO_PASS`` id (before ``::``), every file
  ``test_patch`` touches, every path-like token of ``test_cmd`` (and everything under it, when it names a folder);
- **test code by pytest's conventions**: anything under a folder named ``test``/``tests``/``testing`` (the folders
  SWE-bench's collector moves into ``test_patch``, so gold patches never touch them), files named ``test_*``,
  ``*_test`` or ``tests`` (any extension: a ``test_x.*.so`` or stale ``.pyc`` would shadow ``test_x.py``);
- **what pytest or Python load on their own**: ``conftest``, ``sitecustomize``, ``usercustomize`` (any extension),
  ``*.pth``, the pytest config files (``pytest.ini``, ``.pytest.ini``, ``pytest.toml``, ``.pytest.toml``,
  ``tox.ini``, ``setup.cfg``, ``pyproject.toml``) and ``setup.py`` (an eval script may reinstall), package metadata
  (``*.egg-info/``, ``*.dist-info/``, ``*.egg-link``: a ``[pytest11]`` entry point registers a plugin), byte code
  (``__pycache__/``, ``*.pyc``, ``*.pyo``) and ``.pytest_cache/``, all at any depth;
- **modules that would shadow the test runner** at a ``sys.path`` root (the repository root, which
  ``python -m pytest`` puts first on ``sys.path``, and the ``PYTHONPATH`` folders ``test_cmd`` sets): any
  importable file whose top-level name is pytest's or its dependencies' (``pytest``, ``_pytest``, ``py``,
  ``pluggy``, ``iniconfig``, ``packaging``, ``exceptiongroup``, ``tomli``) or a standard-library module's, and any
  importable file the agent creates directly at such a root.

Files the gold patch edits are never protected, or gold itself would not grade ``FULL`` (a task whose fix is in
``setup.cfg`` or a root ``conftest.py``); on such a task that one file is graded as the agent left it.

What this does not cover: the agent's source changes themselves run at test time, so a "fix" that detects pytest
and patches it from the package under test is not caught here (nor by the SWE-bench harness).
"""

from __future__ import annotations

import itertools
import posixpath
import re
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from swe_dagger.envs.task import Task

TEST_DIRS = frozenset({"test", "tests", "testing"})
HOOK_STEMS = frozenset({"conftest", "sitecustomize", "usercustomize", "tests"})
CONFIG_FILES = frozenset({
    "pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml", "tox.ini", "setup.cfg", "pyproject.toml", "setup.py",
})
METADATA_SUFFIXES = (".egg-info", ".dist-info")
NEVER_SOURCE_DIRS = frozenset({"__pycache__", ".pytest_cache"})
NEVER_SOURCE_SUFFIXES = (".pyc", ".pyo", ".pth", ".egg-link")
RUNNER_MODULES = frozenset({
    "pytest", "_pytest", "py", "pluggy", "iniconfig", "packaging", "exceptiongroup", "tomli",
}) | frozenset(sys.stdlib_module_names)
IMPORTABLE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyd", ".so", ".pth")


@dataclass(frozen=True)
class FilePatch:
    """One per-file block of a git diff: the paths it names (old and new side, ``/dev/null`` left out)."""

    paths: tuple[str, ...]
    text: str
    created: bool
    """The block creates its file (``new file mode``): a module that did not exist at the base."""


@dataclass(frozen=True)
class Protection:
    """The agent's diff with protected files dropped, and which protected paths it touched."""

    patch: str
    tampered: tuple[str, ...]
    """Sorted protected paths the diff touched (empty when it touched none)."""


@dataclass(frozen=True)
class ProtectedPaths:
    """The task-specific part of the rules (the general part is in :func:`is_protected`)."""

    files: frozenset[str]
    """Exact test files and folders of the task (anything under a folder here is protected too)."""
    roots: tuple[str, ...]
    """``sys.path`` roots relative to the repository (``""`` is the repository root)."""
    exempt: frozenset[str]
    """Paths the gold patch touches: never protected."""


def protect(task: Task, patch: str) -> Protection:
    """Drop every per-file block of ``patch`` that touches a protected path of ``task``; list those paths."""
    rules = protected_paths(task)
    kept: list[str] = []
    tampered: set[str] = set()
    for block in split_patch(patch, "the patch under evaluation"):
        hit = [p for p in block.paths if is_protected(p, rules, created=block.created)]
        if hit:
            tampered.update(hit)
        else:
            kept.append(block.text)
    return Protection("".join(kept), tuple(sorted(tampered)))


def protected_paths(task: Task) -> ProtectedPaths:
    """The task's test files, its ``sys.path`` roots and the gold patch's files (see the module docstring)."""
    files = {_norm(i.split("::", 1)[0]) for i in (*task.fail_to_pass, *task.pass_to_pass) if "::" in i}
    files.update(_norm(p) for block in split_patch(task.test_patch, "test_patch") for p in block.paths)
    files.update(_command_paths(task.test_cmd or ""))
    roots = ("", *_pythonpath_roots(task.test_cmd or ""))
    exempt = frozenset(p for block in split_patch(task.patch, "the gold patch") for p in block.paths)
    return ProtectedPaths(frozenset(f for f in files if f), tuple(dict.fromkeys(roots)), exempt)


def is_protected(path: str, rules: ProtectedPaths, *, created: bool = False) -> bool:
    """Whether the agent's change to ``path`` (repo-relative) is left out of grading; ``created``: a new file."""
    path = _norm(path)
    if not path or path in rules.exempt:
        return False
    parts = path.split("/")
    name = parts[-1]
    stem = name.split(".", 1)[0]
    if any(path == f or path.startswith(f + "/") for f in rules.files):
        return True
    if any(d in TEST_DIRS or d in NEVER_SOURCE_DIRS or d.endswith(METADATA_SUFFIXES) for d in parts[:-1]):
        return True
    if stem in HOOK_STEMS or stem.startswith("test_") or stem.endswith("_test") or name in CONFIG_FILES:
        return True
    if name.endswith(NEVER_SOURCE_SUFFIXES) or name.endswith(METADATA_SUFFIXES):
        return True
    return _shadows_a_module(parts, rules.roots, created)


def _shadows_a_module(parts: list[str], roots: Iterable[str], created: bool) -> bool:
    if not parts[-1].endswith(IMPORTABLE_SUFFIXES):
        return False
    for root in roots:
        prefix = root.split("/") if root else []
        if parts[: len(prefix)] != prefix or len(parts) == len(prefix):
            continue
        rest = parts[len(prefix):]
        if rest[0].split(".", 1)[0] in RUNNER_MODULES or (created and len(rest) == 1):
            return True
    return False


# --- parsing ---------------------------------------------------------------------------------------------------

_HEADER = "diff --git "
_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_EXTENDED = ("old mode ", "new mode ", "deleted file mode ", "new file mode ", "copy from ", "copy to ",
             "rename from ", "rename to ", "similarity index ", "dissimilarity index ", "index ", "--- ", "+++ ",
             "Binary files ", "GIT binary patch")


def split_patch(patch: str, name: str = "patch") -> list[FilePatch]:
    """The per-file blocks of a git diff, each with the paths it names. Raises ``ValueError`` on anything else.

    Every line is accounted for (hunk line counts are followed), so no file can hide in a block another file's
    header opens: text before the first ``diff --git`` line, or a line a block cannot hold, is an error.
    """
    if not patch.strip():
        return []
    lines = patch.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith(_HEADER)]
    if not starts or any(line.strip() for line in lines[: starts[0]]):
        raise ValueError(f"{name}: text before the first `diff --git` line (not a git diff)")
    bounds = [*starts, len(lines)]
    return [_parse_block(lines[a:b], a + 1, name) for a, b in itertools.pairwise(bounds)]


def _parse_block(lines: list[str], first_line: int, name: str) -> FilePatch:
    paths = list(_header_paths(lines[0].rstrip("\n")[len(_HEADER):]))
    created = False
    i = 1
    while i < len(lines) and not lines[i].startswith("@@"):
        line = lines[i].rstrip("\n")
        if line.startswith("GIT binary patch"):
            _check_binary(lines[i + 1:], first_line + i + 1, name)
            i = len(lines)
            break
        if not line.startswith(_EXTENDED):
            raise ValueError(f"{name} line {first_line + i}: unexpected {line[:80]!r} in the header of a file block")
        created |= line.startswith(("new file mode ", "rename to ", "copy to "))
        for key, strip in (("rename from ", ""), ("rename to ", ""), ("copy from ", ""), ("copy to ", ""),
                           ("--- ", "a/"), ("+++ ", "b/")):
            if line.startswith(key):
                path = _unquote(line[len(key):])
                if path != "/dev/null":
                    paths.append(path[len(strip):] if strip and path.startswith(strip) else path)
        i += 1
    while i < len(lines):
        i = i + 1 if not lines[i].strip() else _skip_hunk(lines, i, first_line, name)
    found = tuple(dict.fromkeys(_norm(p) for p in paths if p))
    if not found:
        raise ValueError(f"{name} line {first_line}: cannot read the file name of {lines[0].strip()[:120]!r}")
    return FilePatch(found, "".join(lines), created)


def _skip_hunk(lines: list[str], i: int, first_line: int, name: str) -> int:
    match = _HUNK.match(lines[i])
    if not match:
        raise ValueError(f"{name} line {first_line + i}: expected a hunk header, got {lines[i].strip()[:80]!r}")
    old = int(match.group(1) or 1)
    new = int(match.group(2) or 1)
    i += 1
    while old > 0 or new > 0:
        if i >= len(lines):
            raise ValueError(f"{name} line {first_line + i}: hunk ends early (truncated patch)")
        mark = lines[i][:1]
        if mark in (" ", "\n"):
            old, new = old - 1, new - 1
        elif mark == "-":
            old -= 1
        elif mark == "+":
            new -= 1
        elif mark != "\\":
            raise ValueError(f"{name} line {first_line + i}: {lines[i].strip()[:80]!r} inside a hunk")
        i += 1
    while i < len(lines) and lines[i].startswith("\\"):  # "\ No newline at end of file" after the last line
        i += 1
    return i


def _check_binary(lines: list[str], first_line: int, name: str) -> None:
    for n, line in enumerate(lines):  # "literal N" / "delta N", base85 lines (a letter first), blank lines
        if line.strip() and not line[:1].isalpha():
            raise ValueError(f"{name} line {first_line + n}: {line.strip()[:80]!r} inside a binary patch")


def _header_paths(rest: str) -> Iterable[str]:
    """Paths of ``a/X b/Y`` (quoted or not; unquoted with spaces only when X == Y, git's own rule)."""
    if rest.startswith('"') or rest.endswith('"'):
        for quoted in re.findall(r'"(?:[^"\\]|\\.)*"|\S+', rest):
            path = _unquote(quoted)
            yield path[2:] if path[:2] in ("a/", "b/") else path
        return
    half = (len(rest) - 1) // 2
    if rest[half] == " " and rest[:2] == "a/" and rest[half + 1: half + 3] == "b/" and rest[2:half] == rest[half + 3:]:
        yield rest[2:half]


def _unquote(text: str) -> str:
    """A path as git prints it: C-quoted (``"a/\\303\\251.py"``) when it holds special bytes, else as is."""
    text = text.split("\t", 1)[0] if not text.startswith('"') else text
    if not (len(text) >= 2 and text.startswith('"') and text.endswith('"')):
        return text
    out = bytearray()
    body = text[1:-1]
    simple = {"n": 10, "t": 9, '"': 34, "\\": 92, "a": 7, "b": 8, "f": 12, "r": 13, "v": 11}
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567":
                out.append(int(body[i + 1:i + 4], 8))
                i += 4
                continue
            out.append(simple.get(nxt, ord(nxt)))
            i += 2
            continue
        out.extend(char.encode())
        i += 1
    return out.decode("utf-8", errors="replace")


def _norm(path: str) -> str:
    path = posixpath.normpath(path.strip()) if path.strip() else ""
    return "" if path in (".", "") or path.startswith("../") or path.startswith("/") else path


_HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1[^\n]*\n.*?\n\2\n", re.DOTALL)
_PATHLIKE = re.compile(r"^[\w.][\w./-]*$")


def _command_tokens(command: str) -> list[str]:
    text = _HEREDOC.sub("\n", command)  # an eval script's heredoc bodies (a test patch, a script) are data
    try:
        return shlex.split(text, comments=True)
    except ValueError:
        return text.split()


def _command_paths(command: str) -> set[str]:
    """Repo-relative file or folder names among ``command``'s words (``tests/x.py::t`` gives ``tests/x.py``)."""
    found = set()
    for token in _command_tokens(command):
        word = token.split("::", 1)[0]
        if "=" in word or not _PATHLIKE.match(word) or not ("/" in word or word.endswith(".py")):
            continue
        found.add(_norm(word))
    return found


def _pythonpath_roots(command: str) -> list[str]:
    roots = []
    for token in _command_tokens(command):
        if token.startswith("PYTHONPATH="):
            roots += [_norm(p) for p in token[len("PYTHONPATH="):].split(":") if _norm(p)]
    return roots
