"""Unified-diff parsing and the region-wise comparison, on diffs real git produced."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from swe_dagger.envs.unidiff import DiffParseError, parse_diff
from swe_dagger.teachers.regions import file_regions, repair_hunk


def _git_diff(tmp_path: Path, before: dict[str, str], after: dict[str, str | None], *flags: str) -> str:
    repo = tmp_path / "r"
    repo.mkdir(parents=True)
    run = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True, text=True).stdout  # noqa: E731
    run("init", "-q")
    for name, text in before.items():
        (repo / name).write_text(text)
    run("add", "-A")
    run("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "base")
    for name, text in after.items():
        if text is None:
            (repo / name).unlink()
        else:
            (repo / name).write_text(text)
    run("add", "-A")
    return run("diff", "--cached", *flags)


def test_parses_new_deleted_renamed_and_no_newline_files(tmp_path: Path) -> None:
    before = {"a.txt": "one\ntwo\nthree\n", "gone.txt": "bye\n", "old name.txt": "same\n" * 20}
    after = {"a.txt": "one\n2\nthree", "gone.txt": None, "new.txt": "hi\n", "old name.txt": None}
    after["new name.txt"] = "same\n" * 20
    diff = _git_diff(tmp_path, before, after, "-M")
    files = {f.path: f for f in parse_diff(diff)}
    assert set(files) == {"a.txt", "gone.txt", "new.txt", "new name.txt"}
    assert files["new.txt"].is_new and files["gone.txt"].is_deleted
    assert files["new name.txt"].is_rename and files["new name.txt"].old_path == "old name.txt"
    (edit,) = files["a.txt"].edits()
    assert (edit.start, edit.end) == (1, 3)
    assert edit.removed == ("two\n", "three\n") and edit.added == ("2\n", "three")  # last line lost its newline


def test_binary_files_are_flagged(tmp_path: Path) -> None:
    repo_diff = _git_diff(tmp_path, {"x.txt": "x\n"}, {"blob.bin": "\x00\x01\x02"}, "--binary")
    (f,) = parse_diff(repo_diff)
    assert f.binary and f.is_new and not f.hunks


def test_malformed_hunks_are_errors_that_say_where() -> None:
    bad = "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n line\n-gone\n"
    with pytest.raises(DiffParseError, match="truncated"):
        parse_diff(bad, source="gold patch")
    with pytest.raises(DiffParseError, match="gold patch: line 3: malformed hunk header"):
        parse_diff("--- a/x\n+++ b/x\n@@ nonsense @@\n", source="gold patch")


def _regions(tmp_path: Path, base: str, workspace: str, gold: str) -> list:
    w = parse_diff(_git_diff(tmp_path / "w", {"f": base}, {"f": workspace}))
    g = parse_diff(_git_diff(tmp_path / "g", {"f": base}, {"f": gold}))
    w_edits = w[0].edits() if w else []
    known = {**(w[0].base_lines() if w else {}), **g[0].base_lines()}
    return file_regions(known, w_edits, g[0].edits())


def test_an_equal_file_matches_even_when_the_diffs_place_an_insertion_differently() -> None:
    before = "--- a/f\n+++ b/f\n@@ -18,6 +18,7 @@\n line 17\n line 18\n line 19\n+dup\n dup\n tail 0\n tail 1\n"
    after = "--- a/f\n+++ b/f\n@@ -19,6 +19,7 @@\n line 18\n line 19\n dup\n+dup\n tail 0\n tail 1\n tail 2\n"
    (w,), (g,) = parse_diff(before), parse_diff(after)
    assert w.edits()[0].start != g.edits()[0].start
    regions = file_regions({**w.base_lines(), **g.base_lines()}, w.edits(), g.edits())
    assert len(regions) == 1 and regions[0].matches
    other = parse_diff(after.replace("+dup", "+dupe"))[0]
    assert not file_regions({**w.base_lines(), **other.base_lines()}, w.edits(), other.edits())[0].matches


def test_a_wrong_edit_inside_a_gold_hunk_gives_one_local_repair(tmp_path: Path) -> None:
    base = "".join(f"x{i} = {i}\n" for i in range(40))
    gold = base.replace("x20 = 20\n", "x20 = 'fixed'\n")
    wrong = base.replace("x20 = 20\n", "x20 = None\nprint('debug')\n")
    (region,) = _regions(tmp_path, base, wrong, gold)
    assert not region.matches
    hunk = repair_hunk(region)
    assert hunk.old[hunk.leading : len(hunk.old) - hunk.trailing] == ("x20 = None\n", "print('debug')\n")
    assert hunk.new[hunk.leading : len(hunk.new) - hunk.trailing] == ("x20 = 'fixed'\n",)
    assert hunk.first_line == 18 and hunk.leading == hunk.trailing == 3
