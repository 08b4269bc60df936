"""Run a project's tests with its venv in a directory and read per-test outcomes with swebench's pytest parser.

The command is the task's ``test_cmd`` verbatim (run by ``bash -c`` with the venv first on ``PATH``), so the
outcomes recorded at synthesis time are the ones the grader will read.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from swebench.harness.log_parsers.python import parse_log_pytest

PYTEST = "python -m pytest -rA -p no:cacheprovider --tb=short"


@dataclass(frozen=True)
class PytestRun:
    """One run of the selected tests: statuses by node id, the log, and how it ended."""

    statuses: dict[str, str]
    log: str
    exit_code: int
    timed_out: bool
    duration_s: float


def pytest_command(selection: Sequence[str], pythonpath: str = "") -> str:
    """The shell command that runs ``selection`` (test files or node ids); ``src`` layouts get ``PYTHONPATH``."""
    prefix = f"PYTHONPATH={shlex.quote(pythonpath)} " if pythonpath else ""
    return f"{prefix}{PYTEST} {' '.join(shlex.quote(s) for s in selection)}"


def clean_node_id(node_id: str) -> bool:
    """True for ids the log parser reads back whole (no spaces, balanced parametrisation brackets)."""
    return "::" in node_id and not any(c.isspace() for c in node_id) and node_id.count("[") == node_id.count("]")


def run_tests(workdir: Path, venv: Path, command: str, *, timeout_s: float) -> PytestRun:
    """Run ``command`` in ``workdir`` with ``venv`` on ``PATH``; a hung run is killed (process group) at the limit."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        VIRTUAL_ENV=str(venv),
        PYTHONDONTWRITEBYTECODE="1",  # a same-size mutant within the same second must not reuse a stale .pyc
    )
    start = time.monotonic()
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        timed_out = True
    log = out.decode("utf-8", errors="replace")
    statuses = dict(parse_log_pytest(log, None))
    return PytestRun(statuses, log, proc.returncode, timed_out, time.monotonic() - start)
