"""The project's git repo: one original commit, plus one parentless commit per task holding the mutated file.

Task commits have no parent (the history gives no hint of the fix) and are built with plumbing through a temporary
index, so nothing is checked out. Fixed author/committer identity and dates make the hashes reproducible.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

_IDENTITY = {
    "GIT_AUTHOR_NAME": "swe-dagger",
    "GIT_AUTHOR_EMAIL": "synth@swe-dagger.invalid",
    "GIT_COMMITTER_NAME": "swe-dagger",
    "GIT_COMMITTER_EMAIL": "synth@swe-dagger.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+0000",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+0000",
}
_IGNORE = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", ".pytest_cache", ".tox", ".nox", ".complete")


class GitError(RuntimeError):
    """A git command failed; the message holds the command and git's output."""


def git(repo: Path, *args: str, stdin: str | None = None, index: Path | None = None) -> str:
    """Run ``git -C repo args`` with the fixed identity; returns stdout (raises :class:`GitError` on failure)."""
    env = {**os.environ, **_IDENTITY, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args)} in {repo} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def init_repo(source: Path, repo: Path, message: str) -> str:
    """Copy ``source`` into a fresh repo at ``repo`` and commit it all (branch ``main``); returns the commit."""
    if repo.exists():
        shutil.rmtree(repo)
    shutil.copytree(source, repo, ignore=_IGNORE, symlinks=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A", "-f", ".")
    git(repo, "commit", "-q", "--no-verify", "-m", message)
    return head(repo)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def commit_with_file(repo: Path, base: str, path: str, content: str, message: str, ref: str) -> str:
    """A parentless commit: ``base``'s tree with ``path`` replaced by ``content``; ``ref`` is pointed at it."""
    mode = git(repo, "ls-tree", base, "--", path).split(" ", 2)[0] or "100644"
    blob = git(repo, "hash-object", "-w", "--stdin", "--path", path, stdin=content).strip()
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        git(repo, "read-tree", base, index=index)
        git(repo, "update-index", "--cacheinfo", f"{mode},{blob},{path}", index=index)
        tree = git(repo, "write-tree", index=index).strip()
    commit = git(repo, "commit-tree", tree, "-m", message).strip()
    git(repo, "update-ref", ref, commit)
    return commit


def revert_patch(repo: Path, mutant: str, original: str, path: str) -> str:
    """The ``git apply``-able diff (``a/``/``b/`` paths) that turns ``mutant``'s ``path`` back into ``original``'s."""
    return git(repo, "diff", "--no-color", "--no-ext-diff", mutant, original, "--", path)


def patch_restores(repo: Path, base: str, patch: str, target: str) -> bool:
    """True when ``git apply`` of ``patch`` on ``base`` yields exactly ``target``'s tree (checked in a temp index)."""
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        git(repo, "read-tree", base, index=index)
        try:
            git(repo, "apply", "--cached", "-", stdin=patch, index=index)
        except GitError:
            return False
        tree = git(repo, "write-tree", index=index).strip()
    return tree == git(repo, "rev-parse", f"{target}^{{tree}}").strip()
