"""Load-time checks of a task against itself and its files, so a broken row fails when the file is loaded, not at
the first reset (or the first grading) in the middle of a run.

- ``instance_id`` must be a safe file name: outputs are named after it (``trajectories/<id>.json``).
- ``patch`` and ``test_patch`` must be complete unified diffs: every hunk as long as its header says, the text
  ending in a newline (a file cut off mid-write fails both).
- ``base_commit`` must be a commit of ``repo_path`` (one ``git cat-file --batch-check`` per repository).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from swe_dagger.envs.task import Task
from swe_dagger.envs.unidiff import DiffParseError, parse_diff

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")
"""What an ``instance_id`` may look like (SWE-bench's ``owner__repo-1234`` fits): a file name on every system,
never a path, never hidden."""

_GIT = ["git", "-c", "safe.directory=*"]


def id_problem(instance_id: str) -> str | None:
    """Why ``instance_id`` cannot name an output file, or ``None`` when it can."""
    if SAFE_ID.fullmatch(instance_id):
        return None
    return (f"{instance_id!r} is not a safe file name (letters, digits, '.', '_', '+', '-'; starting with a letter "
            "or digit; at most 200 characters): output files are named after it")


def patch_problem(text: str) -> str | None:
    """Why ``text`` (a non-empty patch) is not a complete unified diff, or ``None`` when it is."""
    if not text.endswith("\n"):
        return "does not end with a newline (the diff is cut off)"
    try:
        files = parse_diff(text, source="the diff")
    except DiffParseError as exc:
        return str(exc)
    if not files:
        return "holds no file header (expected a unified diff: diff --git / --- +++ / @@ hunks)"
    return None


def missing_commits(tasks: Sequence[Task]) -> dict[str, str]:
    """``instance_id`` → why its ``base_commit`` cannot be checked out of its ``repo_path``, for each task that has
    both and whose commit is not there (one git process per repository)."""
    by_repo: dict[Path, list[Task]] = {}
    problems: dict[str, str] = {}
    for task in tasks:
        if task.repo_path is None or not task.base_commit.strip():
            continue
        if len(task.base_commit.split()) != 1:
            problems[task.instance_id] = f"{task.base_commit!r} is not a commit name"
        else:
            by_repo.setdefault(task.repo_path, []).append(task)
    for repo, group in by_repo.items():
        query = "".join(f"{t.base_commit.strip()}^{{commit}}\n" for t in group)
        proc = subprocess.run([*_GIT, "-C", str(repo), "cat-file", "--batch-check"], input=query,
                              capture_output=True, text=True, check=False)
        answers = proc.stdout.splitlines()
        if proc.returncode != 0 or len(answers) != len(group):
            reason = (proc.stderr.strip().splitlines() or ["git failed"])[-1]
            problems.update((t.instance_id, f"repo_path {repo} is not a git repository ({reason})") for t in group)
            continue
        for task, answer in zip(group, answers, strict=True):
            if answer.split()[1:2] != ["commit"]:  # "<sha> commit <size>", else "<name> missing"
                problems[task.instance_id] = f"{task.base_commit!r} is not a commit of {repo}"
    return problems
