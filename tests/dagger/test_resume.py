"""kill -9 of a real ``swe-dagger train`` during collection and during training, then ``--resume``: the final
dataset (and episodes and weights) equal those of an uninterrupted run with the same seed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from swe_dagger.dagger.rollout.episode_log import episode_log, read_trajectories
from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.task import Task

pytestmark = pytest.mark.slow


def overrides(tasks_dir: Path, student: Path, run_dir: Path) -> list[str]:
    return [
        f"tasks.train={tasks_dir / 'train.jsonl'}", f"tasks.test={tasks_dir / 'test.jsonl'}",
        f"student.model={student}", f"run_dir={run_dir}",
        "dagger.iterations=2", "dagger.episodes_per_iteration=3", "dagger.num_envs=1",
        "dagger.schedule=constant", "dagger.beta=0.5", "env.max_turns=2", "eval.episodes=1", "student.max_new_tokens=8",
        "student.max_prompt_tokens=256", "sft.epochs=2", "sft.max_seq_len=256", "sft.batch_size=4", "progress=false",
        "tensorboard=false", "seed=3",
    ]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "swe_dagger.dagger.cli", "train", *args]


def run_until(cmd: list[str], condition: Callable[[], bool], timeout: float = 400) -> None:
    """Start ``cmd``, SIGKILL it the moment ``condition()`` holds (fails if it exits or times out first)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            if proc.poll() is not None:
                pytest.fail(f"run ended before the kill point: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                pytest.fail("kill point not reached in time")
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_kill9_during_collection_and_training_then_resume(
    shape_tasks: list[Task], tiny_student_dir: Path, tmp_path: Path
) -> None:
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    save_tasks(shape_tasks[:3], tasks_dir / "train.jsonl")
    save_tasks(shape_tasks[3:], tasks_dir / "test.jsonl")
    ref, killed = tmp_path / "ref", tmp_path / "killed"

    subprocess.run(cli(*overrides(tasks_dir, tiny_student_dir, ref)), check=True, capture_output=True, timeout=600)

    # 1) kill during iteration 0's collection: one episode logged, the iteration's labels not yet written
    log0 = killed / "episodes" / "train_iter_000.jsonl"
    run_until(cli(*overrides(tasks_dir, tiny_student_dir, killed)),
              lambda: lines(log0) >= 1 and not (killed / "markers" / "iter_000.labeled").exists())
    assert 1 <= lines(log0) < 3
    # 2) resume, and kill again during iteration 1's training (labels written, checkpoint not yet)
    trained1 = killed / "markers" / "iter_001.trained"
    run_until(cli("--resume", str(killed)),
              lambda: (killed / "markers" / "iter_001.labeled").exists() and not trained1.exists())
    assert not trained1.exists() and not (killed / "checkpoints" / "iter_001").exists()
    # 3) resume to the end (--no-progress: the bars are the one thing a resume may change)
    subprocess.run(cli("--resume", str(killed), "--no-progress"), check=True, capture_output=True, timeout=600)

    for i in (0, 1):
        name = f"data/labels_iter_{i:03d}.jsonl"
        assert (killed / name).read_bytes() == (ref / name).read_bytes(), name
        assert read_trajectories(episode_log(killed, "train", i)) == read_trajectories(episode_log(ref, "train", i))
    weights = "checkpoints/iter_001/model.safetensors"
    assert (killed / weights).read_bytes() == (ref / weights).read_bytes()
    assert lines(killed / "metrics.jsonl") == lines(ref / "metrics.jsonl") == 2
    with pytest.raises(subprocess.CalledProcessError):  # a finished run refuses a second start in the same dir
        subprocess.run(cli(*overrides(tasks_dir, tiny_student_dir, ref)), check=True, capture_output=True)
