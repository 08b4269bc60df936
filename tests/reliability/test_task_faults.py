"""Issue 13 items 8 and 9 (task files): rows that would fail mid-run, or write outside the output folder, fail at
load with one line naming the file, the row and the field; through the CLI that is one ``error:`` line, exit 2."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from swe_dagger.envs.loading import TaskFormatError, load_tasks, save_tasks, task_to_row
from swe_dagger.envs.task import Task

Cli = Callable[..., subprocess.CompletedProcess[str]]
ErrorLine = Callable[[subprocess.CompletedProcess[str]], str]
LITE = Path(__file__).resolve().parents[3] / "shared" / "data" / "swebench" / "swebench_lite_test.json"


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _rows(tasks: list[Task], base_dir: Path) -> list[dict[str, object]]:
    return [task_to_row(t, base_dir) for t in tasks]


@pytest.mark.parametrize("bad_id", ["../../x", "a/b", "/etc/passwd", ".hidden", "-rf", "a b", "x" * 201, "é"])
def test_unsafe_instance_ids_are_refused_naming_the_row(shape_tasks: list[Task], tmp_path: Path,
                                                        bad_id: str) -> None:
    rows = _rows(shape_tasks[:2], tmp_path)
    rows[1]["instance_id"] = bad_id
    with pytest.raises(TaskFormatError, match=r"tasks\.jsonl: row 2 .*field 'instance_id' .* not a safe file name"):
        load_tasks(_write(tmp_path / "tasks.jsonl", rows))


def test_swebench_eval_refuses_a_traversing_id_and_writes_nothing_outside_out(
    shape_tasks: list[Task], tmp_path: Path, cli: Cli, error_line: ErrorLine
) -> None:
    rows = _rows(shape_tasks[:1], tmp_path)
    rows[0]["instance_id"] = "../../x"
    tasks = _write(tmp_path / "tasks.jsonl", rows)
    out = tmp_path / "a" / "b" / "out"
    line = error_line(cli("swebench-eval", "--out", str(out), "--dataset", str(tasks), "--teacher", "oracle",
                          "--mode", "local", "--no-progress"))
    assert "row 1 (../../x): field 'instance_id'" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.jsonl"]  # not even --out was made


def test_non_utf8_bytes_name_the_line(shape_tasks: list[Task], tmp_path: Path, cli: Cli,
                                      error_line: ErrorLine) -> None:
    path = save_tasks(shape_tasks[:3], tmp_path / "tasks.jsonl")
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"returns wrong", b"returns \xff\xfe wrong")
    path.write_bytes(b"".join(lines))
    with pytest.raises(TaskFormatError, match=r"tasks\.jsonl: line 2 is not UTF-8 text"):
        load_tasks(path)
    json_path = tmp_path / "tasks.json"
    json_path.write_bytes(b'[{"instance_id": "\xc3"}]')
    with pytest.raises(TaskFormatError, match=r"tasks\.json: line 1 is not UTF-8 text"):
        load_tasks(json_path)
    run_dir = tmp_path / "run"
    line = error_line(cli("train", f"tasks.train={path}", f"run_dir={run_dir}", "progress=false"))
    assert "tasks.jsonl: line 2 is not UTF-8 text" in line and not run_dir.exists()


def test_a_base_commit_missing_from_repo_path_fails_at_load(shape_tasks: list[Task], tmp_path: Path) -> None:
    rows = _rows(shape_tasks[:3], tmp_path)
    rows[2]["base_commit"] = "0123456789abcdef0123456789abcdef01234567"
    with pytest.raises(TaskFormatError, match=r"row 3 \(shapes__shapes-is_square\): field 'base_commit': "
                                              r"'0123456789abcdef0123456789abcdef01234567' is not a commit of"):
        load_tasks(_write(tmp_path / "tasks.jsonl", rows))
    rows[2]["base_commit"] = shape_tasks[2].base_commit
    plain = tmp_path / "plain"  # a directory outside any git repository, given a base_commit
    plain.mkdir()
    rows[1]["repo_path"] = str(plain)
    with pytest.raises(TaskFormatError, match=r"row 2 .*field 'base_commit': repo_path .* is not a git repository"):
        load_tasks(_write(tmp_path / "tasks.jsonl", rows))
    assert len(load_tasks(_write(tmp_path / "ok.jsonl", _rows(shape_tasks, tmp_path)))) == 4  # the good ones load


def test_truncated_patches_fail_at_load() -> None:
    row = next(r for r in json.loads(LITE.read_text()) if r["instance_id"] == "pallets__flask-4992")
    assert load_tasks([row])  # whole, it loads
    test_patch = row["test_patch"]
    last_hunk = test_patch.rindex("\n@@")
    cut_mid_hunk = test_patch[: test_patch.index("\n", last_hunk + 1) + 3] + "\n"  # the last hunk loses its lines
    with pytest.raises(TaskFormatError, match=r"row 1 \(pallets__flask-4992\): field 'test_patch' is not a "
                                              r"complete diff: .*hunk .* is truncated"):
        load_tasks([{**row, "test_patch": cut_mid_hunk}])
    with pytest.raises(TaskFormatError, match=r"field 'test_patch' .* does not end with a newline"):
        load_tasks([{**row, "test_patch": test_patch[:-40]}])
    with pytest.raises(TaskFormatError, match=r"field 'patch' .* holds no file header"):
        load_tasks([{**row, "patch": "fix the bug\n"}])


@pytest.mark.parametrize("fail_to_pass", [None, [], "[]", ""])
def test_a_row_without_fail_to_pass_is_refused(fail_to_pass: object) -> None:
    row = next(r for r in json.loads(LITE.read_text()) if r["instance_id"] == "pallets__flask-4992")
    row = {k: v for k, v in row.items() if k != "FAIL_TO_PASS"}
    if fail_to_pass is not None:
        row["FAIL_TO_PASS"] = fail_to_pass
    with pytest.raises(TaskFormatError, match=r"row 1 \(pallets__flask-4992\): field 'FAIL_TO_PASS' is missing or "
                                              "empty"):
        load_tasks([row])


def test_unreadable_task_files(tmp_path: Path, shape_tasks: list[Task]) -> None:
    (tmp_path / "t.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(TaskFormatError, match=r"t\.parquet: not a readable parquet file"):
        load_tasks(tmp_path / "t.parquet")
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(TaskFormatError, match=r"dir\.jsonl: cannot read the task file"):
        load_tasks(tmp_path / "dir.jsonl")
    broken = dataclasses.replace(shape_tasks[0], fail_to_pass=())  # save_tasks writes what load_tasks refuses
    with pytest.raises(TaskFormatError, match="FAIL_TO_PASS"):
        load_tasks(save_tasks([broken], tmp_path / "broken.jsonl"))
