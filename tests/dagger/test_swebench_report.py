"""What ``swebench-eval`` says on the console beside its totals: every error, and why preds.jsonl is empty."""

from __future__ import annotations

from pathlib import Path

from swe_dagger.dagger.eval.swebench_report import ERROR_CHARS, InstanceOutcome, problem_lines


def outcome(iid: str, status: str, error: str | None = None) -> InstanceOutcome:
    return InstanceOutcome(iid, "o/r", status, None, False, "", 0, error)  # type: ignore[arg-type]


def test_each_error_is_printed_and_an_empty_preds_file_is_explained(tmp_path: Path) -> None:
    preds = tmp_path / "preds.jsonl"
    mixed = problem_lines([outcome("a-1", "resolved"), outcome("b-2", "error", "ImageNotFound: x/y:latest"),
                           outcome("c-3", "empty_patch")], preds)
    assert mixed == ["error: b-2: ImageNotFound: x/y:latest"]  # preds.jsonl holds a-1 and c-3: nothing to explain
    long = "E" * (ERROR_CHARS + 50)
    failed = problem_lines([outcome("a-1", "error", long), outcome("b-2", "error", None)], preds)
    assert failed[0] == f"error: a-1: {'E' * ERROR_CHARS}… (the rest in {tmp_path / 'results.json'})"
    assert failed[1] == "error: b-2: (no message)"
    assert failed[2].startswith(f"{preds} is empty: all 2 instances ended in an error")
    assert problem_lines([], preds) == [f"{preds} is empty: no instance was evaluated"]
