"""Issue 13 item 9 (checkpoints): ``swe-dagger eval`` (and ``train`` with ``student.model``) on an empty dir, a
corrupt config.json, truncated safetensors or a bad --tasks file is one ``error:`` line naming the file, exit 2."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from swe_dagger.dagger.sft.checkpoint_files import CheckpointError, check_checkpoint
from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.task import Task

from .conftest import one_error


def _empty(ckpt: Path) -> str:
    shutil.rmtree(ckpt)
    ckpt.mkdir()
    return "no config.json"


def _corrupt_config(ckpt: Path) -> str:
    (ckpt / "config.json").write_text('{"model_type": "qwen3", ')
    return "config.json: not valid JSON"


def _truncated_weights(ckpt: Path) -> str:
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    return "model.safetensors: truncated or corrupt"


def _garbage_weights(ckpt: Path) -> str:
    (ckpt / "model.safetensors").write_bytes(b"\x00" * 5)
    return "model.safetensors: truncated or not safetensors"


def _no_tokenizer(ckpt: Path) -> str:
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (ckpt / name).unlink(missing_ok=True)
    return "no tokenizer"


FAULTS: list[Callable[[Path], str]] = [_empty, _corrupt_config, _truncated_weights, _garbage_weights, _no_tokenizer]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.__name__.strip("_"))
def test_eval_and_train_name_a_broken_checkpoint(app: typer.Typer, fault: Callable[[Path], str],
                                                 shape_tasks: list[Task], tiny_student_dir: Path,
                                                 tmp_path: Path) -> None:
    ckpt = Path(shutil.copytree(tiny_student_dir, tmp_path / "iter_000"))
    needle = fault(ckpt)
    tasks = save_tasks(shape_tasks[:1], tmp_path / "tasks.jsonl")
    out = tmp_path / "eval"
    line = one_error(CliRunner().invoke(app, ["eval", str(ckpt), "--tasks", str(tasks), "--out", str(out)]))
    assert needle in line and str(ckpt) in line and not out.exists()
    run_dir = tmp_path / "run"
    line = one_error(CliRunner().invoke(app, ["train", f"student.model={ckpt}", f"run_dir={run_dir}",
                                               f"tasks.train={tasks}", "progress=false"]))
    assert line.startswith("error: student.model: ") and needle in line and not run_dir.exists()


def test_eval_names_a_bad_tasks_file(app: typer.Typer, tiny_student_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"

    def run(tasks: Path) -> str:
        return one_error(CliRunner().invoke(app, ["eval", str(tiny_student_dir), "--tasks", str(tasks),
                                                   "--out", str(out)]))

    assert "task file" in run(tmp_path / "missing.jsonl") and "does not exist" in run(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text(json.dumps({"instance_id": "a__b-1", "repo": "a/b"}) + "\n")
    assert "bad.jsonl: row 1 (a__b-1): missing required field 'base_commit'" in run(tmp_path / "bad.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    assert "empty.jsonl: no tasks" in run(tmp_path / "empty.jsonl")
    assert not out.exists()
    assert "--max-turns" in one_error(CliRunner().invoke(app, ["eval", str(tiny_student_dir), "--tasks", "x",
                                                                "--max-turns", "0"]))


def test_a_whole_checkpoint_passes_and_sharded_ones_are_checked(tiny_student_dir: Path, tmp_path: Path) -> None:
    check_checkpoint(tiny_student_dir)
    ckpt = Path(shutil.copytree(tiny_student_dir, tmp_path / "sharded"))
    (ckpt / "model.safetensors").rename(ckpt / "model-00001-of-00002.safetensors")
    weight_map = {"w": "model-00001-of-00002.safetensors", "v": "model-00002-of-00002.safetensors"}
    (ckpt / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(CheckpointError, match=r"lists model-00002-of-00002\.safetensors, which is missing"):
        check_checkpoint(ckpt)
