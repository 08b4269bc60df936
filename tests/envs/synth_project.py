"""A tiny real project with a real pytest suite, written to disk for synthesizer tests."""

from __future__ import annotations

from pathlib import Path

CORE = '''\
"""Small helpers with a test suite."""


def clamp(x, lo, hi):
    """Clamp x into the closed range [lo, hi]."""
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def is_even(n):
    """True when n is even."""
    return n % 2 == 0


def window(seq, n):
    """All consecutive windows of length n, as tuples."""
    return [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]


def first_word(text, default=""):
    """The first whitespace-separated word of text, or default."""
    words = text.split()
    if not words:
        return default
    return words[0]
'''

TESTS = '''\
from minilib.core import clamp, first_word, is_even, window


def test_clamp_inside():
    assert clamp(5, 0, 10) == 5


def test_clamp_below_and_above():
    assert clamp(-3, 0, 10) == 0
    assert clamp(30, 0, 10) == 10


def test_clamp_edges():
    assert clamp(0, 0, 10) == 0
    assert clamp(10, 0, 10) == 10


def test_is_even():
    assert is_even(4) and not is_even(7)


def test_window():
    assert window([1, 2, 3, 4], 2) == [(1, 2), (2, 3), (3, 4)]
    assert window([1, 2], 3) == []


def test_first_word():
    assert first_word("  hello world ") == "hello"
    assert first_word("   ", default="none") == "none"
'''


def write_project(root: Path) -> Path:
    """Write ``minilib`` (package + tests) under ``root``; returns the project folder."""
    project = root / "minilib"
    (project / "minilib").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "minilib" / "__init__.py").write_text("")
    (project / "minilib" / "core.py").write_text(CORE)
    (project / "tests" / "test_core.py").write_text(TESTS)
    return project
