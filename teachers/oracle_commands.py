"""The bash commands and reply text the oracle teacher writes (what the student learns to imitate).

Replies follow the action protocol of :mod:`swe_dagger.envs.actions`: a short THOUGHT, then exactly one
```bash block. Edits are single-hunk ``git apply`` heredocs, so each is local and readable.
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Sequence

from swe_dagger.envs.actions import SUBMIT_MARKER
from swe_dagger.envs.unidiff import render_line
from swe_dagger.teachers.regions import RepairHunk

# A line that the action parser would take for a code fence (it would cut the bash block short).
_FENCE_LIKE = re.compile(r"^[ \t]*```", re.MULTILINE)


def reply(thought: str, command: str) -> str:
    """The reply format: one THOUGHT paragraph and one bash block."""
    return f"THOUGHT: {thought}\n\n```bash\n{command}\n```\n"


def quote_paths(paths: Sequence[str]) -> str:
    return " ".join(shlex.quote(p) for p in paths)


def look_command(path: str, first: int, last: int) -> str:
    return f"nl -ba {shlex.quote(path)} | sed -n '{first},{last}p'"


def outline_command(path: str) -> str:
    """The ``def`` lines of ``path`` with line numbers: where each function and method is (a short, regular look)."""
    return f"grep -n 'def ' {shlex.quote(path)}"


def named_defs_command(path: str, names: Sequence[str], after: int = 0) -> str:
    """The ``def`` lines of the functions ``names`` in ``path``: a one-line look when the issue names one.

    ``after`` > 0: also the next ``after`` lines of each (``grep -n -A N``), numbered, so the body is visible at once.
    """
    context = f" -A {after}" if after > 0 else ""
    if len(names) == 1:
        return f"grep -n{context} 'def {names[0]}(' {shlex.quote(path)}"
    return f"grep -nE{context} 'def ({'|'.join(names)})\\(' {shlex.quote(path)}"


def revert_command(restore: Sequence[str], remove: Sequence[str]) -> str:
    """Bring files back to the base: tracked ones from git, new ones deleted."""
    parts = []
    if remove:
        parts.append(f"rm -f {quote_paths(remove)}")
    if restore:
        parts.append(f"git checkout HEAD -- {quote_paths(restore)}")
    return " && ".join(parts)


def hunk_patch(path: str, hunk: RepairHunk, *, create: bool = False, mode: str = "100644") -> str:
    """A one-hunk git patch for ``path`` (``create``: the file does not exist yet)."""
    old_n, new_n = len(hunk.old), len(hunk.new)
    old_at = hunk.first_line if old_n else hunk.first_line - 1
    new_at = hunk.first_line if new_n else hunk.first_line - 1
    head = [f"diff --git a/{path} b/{path}"]
    if create:
        head += [f"new file mode {mode}", "--- /dev/null"]
    else:
        head.append(f"--- a/{path}")
    head += [f"+++ b/{path}", f"@@ -{old_at},{old_n} +{new_at},{new_n} @@"]
    body = [render_line(" ", t) for t in hunk.old[: hunk.leading]]
    body += [render_line("-", t) for t in hunk.old[hunk.leading : old_n - hunk.trailing]]
    body += [render_line("+", t) for t in hunk.new[hunk.leading : new_n - hunk.trailing]]
    body += [render_line(" ", t) for t in hunk.old[old_n - hunk.trailing :]]
    return "\n".join(head) + "\n" + "".join(body)


def apply_command(patch: str) -> str:
    """``git apply`` of ``patch`` through a quoted heredoc (base64 if a line would look like a code fence)."""
    if _FENCE_LIKE.search(patch) or "\r" in patch:
        encoded = base64.b64encode(patch.encode()).decode()
        return f"echo {encoded} | base64 -d | git apply"
    lines = set(patch.splitlines())
    delimiter = "EOF"
    while delimiter in lines:
        delimiter += "_"
    return f"git apply <<'{delimiter}'\n{patch}{delimiter}"


def test_files(targets: Sequence[str]) -> list[str]:
    """The test modules of ``targets`` (pytest ids or files), in first-seen order."""
    files: list[str] = []
    for target in targets:
        path = target.split("::", 1)[0]
        if path not in files:
            files.append(path)
    return files


def test_command(targets: Sequence[str]) -> str:
    """The modules of the failing tests, whole: the issue asks that they pass and that the module's other tests keep
    passing. A short command (the module path is in the issue) that a student copies without listing test ids."""
    return f"python -m pytest -q --tb=short {quote_paths(test_files(targets))}"


def reproduce_command(targets: Sequence[str]) -> str:
    """The failing tests' modules up to the first failure, with short tracebacks: the last frame in the repository's
    code names the file and line where an exception came from (``path:LINE: in func``), a line number the edit can
    copy. (Bytecode and pytest's cache stay out of the diff by the sandbox's environment and pytest's own
    ``.pytest_cache/.gitignore``.)"""
    return f"python -m pytest -x -q --tb=short {quote_paths(test_files(targets))}"


SUBMIT_COMMAND = f"echo {SUBMIT_MARKER}"
