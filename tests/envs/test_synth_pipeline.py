"""Synthesis on a tiny real project: real venv, real pytest runs, real git repo, then the default-suite path
(validated in the real bubblewrap sandbox) and episodes in the real env: gold by shell → 1.0, submit at once → 0.0."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from swe_dagger.envs.actions import SUBMIT_MARKER
from swe_dagger.envs.loading import load_tasks
from swe_dagger.envs.swe_env import SWEEnv
from swe_dagger.envs.synth.candidates import project_candidates
from swe_dagger.envs.synth.default_suite import DefaultSuite, PinnedSource, default_cache_dir, ensure_default_suite
from swe_dagger.envs.synth.mutations import KINDS
from swe_dagger.envs.synth.project import load_project
from swe_dagger.envs.synth.runner import run_tests
from swe_dagger.envs.synth.split import split_by_function
from swe_dagger.envs.task import Task

CORE = '''\
"""Small helpers with a test suite."""


def clamp(x, lo, hi):
    """Clamp x into the closed range [lo, hi]."""
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def is_even(n):
    """True when n is even."""
    return n % 2 == 0


def window(seq, n):
    """All consecutive windows of length n, as tuples."""
    return [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]


def first_word(text, default=""):
    """The first whitespace-separated word of text, or default."""
    words = text.split()
    if not words:
        return default
    return words[0]
'''

TESTS = """\
from minilib.core import clamp, first_word, is_even, window


def test_clamp_inside():
    assert clamp(5, 0, 10) == 5


def test_clamp_below_and_above():
    assert clamp(-3, 0, 10) == 0
    assert clamp(30, 0, 10) == 10


def test_clamp_edges():
    assert clamp(0, 0, 10) == 0
    assert clamp(10, 0, 10) == 10


def test_is_even():
    assert is_even(4) and not is_even(7)


def test_window():
    assert window([1, 2, 3, 4], 2) == [(1, 2), (2, 3), (3, 4)]
    assert window([1, 2], 3) == []


def test_first_word():
    assert first_word("  hello world ") == "hello"
    assert first_word("   ", default="none") == "none"
"""


def write_project(root: Path) -> Path:
    """Write ``minilib`` (package + tests) under ``root``; returns the project folder."""
    project = root / "minilib"
    (project / "minilib").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "minilib" / "__init__.py").write_text("")
    (project / "minilib" / "core.py").write_text(CORE)
    (project / "tests" / "test_core.py").write_text(TESTS)
    return project


pytestmark = pytest.mark.slow  # one real venv, real test runs, real sandbox validation: ~1-2 min on 2 busy cores

SUBMIT = f"Done.\n```bash\necho {SUBMIT_MARKER}\n```"


@pytest.fixture(scope="session")
def minilib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("src"))


@pytest.fixture(scope="session")
def suite(minilib: Path) -> Iterator[DefaultSuite]:
    # venvs must not live under /tmp (the sandbox replaces it), so the suite goes to the cache
    cache = default_cache_dir() / "test-synth" / f"session-{os.getpid()}"
    sources = (PinnedSource(str(minilib), 100),)
    try:
        yield ensure_default_suite(cache, max_tasks=6, sources=sources, progress=False)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(scope="session")
def tasks(suite: DefaultSuite) -> list[Task]:
    return load_tasks(suite.train_path) + load_tasks(suite.test_path)


def test_suite_is_validated_split_by_function_and_cached(suite: DefaultSuite, tasks: list[Task], minilib: Path) -> None:
    assert suite.n_tasks == len(tasks) >= 4 and suite.prep_s > 0
    assert all(t.validated and t.test_patch == "" and t.fail_to_pass for t in tasks)
    functions = {t.extra["function"] for t in tasks}
    assert len(functions) >= 3 and all(f.startswith("minilib/core.py::") for f in functions)
    train_fns = {t.extra["function"] for t in load_tasks(suite.train_path)}
    test_fns = {t.extra["function"] for t in load_tasks(suite.test_path)}
    assert train_fns and test_fns and not train_fns & test_fns
    again = ensure_default_suite(suite.root.parent.parent, max_tasks=6, sources=(PinnedSource(str(minilib), 100),))
    assert again.prep_s == 0.0 and again.n_tasks == suite.n_tasks  # cache hit


HOLD_LOCK = """
import fcntl, sys, time
from pathlib import Path
root = Path(sys.argv[1])
with open(root.parent / (root.name + ".lock"), "a") as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    (root / "manifest.json").rename(root / "manifest.hidden")  # as if this process were still preparing the suite
    print("locked", flush=True)
    time.sleep(2.0)
    (root / "manifest.hidden").rename(root / "manifest.json")
"""


def test_a_second_process_waits_for_the_one_preparing_and_reads_its_cache(
        suite: DefaultSuite, minilib: Path, capfd: pytest.CaptureFixture[str]) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(suite.root)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        start = time.monotonic()
        again = ensure_default_suite(suite.root.parent.parent, max_tasks=6, sources=(PinnedSource(str(minilib), 100),))
        waited = time.monotonic() - start
    finally:
        holder.wait(timeout=30)
    assert holder.returncode == 0
    assert waited > 1.0 and again.prep_s == 0.0 and again.n_tasks == suite.n_tasks  # waited, then read the cache
    assert "waiting for another process that is preparing the task suite" in capfd.readouterr().err


def test_gold_patch_fixes_and_base_fails_in_a_copy_elsewhere(tasks: list[Task], tmp_path: Path) -> None:
    for task in tasks:
        assert task.repo_path is not None and task.venv is not None and task.test_cmd
        copy = tmp_path / task.instance_id
        subprocess.run(["git", "clone", "-q", str(task.repo_path), str(copy)], check=True)
        subprocess.run(["git", "-C", str(copy), "checkout", "-q", task.base_commit], check=True)
        base = run_tests(copy, task.venv, task.test_cmd, timeout_s=60)
        assert all(base.statuses.get(t) == "FAILED" for t in task.fail_to_pass), task.instance_id
        assert all(base.statuses.get(t) == "PASSED" for t in task.pass_to_pass), task.instance_id
        subprocess.run(["git", "-C", str(copy), "apply", "-"], input=task.patch, text=True, check=True)
        fixed = run_tests(copy, task.venv, task.test_cmd, timeout_s=60)
        assert all(fixed.statuses.get(t) == "PASSED" for t in (*task.fail_to_pass, *task.pass_to_pass))
        added = [ln[1:].strip() for ln in task.patch.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
        assert not any(line and line in task.problem_statement for line in added)
        assert "minilib.core." in task.problem_statement and task.fail_to_pass[0] in task.problem_statement


def test_every_task_scores_one_with_gold_by_shell_and_zero_when_submitted_at_once(tasks: list[Task]) -> None:
    with SWEEnv(tasks, sandbox="local", max_turns=4, command_timeout_s=30) as env:
        for task in tasks:
            env.reset(options={"task_id": task.instance_id})
            _, reward, terminated, *_ = env.step(SUBMIT)
            assert (reward, terminated) == (0.0, True), task.instance_id
            env.reset(options={"task_id": task.instance_id})
            heredoc = f"cat > /tmp/fix.patch <<'PATCH_EOF'\n{task.patch}PATCH_EOF\ngit apply /tmp/fix.patch"
            obs, *_ = env.step(f"Applying the fix.\n```bash\n{heredoc}\n```")
            assert "<returncode>0</returncode>" in obs
            _, reward, terminated, _, info = env.step(SUBMIT)
            assert (reward, terminated, info["resolution"]) == (1.0, True, "FULL"), task.instance_id


def test_candidates_are_seeded_and_split_keeps_functions_together(minilib: Path, tasks: list[Task]) -> None:
    project = load_project(str(minilib), minilib.parent / "work")
    first = project_candidates(project, seed=1, kinds=KINDS, max_tries=4, max_items=25)
    assert first == project_candidates(project, seed=1, kinds=KINDS, max_tries=4, max_items=25)
    other = project_candidates(project, seed=2, kinds=KINDS, max_tries=4, max_items=25)
    assert [c.mutation for fn in first for c in fn] != [c.mutation for fn in other for c in fn]
    train, test = split_by_function(tasks, test_fraction=0.5, seed=3)
    assert len(train) + len(test) == len(tasks)
    assert not {t.extra["function"] for t in train} & {t.extra["function"] for t in test}
    with pytest.raises(ValueError, match="test_fraction"):
        split_by_function(tasks, test_fraction=1.5)


def test_cli_synthesize_writes_tasks_and_rejects_bad_sources(minilib: Path, tmp_path: Path) -> None:
    out = tmp_path / "mini.jsonl"
    cli = [sys.executable, "-m", "swe_dagger.dagger.cli", "tasks", "synthesize"]
    done = subprocess.run([*cli, str(minilib), "--out", str(out), "--max-tasks", "2", "--no-progress"],
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    written = load_tasks(out)
    assert len(written) == 2 and "2 tasks from minilib" in done.stdout
    assert out.with_name("mini.train.jsonl").exists() and out.with_name("mini.test.jsonl").exists()
    bad = subprocess.run([*cli, "not-a-dir-or-pin", "--out", str(out)], capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "not a directory nor a 'name==version' pin" in bad.stderr + bad.stdout
