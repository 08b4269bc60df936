"""Shared fixtures for the DAgger tests: a real tiny student (random-init Qwen3 + trained BPE tokenizer)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from swe_dagger.agents.tiny_student import build_tiny_student

    return build_tiny_student(tmp_path_factory.mktemp("student") / "init", params="300k", vocab_size=1000, seed=0)


# --- a tiny real project: a git repo with a pytest suite and one buggy commit per task (synth-shaped tasks) ---

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from swe_dagger.envs.task import Task  # noqa: E402

SHAPES = '''"""Shape helpers."""


def area(w, h):
    """Area of a w x h rectangle."""
    return w * h


def perimeter(w, h):
    """Perimeter of a w x h rectangle."""
    return 2 * (w + h)


def is_square(w, h):
    """True when the rectangle is a square."""
    return w == h


def scale(w, h, k):
    """The rectangle scaled by k."""
    return (w * k, h * k)
'''

SHAPE_TESTS = '''from shapes.core import area, is_square, perimeter, scale


def test_area():
    assert area(2, 3) == 6


def test_perimeter():
    assert perimeter(2, 3) == 10


def test_is_square():
    assert is_square(2, 2) and not is_square(2, 3)


def test_scale():
    assert scale(2, 3, 2) == (4, 6)
'''

BUGS = [
    ("area", "return w * h", "return w + h"),
    ("perimeter", "return 2 * (w + h)", "return 2 * w + h"),
    ("is_square", "return w == h", "return w != h"),
    ("scale", "return (w * k, h * k)", "return (w * k, h)"),
]
ALL_TESTS = [f"tests/test_core.py::test_{name}" for name, _, _ in BUGS]


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


def shared_test_venv() -> Path:
    """A venv seeing the host's pytest, outside /tmp (the sandbox replaces /tmp); built once per machine."""
    venv = Path(os.environ.get("SWE_DAGGER_CACHE", Path.home() / ".cache" / "swe-dagger")) / "test-venv-dagger"
    if not (venv / "bin" / "python").exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                       check=True)
    return venv


def build_shape_tasks(root: Path) -> list[Task]:
    """Four real tasks (one mutated function each) over one git repo, with a venv that sees the host's pytest."""
    repo = root / "repo"
    (repo / "shapes").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "shapes" / "__init__.py").write_text("")
    (repo / "shapes" / "core.py").write_text(SHAPES)
    (repo / "tests" / "test_core.py").write_text(SHAPE_TESTS)
    _git(repo, "init", "-q", "-b", "good")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "shapes")
    venv = shared_test_venv()
    tasks = []
    for name, old, new in BUGS:
        _git(repo, "checkout", "-q", "-b", f"bug-{name}", "good")
        (repo / "shapes" / "core.py").write_text(SHAPES.replace(old, new))
        _git(repo, "commit", "-qam", f"bug in {name}")
        base = _git(repo, "rev-parse", "HEAD").strip()
        patch = _git(repo, "diff", base, "good", "--", "shapes")
        _git(repo, "checkout", "-q", "good")
        f2p = f"tests/test_core.py::test_{name}"
        tasks.append(Task(
            instance_id=f"shapes__shapes-{name}", repo="shapes/shapes", base_commit=base,
            problem_statement=f"{name}() returns wrong results; tests/test_core.py::test_{name} fails.",
            patch=patch, fail_to_pass=(f2p,), pass_to_pass=tuple(t for t in ALL_TESTS if t != f2p),
            repo_path=repo, venv=venv, test_cmd="python -m pytest -rA -p no:cacheprovider tests/test_core.py",
            # built so that gold passes and the bug fails (the train tests check gold episodes resolve), so they are
            # marked as `swe-dagger tasks validate` would mark them: runs use the default env.allow_unvalidated=false
            extra={"validated": "hand-built: gold FULL, empty NO"},
        ))
    return tasks


@pytest.fixture(scope="session")
def shape_tasks(tmp_path_factory: pytest.TempPathFactory) -> list[Task]:
    return build_shape_tasks(tmp_path_factory.mktemp("shapes"))


@pytest.fixture(scope="session")
def ray_module() -> object:
    """The ``ray`` module (the ``ray`` extra); without it the test is skipped, except under CI=true, where it fails:
    CI must run the Ray engine tests (scripts/setup.sh installs the extra)."""
    try:
        import ray
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must run the Ray tests: scripts/setup.sh installs the ray extra")
        pytest.skip("ray is not installed (pip install 'swe-dagger[ray]')")
    return ray
