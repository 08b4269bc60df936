"""Task loading: real SWE-bench rows in every format, local extensions, and errors that name row and field."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from swe_dagger.envs.loading import TaskFormatError, load_tasks, save_tasks, task_from_row

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "swebench"  # the repo's ../shared
LITE = DATA / "swebench_lite_test.json"
VERIFIED = DATA / "swebench_verified_complete_subset.jsonl"
PARTIAL = DATA / "swebench_verified_partial_500.jsonl"


@pytest.mark.parametrize(("path", "count"), [(LITE, 300), (VERIFIED, 176)])
def test_real_swebench_files_load(path: Path, count: int) -> None:
    tasks = load_tasks(path)
    assert len(tasks) == count
    assert len({t.instance_id for t in tasks}) == count
    assert all(t.repo and t.base_commit and t.patch.startswith("diff --git") for t in tasks)


def test_rows_without_tests_are_refused() -> None:
    """The partial Verified copy has no FAIL_TO_PASS: nothing on it could be graded, so it does not load."""
    with pytest.raises(TaskFormatError, match=r"row 1 \(astropy__astropy-12907\): field 'FAIL_TO_PASS' is missing"):
        load_tasks(PARTIAL)


def test_json_string_test_lists_are_decoded() -> None:
    rows = json.loads(LITE.read_text())
    task = next(t for t in load_tasks(LITE) if t.instance_id == "pallets__flask-4992")
    raw = next(r for r in rows if r["instance_id"] == "pallets__flask-4992")
    assert isinstance(raw["FAIL_TO_PASS"], str)
    assert task.fail_to_pass == ("tests/test_config.py::test_config_from_file_toml",)
    assert len(task.pass_to_pass) == 18
    assert task.version == "2.3"


def test_lists_and_strings_give_equal_tasks(tmp_path: Path) -> None:
    rows = json.loads(LITE.read_text())[:5]
    as_lists = [{**r, "FAIL_TO_PASS": json.loads(r["FAIL_TO_PASS"]), "PASS_TO_PASS": json.loads(r["PASS_TO_PASS"])}
                for r in rows]
    assert load_tasks(rows) == load_tasks(as_lists)


def test_parquet_and_jsonl_round_trip(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in VERIFIED.read_text().splitlines()[:20]]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "v.parquet")
    from_parquet = load_tasks(tmp_path / "v.parquet")
    assert from_parquet == load_tasks(rows)
    assert any(t.extra.get("difficulty") for t in load_tasks(VERIFIED))
    save_tasks(from_parquet, tmp_path / "out.jsonl")
    again = load_tasks(tmp_path / "out.jsonl")
    assert again == from_parquet
    assert [t.extra for t in again] == [t.extra for t in from_parquet]


def test_local_extensions_round_trip_with_relative_paths(tmp_path: Path) -> None:
    repo = tmp_path / "suite" / "repos" / "r1"
    venv = tmp_path / "suite" / "venvs" / "v1"
    repo.mkdir(parents=True)
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    row = {"instance_id": "a__b-1", "repo": "a/b", "base_commit": "", "problem_statement": "fix", "patch": "",
           "FAIL_TO_PASS": ["tests/test_a.py::test_a"],
           "repo_path": str(repo), "venv": str(venv), "test_cmd": "pytest -rA", "image": "img:1", "source": "synth"}
    task = task_from_row(row)
    out = save_tasks([task], tmp_path / "suite" / "train.jsonl")
    written = json.loads(out.read_text())
    assert written["repo_path"] == "repos/r1"  # relative to the file, so a suite directory can move
    (loaded,) = load_tasks(out)
    assert loaded == task and loaded.repo_path == repo.resolve() and loaded.venv == venv.resolve()
    assert loaded.extra == {"source": "synth"} and loaded.test_cmd == "pytest -rA" and loaded.image == "img:1"


def _row(**over: object) -> dict[str, object]:
    base = {"instance_id": "x__y-1", "repo": "x/y", "base_commit": "c0ffee", "problem_statement": "p", "patch": "",
            "FAIL_TO_PASS": ["tests/test_y.py::test_y"]}
    return {**base, **over}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({k: v for k, v in _row().items() if k != "repo"}, "'repo'"),
        (_row(FAIL_TO_PASS="not json ["), "'FAIL_TO_PASS'"),
        (_row(PASS_TO_PASS=[1, 2]), "'PASS_TO_PASS'"),
        (_row(patch=3), "'patch'"),
        (_row(repo_path="/nonexistent/dir"), "'repo_path'"),
        (_row(venv="/tmp"), "'venv'"),
        (_row(instance_id=""), "'instance_id'"),
        (_row(base_commit=""), "'base_commit'"),
    ],
)
def test_malformed_rows_name_row_and_field(tmp_path: Path, row: dict[str, object], field: str) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(_row(instance_id="ok__ok-1")) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(TaskFormatError) as info:
        load_tasks(path)
    message = str(info.value)
    assert str(path) in message and "row 2" in message and field in message


def test_file_level_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{not json\n')
    with pytest.raises(TaskFormatError, match="line 2"):
        load_tasks(tmp_path / "bad.jsonl")
    with pytest.raises(TaskFormatError, match="does not exist"):
        load_tasks(tmp_path / "missing.jsonl")
    (tmp_path / "t.csv").write_text("x")
    with pytest.raises(TaskFormatError, match="unknown task file type"):
        load_tasks(tmp_path / "t.csv")
    with pytest.raises(TaskFormatError, match="duplicates row 1"):
        load_tasks([_row(), _row()])


def test_hub_names_go_to_datasets_and_fail_clearly_offline() -> None:
    """A ``owner/name[:split]`` that is not a file is a Hugging Face dataset (online only): offline, a clear error."""
    import os
    import subprocess
    import sys

    code = "from swe_dagger.envs.loading import load_tasks; load_tasks('princeton-nlp/SWE-bench_Lite:test')"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0
    assert "TaskFormatError" in out.stderr and "Hugging Face dataset failed to load" in out.stderr
