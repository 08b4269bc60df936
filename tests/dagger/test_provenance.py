"""Provenance: label rows name the teacher and the student version; config.yaml records the task suites (path and
content hash), the package version and git commit; records from before these fields still load."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from swe_dagger.dagger.config import ConfigError, RunConfig, load_config, load_resolved, save_resolved
from swe_dagger.dagger.rollout.serialize import trajectory_from_json, trajectory_to_json
from swe_dagger.dagger.run.provenance import (
    git_commit,
    held_out_tasks_of,
    record_run_provenance,
    run_provenance,
    source_root,
    tasks_hash,
    teacher_model,
)
from swe_dagger.dagger.sft.dataset import label_rows, labels_path, read_labels, write_iteration_labels
from swe_dagger.envs.task import Task

from .test_dataset import make_traj


def _task(i: int, patch: str = "p") -> Task:
    return Task(instance_id=f"r__r-{i}", repo="r/r", base_commit="0" * 40, problem_statement="bug", patch=patch,
                test_patch="t", fail_to_pass=("test_a",))


def test_label_rows_name_teacher_and_student_and_old_rows_load(tmp_path: Path) -> None:
    traj = replace(make_traj(0, 0), teacher_id="chat:qwen@http://x#ab", teacher_model="qwen",
                   student_version="iter_002")
    assert trajectory_from_json(trajectory_to_json(traj), "t") == traj
    write_iteration_labels(tmp_path, 0, [traj])
    rows = read_labels(labels_path(tmp_path, 0))
    assert rows == label_rows(traj) and len(rows) == 2
    assert {(r.teacher_id, r.teacher_model, r.student_version) for r in rows} == {
        ("chat:qwen@http://x#ab", "qwen", "iter_002")}
    # a run dir written before provenance: rows and trajectories without the fields load with None / ""
    old_rows = [json.loads(line) for line in labels_path(tmp_path, 0).read_text().splitlines()]
    for row in old_rows:
        del row["teacher_id"], row["teacher_model"], row["student_version"]
    labels_path(tmp_path, 0).write_text("".join(json.dumps(r) + "\n" for r in old_rows))
    assert [r.teacher_id for r in read_labels(labels_path(tmp_path, 0))] == [None, None]
    old_traj = trajectory_to_json(traj)
    for key in ("teacher_id", "teacher_model", "student_version", "patch", "failed_tests"):
        del old_traj[key]
    assert trajectory_from_json(old_traj, "old") == replace(traj, teacher_id=None, teacher_model=None,
                                                            student_version="")


def test_config_yaml_records_suites_version_and_commit_and_still_loads(tmp_path: Path) -> None:
    cfg = load_config(overrides=["seed=3"])
    tasks = [_task(0), _task(1)]
    path = save_resolved(cfg, tmp_path)
    record_run_provenance(path, run_provenance({"train": ("/suite/train.jsonl", tasks), "test": ("t.jsonl", [])}))
    text = path.read_text()
    assert "provenance:" in text and "/suite/train.jsonl" in text and tasks_hash(tasks) in text
    head = subprocess.run(["git", "-C", str(source_root()), "rev-parse", "HEAD"], capture_output=True, text=True)
    commit = git_commit()
    assert commit is not None and commit.split("-")[0] == head.stdout.strip() and f"git_commit: {commit}" in text
    assert "package_version: 0.1.0" in text
    assert load_resolved(tmp_path) == cfg  # --resume: the provenance section is not a setting
    assert load_config(path).seed == 3  # a run's config.yaml reused as --config


def test_tasks_hash_changes_with_content_and_git_commit_outside_a_checkout(tmp_path: Path) -> None:
    assert tasks_hash([_task(0)]) == tasks_hash([_task(0)]) != tasks_hash([_task(0, patch="q")])
    assert tasks_hash([_task(0), _task(1)]) != tasks_hash([_task(1), _task(0)])
    copy = tmp_path / "pkg"
    copy.mkdir()
    shutil.copy(source_root() / "pyproject.toml", copy / "pyproject.toml")
    assert git_commit(copy) is None  # not a git checkout
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert git_commit(copy) is None  # inside some other repository: not ours


def test_teacher_model_looks_through_wrappers() -> None:
    class Chat:
        model = "qwen3-coder"

    class Wrapper:
        def __init__(self, inner: object) -> None:
            self.inner = inner

    assert teacher_model(Wrapper(Wrapper(Chat()))) == "qwen3-coder"
    assert teacher_model(Wrapper(object())) is None and teacher_model(None) is None


def test_readme_eval_example_runs_on_the_main_jobs_held_out_tasks(tmp_path: Path) -> None:
    (line,) = [x for x in (source_root() / "README.md").read_text().splitlines() if x.startswith("swe-dagger eval ")]
    checkpoint = Path(line.split()[2])
    cfg = RunConfig()  # the main job: its last checkpoint is the one the example evaluates
    assert checkpoint == cfg.resolved_run_dir() / "checkpoints" / f"iter_{cfg.dagger.iterations - 1:03d}"
    assert "--tasks" not in line.split("#")[0]
    run = tmp_path / cfg.resolved_run_dir()
    record_run_provenance(save_resolved(cfg, run), run_provenance(
        {"train": ("/suite/train.jsonl", [_task(0)]), "test": ("/suite/test.jsonl", [_task(1)])}))
    assert held_out_tasks_of(tmp_path / checkpoint) == "/suite/test.jsonl"
    (tmp_path / "model").mkdir()
    out = subprocess.run([sys.executable, "-m", "swe_dagger.dagger.cli", "eval", str(tmp_path / "model")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "is not inside a run directory" in out.stderr and "--tasks" in out.stderr
    (run / "config.yaml").write_text("mode: dagger\n")  # a run from before provenance
    with pytest.raises(ConfigError, match="names no held-out task file"):
        held_out_tasks_of(tmp_path / checkpoint)
