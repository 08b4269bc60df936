"""How often the oracle's reproduce step (``pytest -x --tb=short``) shows the gold bug's ``file:line``, per kind.

    python bench/reproduce_lines.py                      # the kinds of configs/smollm2.yaml, full default suite
    python bench/reproduce_lines.py --kinds swap_args

A line the traceback shows is one the student can copy into its edit instead of guessing which line is wrong.
"""

from __future__ import annotations

import argparse
import collections
import re

import gymnasium

import swe_dagger.envs  # noqa: F401  (registers swe_dagger/SWE-v0)
from swe_dagger.envs.loading import load_tasks
from swe_dagger.envs.synth.default_suite import ensure_default_suite
from swe_dagger.envs.synth.task_build import MUTATION_KIND_KEY, tasks_of_kinds
from swe_dagger.envs.task import Task
from swe_dagger.envs.unidiff import parse_diff
from swe_dagger.teachers import oracle_commands as cmd
from swe_dagger.teachers.oracle import f2p_test_targets

VISIBLE_FIX_KINDS = ("compare_op", "bool_op", "arith_op", "swap_args", "remove_not", "off_by_one")


def bug_line(task: Task) -> tuple[str, int]:
    """The file and the first line (in the buggy base) that the gold patch removes or replaces."""
    gold = parse_diff(task.patch, source=f"patch of {task.instance_id}")[0]
    hunk = gold.hunks[0]
    line = hunk.old_start
    for tag, _text in hunk.lines:
        if tag == "-":
            return gold.path, line
        if tag != "+":
            line += 1
    return gold.path, hunk.old_start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kinds", nargs="+", default=list(VISIBLE_FIX_KINDS))
    args = ap.parse_args()
    suite = ensure_default_suite()
    tasks = tasks_of_kinds(load_tasks(suite.train_path) + load_tasks(suite.test_path), tuple(args.kinds), "suite")
    env = gymnasium.make("swe_dagger/SWE-v0", tasks=tasks, sandbox="local", max_turns=2)
    shown: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    try:
        for task in tasks:
            path, line = bug_line(task)
            env.reset(options={"task_id": task.instance_id})
            command = cmd.reproduce_command(f2p_test_targets(task))
            observation, *_ = env.step(f"THOUGHT: reproduce.\n\n```bash\n{command}\n```")
            kind = task.extra[MUTATION_KIND_KEY]
            total[kind] += 1
            shown[kind] += bool(re.search(rf"^{re.escape(path)}:{line}: ", observation, re.MULTILINE))
    finally:
        env.close()
    print(f"{'kind':12s} traceback shows the bug's line")
    for kind in sorted(total):
        print(f"{kind:12s} {shown[kind]}/{total[kind]}")
    print(f"{'all':12s} {sum(shown.values())}/{sum(total.values())}")


if __name__ == "__main__":
    main()
