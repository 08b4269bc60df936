"""Subprocess smoke tests of ``swe-dagger train`` / ``swe-dagger eval`` (real CLI, real envs, tiny student)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.task import Task


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "swe_dagger.dagger.cli", *args], capture_output=True, text=True,
                          timeout=600)


def test_bad_override_is_a_clear_error() -> None:
    out = cli("train", "dagger.iteratons=2")
    assert out.returncode != 0 and "dagger.iteratons" in out.stderr


@pytest.mark.slow
def test_train_bc_then_eval(shape_tasks: list[Task], tiny_student_dir: Path, tmp_path: Path) -> None:
    save_tasks(shape_tasks[:2], tmp_path / "train.jsonl")
    save_tasks(shape_tasks[2:3], tmp_path / "test.jsonl")
    compact_system = Agent(AgentConfig.for_style("compact")).initial_messages("x")[0].content
    run_dir = tmp_path / "run"
    out = cli("train", "--mode", "bc", f"tasks.train={tmp_path / 'train.jsonl'}",
              f"tasks.test={tmp_path / 'test.jsonl'}", f"student.model={tiny_student_dir}",
              f"run_dir={run_dir}", "dagger.iterations=1",
              "dagger.episodes_per_iteration=2", "dagger.num_envs=2", "env.max_turns=5", "eval.episodes=1",
              "student.max_new_tokens=8", "sft.epochs=1", "sft.max_seq_len=384", "--no-progress")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Loading weights" not in out.stderr and "Writing model shards" not in out.stderr  # --no-progress
    resolved = (run_dir / "config.yaml").read_text()
    assert "mode: bc" in resolved and "iterations: 1" in resolved and "progress: false" in resolved
    (row,) = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert row["beta"] == 1.0 and row["rollout/student_turns"] == 0 and row["rollout/resolve_rate"] == 1.0
    assert row["eval/episodes"] == 1 and (run_dir / "curves.png").is_file() and any((run_dir / "tb").iterdir())
    label = json.loads((run_dir / "data" / "labels_iter_000.jsonl").read_text().splitlines()[0])
    system, task = (m["content"] for m in label["prefix"])  # student.prompt: compact (the default)
    assert system == compact_system and task.startswith("<pr_description>") and "```bash" not in task
    ev = cli("eval", str(run_dir / "checkpoints" / "iter_000"), "--tasks", str(tmp_path / "test.jsonl"),
             "--out", str(tmp_path / "ev"), "--max-turns", "2", "--no-progress")
    assert ev.returncode == 0, ev.stderr[-3000:]
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert results["episodes"] == 1 and results["student_turns"] >= 1
    (episode,) = [json.loads(line) for line in (tmp_path / "ev" / "episodes.jsonl").read_text().splitlines()]
    assert episode["prefix"][0]["content"] == compact_system
    bad = cli("eval", str(run_dir / "checkpoints" / "iter_000"), "--tasks", str(tmp_path / "test.jsonl"),
              "--prompt", "short")
    assert bad.returncode == 2 and "'short' is not one of 'default', 'compact'" in re.sub(r"[\s│]+", " ", bad.stderr)


def test_base_mode_evaluates_the_initial_student_once_and_compare_shows_it(
    shape_tasks: list[Task], tiny_student_dir: Path, tmp_path: Path
) -> None:
    save_tasks(shape_tasks[:2], tmp_path / "train.jsonl")
    save_tasks(shape_tasks[2:4], tmp_path / "test.jsonl")
    run_dir = tmp_path / "base-0"
    out = cli("train", "--mode", "base", f"tasks.train={tmp_path / 'train.jsonl'}",
              f"tasks.test={tmp_path / 'test.jsonl'}", f"student.model={tiny_student_dir}", f"run_dir={run_dir}",
              "dagger.iterations=3", "env.max_turns=2", "eval.episodes=2", "student.max_new_tokens=8",
              "progress=false")
    assert out.returncode == 0, out.stderr[-3000:]
    (row,) = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert row["iteration"] == 0 and row["eval/episodes"] == 2 and row["eval/student_turns"] >= 2
    assert row["data/dataset_labels"] == 0 and row["train/steps"] == 0 and row["rollout/episodes"] == 0
    assert not (run_dir / "data").exists() or not list((run_dir / "data").glob("labels_iter_*"))
    assert not list((run_dir / "checkpoints").glob("iter_*")) if (run_dir / "checkpoints").exists() else True
    cmp = cli("compare", str(run_dir), "--out", str(tmp_path / "cmp.png"))
    assert cmp.returncode == 0, cmp.stderr[-3000:]
    assert "base" in cmp.stdout


def test_unvalidated_task_file_fails_before_the_run_dir_exists(shape_tasks: list[Task], tmp_path: Path) -> None:
    import dataclasses

    raw = [dataclasses.replace(t, extra={k: v for k, v in t.extra.items() if k != "validated"}) for t in shape_tasks]
    save_tasks(raw[:2], tmp_path / "train.jsonl")
    run_dir = tmp_path / "run"
    out = cli("train", f"tasks.train={tmp_path / 'train.jsonl'}", f"run_dir={run_dir}", "progress=false",
              "tensorboard=false")
    assert out.returncode != 0
    message = out.stderr
    assert "train.jsonl" in message and "2 of 2 tasks are not validated" in message
    assert "swe-dagger tasks validate" in message and "env.allow_unvalidated=true" in message
    assert not run_dir.exists()
