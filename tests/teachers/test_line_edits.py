"""The visible style's one-line sed edits, run by real bash on real files (nasty lines included)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from swe_dagger.teachers.line_edits import (
    LineOp,
    changed_span,
    escape_pattern,
    line_ops,
    numbered_lines,
    sed_command,
)
from swe_dagger.teachers.regions import RepairHunk

NASTY = [
    ("    return a / b\n", "    return a // b\n"),
    ("    x = y & z  # a & b\n", "    x = y | z  # a & b\n"),
    ('    path = "C:\\\\dir\\\\n"\n', '    path = "C:\\\\dir\\\\t"\n'),
    ("    if s.endswith('.*'):\n", "    if not s.endswith('.*'):\n"),
    ("    return xs[i] + xs[i-1]\n", "    return xs[i] - xs[i-1]\n"),
    ("    m = re.match(r'^[a-z]+$', s)\n", "    m = re.match(r'^[a-z]*$', s)\n"),
    ("    return f\"{a!r}\" + '\"'\n", "    return f\"{a!r}\" + \"'\"\n"),
    ("\tif x < 1 and x < 2:\n", "\tif x < 1 and x <= 2:\n"),
    ("    return a < b < c < d\n", "    return a < b <= c < d\n"),
    ("    s = 'é' * 3  # ünïcode\n", "    s = 'é' * 4  # ünïcode\n"),
    ("    return None\n", "    return value\n"),
    ("\n", "    pass\n"),
    ("    a = 1 ; b = 2 ; a = 1\n", "    a = 1 ; b = 2 ; a = 0\n"),
    ("    return tail(seq, 1)[0]\n", "    return tail(1, seq)[0]\n"),
]


def _run(tmp_path: Path, lines: list[str], command: str) -> list[str]:
    f = tmp_path / "m.py"
    f.write_text("".join(lines), encoding="utf-8")
    out = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, (command, out.stderr)
    return f.read_text(encoding="utf-8").splitlines(keepends=True)


@pytest.mark.parametrize(("old", "new"), NASTY)
def test_replace_on_nasty_lines(old: str, new: str, tmp_path: Path) -> None:
    before = ["first = 1\n", old, old, "last = 2\n"]
    command = sed_command(LineOp("replace", 3, old, new), "m.py")
    assert command.startswith("sed -i '3s/")
    assert _run(tmp_path, before, command) == ["first = 1\n", old, new, "last = 2\n"]


@pytest.mark.parametrize(("old", "new"), NASTY)
def test_append_insert_and_delete_on_nasty_lines(old: str, new: str, tmp_path: Path) -> None:
    lines = ["a\n", old, "b\n"]
    assert _run(tmp_path, lines, sed_command(LineOp("append", 2, old, new), "m.py")) == ["a\n", old, new, "b\n"]
    assert _run(tmp_path, lines, sed_command(LineOp("insert", 1, "a\n", new), "m.py")) == [new, *lines]
    assert _run(tmp_path, lines, sed_command(LineOp("delete", 2, old), "m.py")) == ["a\n", "b\n"]


def test_the_replaced_text_is_a_short_visible_substring_whose_first_occurrence_is_the_change() -> None:
    span = changed_span("    return tail(seq, 1)[0]", "    return tail(1, seq)[0]")
    assert span == ("tail(seq, 1)[0]", "tail(1, seq)[0]")
    assert changed_span("    if x < lo:", "    if x <= lo:") == ("<", "<=")
    old, new = changed_span("    return a < b < c", "    return a < b <= c")
    assert old == "b < c" and new == "b <= c"


def test_a_multi_line_hunk_becomes_one_line_ops_applied_bottom_up(tmp_path: Path) -> None:
    base = ["def f(x):\n", "    pass\n", "    return x\n", "\n"]
    gold = ["def f(x):\n", "    if x < 0:\n", "        x = -x\n", "    y = x\n", "    return y\n", "\n"]
    lines = base
    for _ in range(6):
        ops = line_ops(RepairHunk(first_line=1, old=tuple(lines), new=tuple(gold), leading=0, trailing=0))
        if not ops:
            break
        op = ops[-1]
        assert all(o.line <= op.line for o in ops), "the last op is the lowest in the file"
        assert lines[op.line - 1] == op.old, "the op relies on the line's current text"
        lines = _run(tmp_path, lines, sed_command(op, "m.py"))
    assert lines == gold


def test_numbered_lines_read_an_nl_view() -> None:
    obs = "<returncode>0</returncode>\n<output>\n     9\tdef f():\n    10\t    return 1\n</output>"
    assert numbered_lines(obs) == {9: "def f():", 10: "    return 1"}


def test_a_line_without_final_newline_is_not_a_sed_edit() -> None:
    with pytest.raises(ValueError, match=r"line 3 of m\.py"):
        sed_command(LineOp("replace", 3, "x = 1", "x = 2"), "m.py")


def test_a_dot_stays_unescaped_unless_it_would_match_an_earlier_place() -> None:
    assert escape_pattern("self.x = a.b", "    self.x = a.b") == "self.x = a.b"
    assert escape_pattern("a.b", "axb = a.b") == "a\\.b", "unescaped, `a.b` would change `axb` first"
    assert escape_pattern("x[0].y/2") == "x\\[0\\]\\.y\\/2", "without the line every dot is escaped"
    assert escape_pattern("x[0].y/2", "x[0].y/2") == "x\\[0\\].y\\/2"
