"""The output cap keeps head and tail, marks the cut, and never fails on bad UTF-8."""

from __future__ import annotations

import pytest

from swe_dagger.sandbox.output import OutputCap


def test_short_output_is_kept_whole() -> None:
    cap = OutputCap(100)
    cap.feed(b"hello ")
    cap.feed(b"world")
    assert cap.result() == ("hello world", False)


def test_long_output_keeps_head_and_tail_and_counts_the_drop() -> None:
    cap = OutputCap(10)
    for i in range(100):
        cap.feed(str(i % 10).encode() * 7)  # 700 bytes in 7-byte chunks
    text, truncated = cap.result()
    assert truncated
    assert text.startswith("00000\n[...")
    assert text.endswith("99999")
    assert "690 bytes of output dropped" in text
    assert cap.total_bytes == 700


def test_one_huge_chunk() -> None:
    cap = OutputCap(8)
    cap.feed(b"a" * 4 + b"b" * 1000 + b"c" * 4)
    text, truncated = cap.result()
    assert truncated
    assert text.startswith("aaaa") and text.endswith("cccc")
    assert "1000 bytes of output dropped" in text


def test_invalid_utf8_is_replaced() -> None:
    cap = OutputCap(100)
    cap.feed(b"ok \xff\xfe done")
    text, truncated = cap.result()
    assert text == "ok \ufffd\ufffd done"
    assert not truncated


def test_limit_must_be_sane() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        OutputCap(1)
