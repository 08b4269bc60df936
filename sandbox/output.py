"""Capped command output: keep the head and the tail, drop the middle, say how much was dropped.

Commands can print without end (``yes``); the cap bounds memory while the stream is drained, and the
marker line tells the agent that something was cut and how much.
"""

from __future__ import annotations

from collections import deque


def truncation_marker(dropped: int) -> str:
    """The line inserted where output was cut."""
    return f"\n[... swe-dagger: {dropped} bytes of output dropped ...]\n"


class OutputCap:
    """Accumulates a byte stream, keeping at most ``limit`` bytes: the first half and the last half."""

    def __init__(self, limit: int) -> None:
        if limit < 2:
            raise ValueError(f"output limit must be at least 2 bytes, got {limit}")
        self._head_limit = limit // 2
        self._tail_limit = limit - self._head_limit
        self._head = bytearray()
        self._tail: deque[bytes] = deque()
        self._tail_len = 0
        self._total = 0

    def feed(self, chunk: bytes) -> None:
        """Add the next piece of the stream."""
        self._total += len(chunk)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        if len(chunk) >= self._tail_limit:
            self._tail.clear()
            self._tail.append(chunk[-self._tail_limit :])
            self._tail_len = self._tail_limit
            return
        self._tail.append(chunk)
        self._tail_len += len(chunk)
        while self._tail_len - len(self._tail[0]) >= self._tail_limit:
            self._tail_len -= len(self._tail.popleft())

    @property
    def total_bytes(self) -> int:
        """Bytes seen so far, kept or not."""
        return self._total

    def result(self) -> tuple[str, bool]:
        """The kept text (UTF-8, undecodable bytes replaced) and whether anything was dropped."""
        tail = b"".join(self._tail)
        if len(tail) > self._tail_limit:
            tail = tail[-self._tail_limit :]
        dropped = self._total - len(self._head) - len(tail)
        head_text = bytes(self._head).decode("utf-8", errors="replace")
        tail_text = tail.decode("utf-8", errors="replace")
        if dropped <= 0:
            return head_text + tail_text, False
        return head_text + truncation_marker(dropped) + tail_text, True
