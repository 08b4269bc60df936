"""A tiny real git repo with a real pytest suite, a task on it, and a loop that executes teacher replies.

The workspace diff is computed the way a sandbox does (changes incl. new files vs the base commit) with a
throwaway index, so the repo's own index is whatever the executed commands left in it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from swe_dagger.agents.protocol import Message
from swe_dagger.envs.actions import is_submission, parse_action
from swe_dagger.envs.task import Task
from swe_dagger.teachers.protocol import Teacher, TeacherState

OPS = '''"""Small arithmetic helpers."""


def add(a, b):
    return a + b


def sub(a, b):
    return a - b


def mul(a, b):
    return a * b


def div(a, b):
    return a / b


def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def mean(xs):
    total = 0
    for x in xs:
        total += x
    return total / len(xs)


def describe(xs):
    return {"n": len(xs), "mean": mean(xs)}
'''

UTILS = '''"""String helpers."""


def shout(s):
    return s.upper()


def whisper(s):
    return s.lower()
'''

README = "calc: tiny arithmetic package\n"

BASE_TESTS = """from calc.ops import add, clamp, mean


def test_add():
    assert add(2, 3) == 5


def test_clamp():
    assert clamp(5, 0, 3) == 3


def test_mean():
    assert mean([1, 2, 3]) == 2
"""

NEW_TESTS = """

def test_div_by_zero_is_none():
    from calc.ops import div

    assert div(1, 0) is None


def test_mean_empty_is_zero():
    assert mean([]) == 0


def test_shout_strips():
    from calc.utils import shout

    assert shout("  hi ") == "HI"


def test_square():
    from calc.extra import square

    assert square(4) == 16
"""


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env, check=True)
    return out.stdout


def _gold_edit(repo: Path) -> None:
    ops = repo / "calc/ops.py"
    text = ops.read_text()
    text = text.replace(
        "def div(a, b):\n    return a / b", "def div(a, b):\n    if b == 0:\n        return None\n    return a / b"
    )
    text = text.replace("    total = 0\n", "    if not xs:\n        return 0\n    total = 0\n")
    ops.write_text(text)
    utils = repo / "calc/utils.py"
    utils.write_text(utils.read_text().replace("return s.upper()", "return s.strip().upper()"))
    (repo / "calc/extra.py").write_text('"""Extra helpers."""\n\n\ndef square(x):\n    return x * x\n')


def workspace_diff(repo: Path, base: str) -> str:
    """Changes of the working tree (new files included) vs ``base``, leaving the repo's index alone."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(repo, "read-tree", base, env=env)
        git(repo, "add", "-A", env=env)
        return git(repo, "diff", "--cached", "--binary", base, env=env)


def tree_of(repo: Path, base: str) -> str:
    """The git tree hash of the working tree (new files included)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(repo, "read-tree", base, env=env)
        git(repo, "add", "-A", env=env)
        return git(repo, "write-tree", env=env).strip()


@dataclass(frozen=True)
class TinyRepo:
    """A base repo, its task, and the git tree the gold patch produces."""

    origin: Path
    task: Task
    gold_tree: str

    def clone(self, dest: Path) -> Path:
        subprocess.run(["git", "clone", "-q", str(self.origin), str(dest)], check=True)
        git(dest, "config", "user.email", "t@example.com")
        git(dest, "config", "user.name", "t")
        return dest

    def resolved(self, repo: Path) -> bool:
        """Grading: the tests of the test patch pass on a copy of the workspace."""
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "w"
            shutil.copytree(repo, copy)
            subprocess.run(["git", "apply"], cwd=copy, input=self.task.test_patch, text=True, check=True)
            tests = [t for t in self.task.fail_to_pass]
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                cwd=copy,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            )
            return run.returncode == 0


def build_tiny_repo(root: Path) -> TinyRepo:
    repo = root / "origin"
    (repo / "calc").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "calc/__init__.py").write_text("")
    (repo / "calc/ops.py").write_text(OPS)
    (repo / "calc/utils.py").write_text(UTILS)
    (repo / "README.md").write_text(README)
    (repo / "tests/test_ops.py").write_text(BASE_TESTS)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD").strip()
    _gold_edit(repo)
    patch = workspace_diff(repo, base)
    gold_tree = tree_of(repo, base)
    git(repo, "checkout", "-q", "--", ".")
    git(repo, "clean", "-fdq")
    (repo / "tests/test_ops.py").write_text(BASE_TESTS + NEW_TESTS)
    test_patch = workspace_diff(repo, base)
    git(repo, "checkout", "-q", "--", ".")
    f2p = ("test_div_by_zero_is_none", "test_mean_empty_is_zero", "test_shout_strips", "test_square")
    task = Task(
        instance_id="tiny__calc-1",
        repo="local/calc",
        base_commit=base,
        problem_statement="div by zero should give None; mean([]) should be 0; shout should strip; add square().",
        patch=patch,
        test_patch=test_patch,
        fail_to_pass=tuple(f"tests/test_ops.py::{t}" for t in f2p),
        pass_to_pass=("tests/test_ops.py::test_add", "tests/test_ops.py::test_clamp", "tests/test_ops.py::test_mean"),
        repo_path=repo,
    )
    return TinyRepo(repo, task, gold_tree)


@pytest.fixture(scope="session")
def tiny_repo(tmp_path_factory: pytest.TempPathFactory) -> TinyRepo:
    return build_tiny_repo(tmp_path_factory.mktemp("tiny"))


@dataclass
class Episode:
    messages: list[Message]
    submitted: bool
    commands: list[str]


def run_bash(repo: Path, command: str) -> str:
    out = subprocess.run(
        ["bash", "-c", command],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    return f"<returncode>{out.returncode}</returncode>\n{out.stdout}{out.stderr}"


def run_episode(
    teacher: Teacher, task: Task, repo: Path, messages: list[Message] | None = None, max_turns: int = 30
) -> Episode:
    """Let ``teacher`` act on ``repo`` (real bash) until it submits or runs out of turns."""
    msgs = list(messages or [Message("system", "You are a careful engineer."), Message("user", task.problem_statement)])
    commands: list[str] = []
    for _ in range(max_turns):
        state = TeacherState(task, tuple(msgs), workspace_diff(repo, task.base_commit))
        (text,) = teacher.label([state])
        command = parse_action(text)
        commands.append(command)
        output = run_bash(repo, command)
        msgs += [Message("assistant", text), Message("user", output)]
        if is_submission(output.split("\n", 1)[1]):
            return Episode(msgs, True, commands)
    return Episode(msgs, False, commands)


@pytest.fixture
def episode_runner() -> Callable[..., Episode]:
    return run_episode


@pytest.fixture
def fresh_clone(tiny_repo: TinyRepo, tmp_path: Path) -> Iterator[Path]:
    yield tiny_repo.clone(tmp_path / "work")


@dataclass(frozen=True)
class Kit:
    """The helpers above, handed to test modules (which cannot import conftest under importlib mode)."""

    run_episode: Callable[..., Episode] = run_episode
    workspace_diff: Callable[[Path, str], str] = workspace_diff
    tree_of: Callable[[Path, str], str] = tree_of
    run_bash: Callable[[Path, str], str] = run_bash


@pytest.fixture
def kit() -> Kit:
    return Kit()


def system_venv() -> Path:
    """A venv over this interpreter (pytest included), kept outside /tmp, which the local sandbox hides."""
    cache = Path(os.environ.get("SWE_DAGGER_CACHE", Path.home() / ".cache" / "swe-dagger"))
    venv = cache / "test-venvs" / f"teachers-py{sys.version_info.major}{sys.version_info.minor}"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    return venv


@pytest.fixture(scope="session")
def venv_task(tiny_repo: TinyRepo) -> Task:
    """The tiny task with a venv, as the local sandbox needs to run its tests."""
    return dataclasses.replace(tiny_repo.task, venv=system_venv())
