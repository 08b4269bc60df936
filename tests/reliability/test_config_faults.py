"""Issue 13 item 3: every config value is checked before anything is written; a bad one is one ``error:`` line
naming its key (exit 2), and a run dir whose start failed can be reused by the same command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.task import Task

from .conftest import one_error

CLI = [sys.executable, "-m", "swe_dagger.dagger.cli"]

BAD_VALUES = [
    # the values the issue lists
    ("dagger.beta=1.5", "dagger.beta"), ("dagger.iterations=-1", "dagger.iterations"),
    ("dagger.num_envs=0", "dagger.num_envs"), ("env.max_turns=0", "env.max_turns"), ("sft.lr=-1", "sft.lr"),
    ("sft.batch_size=0", "sft.batch_size"), ("dagger.labels_per_iteration=0", "dagger.labels_per_iteration"),
    ("teacher.name=nosuch", "teacher.name"), ("env.sandbox=podman", "env.sandbox"),
    ("student.model=/nonexistent", "student.model"),
    # every other section
    ("tasks.max_train=0", "tasks.max_train"), ("tasks.max_test=-2", "tasks.max_test"),
    ("tasks.suite_max_tasks=0", "tasks.suite_max_tasks"), ("tasks.train=", "tasks.train"),
    ("tasks.kinds=[typo_op]", "tasks.kinds"), ("tasks.kinds=[]", "tasks.kinds"),
    ("env.command_timeout_s=0", "env.command_timeout_s"), ("student.max_new_tokens=0", "student.max_new_tokens"),
    ("student.max_prompt_tokens=0", "student.max_prompt_tokens"),
    ("student.temperature=-0.5", "student.temperature"), ("student.tiny_params=lots", "student.tiny_params"),
    ("student.backend=tgi", "student.backend"), ("student.prompt=short", "student.prompt"),
    ("teacher.options={nosuch: 1}", "teacher.options"), ("teacher.name=chat", "teacher.options"),
    ("dagger.iterations=0", "dagger.iterations"), ("dagger.beta_end=-0.1", "dagger.beta_end"),
    ("dagger.episodes_per_iteration=0", "dagger.episodes_per_iteration"), ("dagger.schedule=cosine", "cosine"),
    ("dagger.mixing=random", "dagger.mixing"),
    ("sft.lr=nan", "sft.lr"), ("sft.epochs=0", "sft.epochs"), ("sft.grad_accum=0", "sft.grad_accum"),
    ("sft.max_seq_len=0", "sft.max_seq_len"), ("sft.weight_decay=-1", "sft.weight_decay"),
    ("sft.warmup_steps=-1", "sft.warmup_steps"), ("sft.lora_r=0", "sft.lora_r"), ("sft.lora_alpha=0", "sft.lora_alpha"),
    ("sft.precision=fp8", "sft.precision"),
    ("eval.episodes=-1", "eval.episodes"), ("eval.every=0", "eval.every"),
    ("grpo.lr=-1", "grpo.lr"), ("grpo.temperature=0", "grpo.temperature"), ("grpo.clip_eps_low=1", "grpo.clip_eps_low"),
    ("grpo.clip_eps_high=inf", "grpo.clip_eps_high"), ("grpo.group_size=0", "grpo.group_size"),
    ("grpo.steps=-1", "grpo.steps"), ("grpo.tis_cap=0", "grpo.tis_cap"), ("grpo.kl_coef=-1", "grpo.kl_coef"),
    ("phases=[{grpo: {micro_batch_size: 0}}]", "phases[0].grpo: grpo.micro_batch_size"),
    ("seed=-1", "seed"), ("mode=rl", "mode"), ("run_dir=", "run_dir"),
]




@pytest.mark.parametrize(("override", "key"), BAD_VALUES)
def test_a_bad_value_is_one_error_line_naming_its_key_and_nothing_is_written(
    app: typer.Typer, tmp_path: Path, override: str, key: str
) -> None:
    run_dir = tmp_path / "run"
    overrides = [override] if override.startswith("run_dir=") else [override, f"run_dir={run_dir}"]
    result = CliRunner().invoke(app, ["train", *overrides, "progress=false"])
    assert key in one_error(result)
    assert not run_dir.exists()


def test_bad_values_in_a_config_file_and_in_a_saved_run_are_named(app: typer.Typer, tmp_path: Path) -> None:
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(f"run_dir: {tmp_path / 'run'}\nsft:\n  batch_size: 0\n")
    assert "sft.batch_size must be >= 1, got 0" in one_error(CliRunner().invoke(app, ["train", "-c", str(run_yaml)]))
    assert not (tmp_path / "run").exists()
    old = tmp_path / "old"  # a run saved before values were checked
    old.mkdir()
    (old / "config.yaml").write_text("dagger:\n  beta: 1.5\n")
    assert "dagger.beta must be in [0, 1], got 1.5" in one_error(CliRunner().invoke(app, ["train", "--resume",
                                                                                           str(old)]))
    (old / "config.yaml").write_text("dagger: [unclosed\n")
    assert "cannot read" in one_error(CliRunner().invoke(app, ["train", "--resume", str(old)]))


def _starts(cmd: list[str], run_dir: Path, timeout: float = 240) -> None:
    """Run ``cmd`` until it has written ``run_dir/config.yaml`` (its start succeeded), then kill it."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not (run_dir / "config.yaml").exists():
            if proc.poll() is not None:
                pytest.fail(f"the rerun did not start: {proc.stderr.read().decode()[-3000:]}")  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the rerun did not start in time"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


def test_a_run_dir_whose_start_failed_is_reused_by_the_same_command(
    shape_tasks: list[Task], tiny_student_dir: Path, tmp_path: Path,
    cli: Callable[..., subprocess.CompletedProcess[str]],
    error_line: Callable[[subprocess.CompletedProcess[str]], str],
) -> None:
    save_tasks(shape_tasks[:2], tmp_path / "train.jsonl")
    save_tasks(shape_tasks[2:3], tmp_path / "test.jsonl")
    labels = tmp_path / "labels.jsonl"
    run_dir = tmp_path / "run"
    args = ["train", f"tasks.train={tmp_path / 'train.jsonl'}", f"tasks.test={tmp_path / 'test.jsonl'}",
            f"student.model={tiny_student_dir}", f"run_dir={run_dir}", "teacher.name=replay",
            f"teacher.options={{path: {labels}}}", "dagger.iterations=1", "progress=false", "tensorboard=false"]
    # the replay teacher's file is missing: the start fails after the run dir was locked (so it exists)
    line = error_line(cli(*args))
    assert "teacher: cannot build 'replay'" in line and str(labels) in line
    assert run_dir.is_dir() and not (run_dir / "config.yaml").exists()
    row = {"key": "0" * 64, "teacher_id": "oracle", "task_id": shape_tasks[0].instance_id, "turn": 0, "label": "x"}
    labels.write_text(json.dumps(row) + "\n")
    _starts([*CLI, *args], run_dir)  # the same command now starts in the same directory
    assert "teacher:\n  name: replay" in (run_dir / "config.yaml").read_text()
