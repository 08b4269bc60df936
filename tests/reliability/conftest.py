"""Fixtures for the reliability tests: the DAgger tests' real tiny student and shape tasks (one definition, loaded
from tests/dagger/conftest.py), a helper that runs the real ``swe-dagger`` CLI in a subprocess, and a process that
holds a directory's lock."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer
from click.testing import Result

from swe_dagger.dagger import run_cli
from swe_dagger.dagger.eval import swebench_cli

_spec = importlib.util.spec_from_file_location("dagger_fixtures", Path(__file__).parents[1] / "dagger" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_dagger = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_dagger)
shape_tasks = _dagger.shape_tasks
tiny_student_dir = _dagger.tiny_student_dir

HOLD = """
import sys
from swe_dagger.dagger.run.dir_lock import DirLock
lock = DirLock(sys.argv[1]).acquire()
print("locked", flush=True)
sys.stdin.read()  # hold until the test closes stdin
"""


CLI = [sys.executable, "-m", "swe_dagger.dagger.cli"]
"""The real ``swe-dagger`` command."""


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False)


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="session")
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli(*args)``: ``swe-dagger ARGS`` in a fresh process (captured text output)."""
    return _cli


@pytest.fixture(scope="session")
def error_line() -> Callable[[subprocess.CompletedProcess[str]], str]:
    """``error_line(proc)``: the one ``error:`` line a refused command printed; asserts exit 2, exactly one stderr
    line, no traceback."""
    return _error_line


@pytest.fixture()
def hold_lock() -> Iterator[Callable[[Path], subprocess.Popen[str]]]:
    """``hold_lock(dir)``: a separate process that holds ``dir``'s lock until its stdin is closed."""
    holders: list[subprocess.Popen[str]] = []

    def start(directory: Path) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        holders.append(proc)
        return proc

    yield start
    for proc in holders:
        release_holder(proc)


def release_holder(proc: subprocess.Popen[str]) -> None:
    """Let a ``hold_lock`` process exit (closing its stdin) and wait for it; safe twice."""
    if proc.stdin is not None and not proc.stdin.closed:
        proc.stdin.close()
    proc.wait(timeout=30)
    if proc.stdout is not None and not proc.stdout.closed:
        proc.stdout.close()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """The real ``train``/``eval``/``swebench-eval`` commands on a Typer app, run in this process."""
    app = typer.Typer()
    run_cli.register(app)
    swebench_cli.register(app)
    return app


def one_error(result: Result) -> str:
    """The single ``error:`` line a CLI failure prints (exit 2), asserted to be exactly that."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.stderr or result.exception
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]
