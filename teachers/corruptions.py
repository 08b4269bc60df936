"""Random student-like edits, for checking that a teacher recovers from states a bad student leaves behind.

Each corruption is a bash command of the kind a confused model runs: a deleted or mangled line near the
code the fix needs, an emptied or deleted file, garbage appended, a stray new file, an edit to an unrelated
file, staged changes. Lines are picked near the gold hunks so the damage lands where the fix goes.
"""

from __future__ import annotations

import random
import shlex

from swe_dagger.envs.task import Task
from swe_dagger.envs.unidiff import parse_diff


def _near_gold_line(rng: random.Random, task: Task) -> tuple[str, int]:
    """A gold-touched file that exists at base, and a 1-based line near one of its hunks."""
    files = [f for f in parse_diff(task.patch, source=f"gold patch of {task.instance_id}") if not f.is_new]
    files = [f for f in files if f.hunks and not f.is_deleted] or files
    if not files:
        raise ValueError(f"task {task.instance_id}: its gold patch changes no existing file to corrupt")
    f = rng.choice(files)
    if not f.hunks:
        return f.path, 1
    hunk = rng.choice(f.hunks)
    return f.path, max(1, rng.randint(hunk.old_start, hunk.old_start + max(hunk.old_len - 1, 0)))


def random_corruption(rng: random.Random, task: Task) -> str:
    """One student-like damaging command for ``task``'s workspace (a bash command line)."""
    path, line = _near_gold_line(rng, task)
    p = shlex.quote(path)
    gold_paths = [f.path for f in parse_diff(task.patch)]
    exclude = " ".join(f"-e {shlex.quote(g)}" for g in gold_paths)
    kind = rng.randrange(12)
    if kind == 0:
        return f"sed -i '{line}d' {p}"
    if kind == 1:
        return f"sed -i '{line}s/[A-Za-z_]/x/' {p}"
    if kind == 2:
        return f"sed -i '{line}a\\    pass' {p}"
    if kind == 3:
        return f"sed -i '{line},{line + rng.randint(2, 8)}d' {p}"
    if kind == 4:
        return f"printf 'def broken(:\\n' >> {p}"
    if kind == 5:
        return f"rm -f {p}"
    if kind == 6:
        return f"echo 'print(\"scratch\")' > scratch_{rng.randrange(100)}.py"
    if kind == 7:
        nth = rng.randint(1, 5)
        return (
            f"f=$(git ls-files '*.py' | grep -v -x -F {exclude} | head -n {nth} | tail -n 1); "
            '[ -n "$f" ] && sed -i \'1s/^/# edited\\n/\' "$f"'
        )
    if kind == 8:
        return f"sed -i '{line}s/^/    /' {p} && git add -A"
    if kind == 9:
        return f"cp {p} {p}.orig && sed -i '{line}s/$/  # TODO/' {p}"
    if kind == 10:
        return f": > {p}"
    return f"sed -i '{line}s/return /return None  # /' {p}"
