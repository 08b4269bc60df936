"""Where the student parts from the teacher: held-out agreement per kind of step, per iteration, for runs.

    python bench/agreement_by_step.py runs/dagger-0 [runs/bc-0 ...]

For every labeled student turn of the runs' held-out episodes (``episodes/eval_iter_XXX.jsonl``), the teacher's
label is sorted into the step it takes (look, view, edit, test, submit, other, by its command's first word) and
the student's command is compared with it (``metrics.agrees``: the same normalized command). Prints, per run and
iteration, agreement and count per step, and the resolve rate, so "agreement 0.17" reads as "every look right,
no edit right". An edit that targets the right line with the wrong text is counted apart (``edit line``).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from swe_dagger.dagger.rollout import episode_log
from swe_dagger.dagger.run.metrics import agrees, normalized_command

STEPS = ("look", "view", "edit", "edit line", "test", "submit", "other")
_SED_LINE = re.compile(r"^sed -i '(\d+)")


def step_of(command: str) -> str:
    """The kind of step a teacher command takes (the oracle's commands: grep, nl, sed -i, pytest, echo)."""
    if command.startswith("grep "):
        return "look"
    if command.startswith("nl "):
        return "view"
    if command.startswith("sed -i") or command.startswith("git apply"):
        return "edit"
    if "pytest" in command:
        return "test"
    if command.startswith("echo COMPLETE_TASK"):
        return "submit"
    return "other"


def _same_line(student: str | None, teacher: str) -> bool:
    a, b = _SED_LINE.match(student or ""), _SED_LINE.match(teacher)
    return a is not None and b is not None and a.group(1) == b.group(1)


def run_table(run_dir: Path) -> list[tuple[int, dict[str, tuple[int, int]], float]]:
    """Per evaluated iteration: {step: (agreeing, labeled)} and the resolve rate."""
    out = []
    for path in sorted((run_dir / "episodes").glob("eval_iter_*.jsonl")):
        iteration = int(path.stem.rsplit("_", 1)[1])
        trajs = episode_log.read_trajectories(episode_log.episode_log(run_dir, "eval", iteration))
        hits: Counter[str] = Counter()
        seen: Counter[str] = Counter()
        for traj in trajs:
            for turn in traj.turns:
                if turn.author != "student" or turn.teacher_label is None:
                    continue
                teacher = normalized_command(turn.teacher_label) or ""
                step = step_of(teacher)
                seen[step] += 1
                hits[step] += agrees(turn.action, turn.teacher_label)
                if step == "edit":
                    seen["edit line"] += 1
                    hits["edit line"] += _same_line(normalized_command(turn.action), teacher)
        scored = [t for t in trajs if t.error is None]
        resolved = sum(t.resolution == "FULL" for t in scored) / len(scored) if scored else 0.0
        out.append((iteration, {s: (hits[s], seen[s]) for s in STEPS if seen[s]}, resolved))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+", help="run directories")
    args = ap.parse_args()
    for run_dir in args.runs:
        print(f"\n{run_dir}")
        print(f"{'iter':>4}  {'resolve':>7}  " + "  ".join(f"{s:>11}" for s in STEPS))
        for iteration, table, resolved in run_table(run_dir):
            cells = [f"{table[s][0]:>3}/{table[s][1]:<3} " if s in table else f"{'-':>11}" for s in STEPS]
            print(f"{iteration:>4}  {resolved:>7.3f}  " + "  ".join(f"{c:>11}" for c in cells))


if __name__ == "__main__":
    main()
