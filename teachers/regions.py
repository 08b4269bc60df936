"""Compare a workspace file with its gold version region by region, knowing only two diffs against one base.

Two diffs of the same change need not agree on hunk boundaries (or even on where an ambiguous insertion
goes), so edits are not compared one by one. Instead each edit of either diff is widened by up to
``context`` known base lines, overlapping spans are merged into regions, and each region's text is
rebuilt twice: with the workspace's edits and with gold's. Outside the regions both files equal the base,
so the file matches gold exactly when every region's two images are equal. Every line of a region is
known, because it was either removed by an edit (so the diff shows it) or added as known context.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from swe_dagger.envs.unidiff import Edit

T = TypeVar("T")


@dataclass(frozen=True)
class Region:
    """Base lines ``[start, end)`` and what they read in the workspace and in the gold version."""

    start: int
    end: int
    base: tuple[str, ...]
    workspace: tuple[str, ...]
    gold: tuple[str, ...]
    workspace_index: int
    """0-based index in the current workspace file of the region's first line."""

    @property
    def matches(self) -> bool:
        return self.workspace == self.gold


def _widen(edit: Edit, known: Mapping[int, str], context: int) -> tuple[int, int]:
    lo = edit.start
    while lo > 0 and edit.start - lo < context and (lo - 1) in known:
        lo -= 1
    hi = edit.end
    while hi - edit.end < context and hi in known:
        hi += 1
    return lo, hi


def _image(start: int, end: int, edits: Sequence[Edit], known: Mapping[int, str]) -> tuple[str, ...]:
    out: list[str] = []
    pos = start
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        out.extend(known[i] for i in range(pos, edit.start))
        out.extend(edit.added)
        pos = edit.end
    out.extend(known[i] for i in range(pos, end))
    return tuple(out)


def file_regions(
    known: Mapping[int, str], workspace: Sequence[Edit], gold: Sequence[Edit], context: int = 3
) -> list[Region]:
    """Split the changes of both edit lists into regions, in file order.

    ``known`` holds the base lines either diff reveals; it must include every removed line.
    """
    spans = sorted(_widen(e, known, context) for e in (*workspace, *gold))
    merged: list[list[int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    regions: list[Region] = []
    shift = 0  # lines the workspace's edits before the current region added (or removed)
    for lo, hi in merged:
        w_edits = [e for e in workspace if lo <= e.start and e.end <= hi]
        g_edits = [e for e in gold if lo <= e.start and e.end <= hi]
        missing = [i for i in range(lo, hi) if i not in known]
        if missing:  # cannot happen for well-formed diffs (see module docstring)
            raise ValueError(f"base line {missing[0] + 1} is inside a changed region but neither diff shows it")
        regions.append(
            Region(
                start=lo,
                end=hi,
                base=tuple(known[i] for i in range(lo, hi)),
                workspace=_image(lo, hi, w_edits, known),
                gold=_image(lo, hi, g_edits, known),
                workspace_index=lo + shift,
            )
        )
        shift += sum(len(e.added) - (e.end - e.start) for e in w_edits)
    return regions


@dataclass(frozen=True)
class RepairHunk:
    """A single hunk turning ``old`` into ``new`` at 1-based line ``first_line`` of the current file."""

    first_line: int
    old: tuple[str, ...]
    new: tuple[str, ...]
    leading: int
    """How many of the first lines of ``old``/``new`` are unchanged context."""
    trailing: int

    @property
    def changed_lines(self) -> int:
        return len(self.old) + len(self.new) - 2 * (self.leading + self.trailing)


def common_ends(old: Sequence[T], new: Sequence[T]) -> tuple[int, int]:
    """How many leading and (after those) trailing items ``old`` and ``new`` share (lines or characters)."""
    prefix = 0
    while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(old), len(new)) - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    return prefix, suffix


def repair_hunk(region: Region, context: int = 3) -> RepairHunk:
    """The hunk that makes the workspace's text of ``region`` equal gold's, with at most ``context`` lines."""
    old, new = region.workspace, region.gold
    prefix, suffix = common_ends(old, new)
    lead, trail = min(prefix, context), min(suffix, context)
    cut_front, cut_back = prefix - lead, suffix - trail
    return RepairHunk(
        first_line=region.workspace_index + cut_front + 1,
        old=old[cut_front : len(old) - cut_back],
        new=new[cut_front : len(new) - cut_back],
        leading=lead,
        trailing=trail,
    )
