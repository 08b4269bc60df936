"""Gymnasium spaces for free text: observations and actions are arbitrary Unicode strings."""

from __future__ import annotations

import string
from typing import Any

from gymnasium import spaces

PRINTABLE = string.printable
"""Characters ``sample()`` draws from (gymnasium's Text needs a finite charset to sample)."""


class UnicodeText(spaces.Text):
    """A :class:`gymnasium.spaces.Text` that contains any ``str`` up to ``max_length`` characters.

    Gymnasium's Text only contains strings over its charset; command output and model replies hold any
    Unicode character (including U+FFFD from undecodable bytes), and listing all of Unicode as a charset is
    slow and huge. Sampling still draws from printable ASCII.
    """

    def __init__(self, max_length: int, *, min_length: int = 0, seed: int | None = None) -> None:
        super().__init__(max_length=max_length, min_length=min_length, charset=PRINTABLE, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"
