"""A tiny real project for env tests and bench/envs.py: a git repo with a pytest suite, buggy commits, a venv.

``calc__calc-1`` is shaped like a SWE-bench row (the failing test arrives in ``test_patch``); ``calc__calc-2`` is
shaped like a synthesized task (empty ``test_patch``, an explicit ``test_cmd``, the failing test already in the repo).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from swe_dagger.envs.task import Task

OPS = '''"""Small arithmetic helpers."""


def add(a, b):
    """Sum of a and b."""
    return a + b


def clamp(x, lo, hi):
    """x limited to the closed interval [lo, hi]."""
    return max(lo, min(x, hi))
'''

TESTS = '''from calc.ops import add, clamp


def test_add_small():
    assert add(2, 3) == 5


def test_clamp_inside():
    assert clamp(5, 0, 10) == 5


def test_clamp_below():
    assert clamp(-5, 0, 10) == 0


def test_clamp_above():
    assert clamp(50, 0, 10) == 10
'''

NEW_TEST = '''

def test_add_negative():
    assert add(-2, 3) == 1
'''

TEST_CMD = "python -m pytest -rA -p no:cacheprovider tests/test_ops.py"
P2P_ALL = [f"tests/test_ops.py::{n}" for n in ("test_add_small", "test_clamp_inside", "test_clamp_below",
                                                "test_clamp_above")]


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    out = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env)
    return out.stdout


def _commit_variant(repo: Path, branch: str, old: str, new: str) -> tuple[str, str]:
    """Commit OPS with ``old`` replaced by ``new`` on a branch off ``good``; return (base commit, gold patch)."""
    git(repo, "checkout", "-q", "-b", branch, "good")
    (repo / "calc" / "ops.py").write_text(OPS.replace(old, new))
    git(repo, "commit", "-qam", f"bug on {branch}")
    base = git(repo, "rev-parse", "HEAD").strip()
    patch = git(repo, "diff", base, "good", "--", "calc")
    git(repo, "checkout", "-q", "good")
    return base, patch


def host_venv() -> Path:
    """A venv holding only pytest (the host's site-packages carry slow-to-load plugins), built once and cached.

    It lives outside /tmp because the sandbox hides the host's /tmp.
    """
    cache = Path(os.environ.get("SWE_DAGGER_CACHE", Path.home() / ".cache" / "swe-dagger"))
    venv = cache / "test-venvs" / f"py{sys.version_info.major}{sys.version_info.minor}-pytest"
    if not (venv / "bin" / "pytest").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "pytest"], check=True)
    return venv


def build_calc_project(root: Path) -> tuple[Path, Path, list[Task]]:
    """Build the project under ``root``: (repo, venv, [swebench-shaped task, synth-shaped task])."""
    repo = root / "repo"
    (repo / "calc").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "calc" / "__init__.py").write_text("")
    (repo / "calc" / "ops.py").write_text(OPS)
    (repo / "tests" / "test_ops.py").write_text(TESTS)
    git(repo, "init", "-q", "-b", "good")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "calc")
    (repo / "tests" / "test_ops.py").write_text(TESTS + NEW_TEST)
    test_patch = git(repo, "diff")
    git(repo, "checkout", "-q", "--", "tests")
    base1, gold1 = _commit_variant(repo, "t1", "return a + b", "return abs(a) + b")
    base2, gold2 = _commit_variant(repo, "t2", "min(x, hi)", "min(x, lo)")
    venv = host_venv()
    swebench_like = Task(
        instance_id="calc__calc-1", repo="calc/calc", base_commit=base1,
        problem_statement="add() gives the wrong sum when the first number is negative: add(-2, 3) returns 5.",
        patch=gold1, test_patch=test_patch, fail_to_pass=("tests/test_ops.py::test_add_negative",),
        pass_to_pass=tuple(P2P_ALL), repo_path=repo, venv=venv,
    )
    synth_like = Task(
        instance_id="calc__calc-2", repo="calc/calc", base_commit=base2,
        problem_statement="clamp(5, 0, 10) returns 0 instead of 5, and clamp(50, 0, 10) returns 0 too.", patch=gold2,
        fail_to_pass=("tests/test_ops.py::test_clamp_inside", "tests/test_ops.py::test_clamp_above"),
        pass_to_pass=tuple(p for p in P2P_ALL if not p.endswith(("inside", "above"))), repo_path=repo, venv=venv,
        test_cmd=TEST_CMD,
    )
    return repo, venv, [swebench_like, synth_like]
