"""Issue 13 item 2: one process per run dir (train, --resume) and per --out dir (eval, swebench-eval).

Real processes on both sides: a holder process (or a real ``swe-dagger train``) holds the lock, the real CLI is
refused with exit 2 and one line naming the holder's PID, and once the holder is gone the lock is free again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from swe_dagger.dagger.run.dir_lock import DirLock, DirLockedError
from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.task import Task

Cli = Callable[..., subprocess.CompletedProcess[str]]
ErrorLine = Callable[[subprocess.CompletedProcess[str]], str]
Holder = Callable[[Path], subprocess.Popen[str]]


def _free(directory: Path) -> bool:
    try:
        with DirLock(directory):
            return True
    except DirLockedError:
        return False


def test_lock_is_exclusive_names_the_holder_and_dies_with_it(tmp_path: Path, hold_lock: Holder) -> None:
    holder = hold_lock(tmp_path / "d")
    assert (tmp_path / "d" / ".lock").read_text().strip() == str(holder.pid)
    with pytest.raises(DirLockedError, match=f"in use by process {holder.pid}"):
        DirLock(tmp_path / "d").acquire()
    holder.kill()  # kill -9: the kernel drops the lock, the stale file blocks no one
    holder.wait()
    assert _free(tmp_path / "d")
    lock = DirLock(tmp_path / "d").acquire()
    assert (tmp_path / "d" / ".lock").read_text().strip() == str(os.getpid())
    lock.release()
    lock.release()  # safe twice


def test_train_and_resume_refuse_a_locked_run_dir(tmp_path: Path, hold_lock: Holder, cli: Cli,
                                                  error_line: ErrorLine) -> None:
    run_dir = tmp_path / "run"
    holder = hold_lock(run_dir)
    for args in (["--resume", str(run_dir)], [f"run_dir={run_dir}", "progress=false"]):
        line = error_line(cli("train", *args))
        assert f"{run_dir} is in use by process {holder.pid}" in line
    assert sorted(p.name for p in run_dir.iterdir()) == [".lock"]  # nothing written by the refused runs
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(timeout=30)
    line = error_line(cli("train", "--resume", str(run_dir)))  # the lock is free: now it looks for the run
    assert "no run there (config.yaml is missing" in line


def test_eval_commands_refuse_a_locked_out_dir(shape_tasks: list[Task], tiny_student_dir: Path, tmp_path: Path,
                                               hold_lock: Holder, cli: Cli, error_line: ErrorLine) -> None:
    tasks = save_tasks(shape_tasks[:1], tmp_path / "tasks.jsonl")
    out = tmp_path / "out"
    holder = hold_lock(out)
    swebench = cli("swebench-eval", "--out", str(out), "--dataset", str(tasks), "--teacher", "oracle",
                   "--mode", "local", "--no-progress")
    assert f"{out} is in use by process {holder.pid}" in error_line(swebench)
    ev = cli("eval", str(tiny_student_dir), "--tasks", str(tasks), "--out", str(out), "--no-progress")
    assert f"{out} is in use by process {holder.pid}" in error_line(ev)
    assert sorted(p.name for p in out.iterdir()) == [".lock"]


def test_a_running_train_holds_its_run_dir(shape_tasks: list[Task], tiny_student_dir: Path, tmp_path: Path,
                                           cli: Cli, error_line: ErrorLine) -> None:
    """A real train holds the lock from its start: a second --resume is refused naming it; after kill -9 the
    directory is free again. (Its chat teacher's endpoint accepts connections and never answers, so the first run
    waits at its first label for as long as the test needs.)"""
    save_tasks(shape_tasks[:2], tmp_path / "train.jsonl")
    save_tasks(shape_tasks[2:3], tmp_path / "test.jsonl")
    run_dir = tmp_path / "run"
    silent = socket.create_server(("127.0.0.1", 0))
    teacher = f"{{model: m, base_url: 'http://127.0.0.1:{silent.getsockname()[1]}/v1', api_key: k, timeout_s: 600}}"
    first = subprocess.Popen(
        [sys.executable, "-m", "swe_dagger.dagger.cli", "train", f"tasks.train={tmp_path / 'train.jsonl'}",
         f"tasks.test={tmp_path / 'test.jsonl'}", f"student.model={tiny_student_dir}", f"run_dir={run_dir}",
         "teacher.name=chat", f"teacher.options={teacher}", "dagger.iterations=1", "dagger.num_envs=1",
         "progress=false", "tensorboard=false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not (run_dir / "config.yaml").exists():  # written once the start has succeeded
            assert first.poll() is None, first.stderr.read().decode()[-3000:] if first.stderr else ""
            assert time.monotonic() < deadline, "the first run did not start in time"
            time.sleep(0.1)
        line = error_line(cli("train", "--resume", str(run_dir)))
        assert f"in use by process {first.pid}" in line
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        if first.stderr:
            first.stderr.close()
        silent.close()
    assert _free(run_dir)
