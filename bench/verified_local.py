"""What ``swebench-eval --mode local`` covers: real SWE-bench Verified instances from a repo mirror, no Docker.

    python bench/verified_local.py --mirror /mirrors --dataset swebench_verified.jsonl --out /tmp/verified-local
    python bench/verified_local.py --mirror '/data/{owner}+{name}/repo' --ids bench/verified_local_ids.txt ...

For every instance in ``--ids`` (one a line; ``#`` comments), one at a time: build or reuse its environment
(:func:`~swe_dagger.envs.swebench.local_mode.local_task`), then grade the gold patch and the empty patch in the
bubblewrap sandbox through the env (``SWEEnv.evaluate``). Each test log is also graded by swebench's own
``get_eval_report`` (the harness's log reader, parser and rules) and the two verdicts compared. A gold patch that is
not FULL is run once more (FULL then: flaky). Setup failures and misses are given a cause from the message or log.
One JSON line per instance goes to ``OUT/results.jsonl`` (rerun to resume); a Markdown table is printed at the end
(``--report``: only the table of what ``OUT`` holds).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from swebench.harness.constants import END_TEST_OUTPUT, START_TEST_OUTPUT
from swebench.harness.grading import get_eval_report

from swe_dagger.envs.evaluation import Evaluation
from swe_dagger.envs.swe_env import SWEEnv
from swe_dagger.envs.swebench.datasets import load_swebench
from swe_dagger.envs.swebench.local_mode import LocalModeConfig, default_cache, local_task
from swe_dagger.envs.swebench.specs import harness_spec
from swe_dagger.envs.task import Task

HERE = Path(__file__).resolve().parent
CAUSES = [  # (cause, pattern in a setup error or a failing log), first match wins
    ("python version", r"no Python \d|requires a different Python: "),  # not pip's "Requires-Python" list
    ("missing system library", r"fatal error: [\w/.+-]+\.h: No such file|cannot find -l\w+|"
                               r"error: command '[\w/.+-]*(gcc|cc|g\+\+)' failed|library not found"),
    ("compiled extension not built", r"you appear to be importing .* from within the source directory|"
                                     r"extension modules? .* not (been )?built|undefined symbol"),
    # sphinx 3.x: setup.py allows any docutils; 0.22+ (newer than the harness's images) has no docutils.utils.roman
    ("dependency newer than the harness's image", r"from roman import toRoman|No module named 'roman'"),
    ("module missing from the workspace", r"ModuleNotFoundError: No module named"),
    ("network-only test", r"Temporary failure in name resolution|Name or service not known|Network is unreachable|"
                          r"ConnectionError|urlopen error|Failed to establish a new connection"),
    ("install timed out (pip resolver)", r"timed out after \d+s \(.*pip install"),
    ("mirror lacks commit", r"commit\(s\) .* not in |has no git repository"),
]


def cause_of(text: str) -> str:
    return next((cause for cause, pattern in CAUSES if re.search(pattern, text)), "other")


def harness_verdict(task: Task, patch: str, evaluation: Evaluation, work: Path) -> bool:
    """swebench's ``get_eval_report`` on the same log, framed by the harness's output markers."""
    log = work / f"{task.instance_id}.log"
    log.write_text(f"{START_TEST_OUTPUT}\n{evaluation.log}\n{END_TEST_OUTPUT}\n")
    prediction = {"instance_id": task.instance_id, "model_name_or_path": "gold", "model_patch": patch}
    report = get_eval_report(harness_spec(task), prediction, str(log), include_tests_status=False)
    return bool(report[task.instance_id]["resolved"])


def run_one(task: Task, cfg: LocalModeConfig, work: Path, test_timeout_s: float) -> dict[str, Any]:
    row: dict[str, Any] = {"instance_id": task.instance_id, "repo": task.repo, "version": task.version}
    start = time.monotonic()
    try:
        ready = local_task(task, cfg)
    except Exception as exc:  # a setup failure: recorded with its cause, never scored
        row.update(stage="setup", error=f"{type(exc).__name__}: {exc}"[-3000:], cause=cause_of(str(exc)),
                   setup_s=round(time.monotonic() - start, 1))
        return row
    row["setup_s"] = round(time.monotonic() - start, 1)
    with SWEEnv([ready], sandbox="local", allow_unvalidated=True, test_timeout_s=test_timeout_s) as env:
        try:
            env.reset()
            start = time.monotonic()
            gold = env.evaluate(task.patch)
            row["gold_s"] = round(time.monotonic() - start, 1)
            if gold.resolution != "FULL":
                again = env.evaluate(task.patch)
                row["gold_rerun"] = again.resolution
            empty = env.evaluate("")
        except Exception as exc:  # grading itself failed
            row.update(stage="grading", error=f"{type(exc).__name__}: {exc}"[-3000:], cause=cause_of(str(exc)))
            return row
    row.update(stage="graded", gold=gold.resolution, empty=empty.resolution,
               harness_gold=harness_verdict(task, task.patch, gold, work),
               harness_empty=harness_verdict(task, "", empty, work),
               gold_failing=[*gold.report.f2p_failure, *gold.report.p2p_failure][:10])
    row["agree"] = row["harness_gold"] == (gold.resolution == "FULL") and \
        row["harness_empty"] == (empty.resolution == "FULL")
    if gold.resolution != "FULL":
        found = [cause for cause, pattern in CAUSES if re.search(pattern, gold.log)]
        row["log_causes"] = ["test timeout", *found] if gold.timed_out else found
        row["cause"] = "flaky" if row.get("gold_rerun") == "FULL" else cause_of(gold.log)
        row["gold_log_tail"] = gold.log[-1500:]
    return row


def _cause(row: dict[str, Any]) -> str:
    """A row's cause, classified again from its stored message or log (so a refined pattern applies to old rows)."""
    if row.get("gold_rerun") == "FULL":
        return "flaky"
    if row.get("stage") == "graded":
        return next(iter(row.get("log_causes") or []), "other")
    return cause_of(row.get("error") or "")


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per repo, instances, gold FULL, empty NO, agreement with swebench's grading, failures by cause."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["repo"]].append(r)
    lines = ["| repo | instances | gold → FULL | empty → NO | agrees with swebench's grading | not FULL / setup "
             "failed (cause) |", "|---|---|---|---|---|---|"]
    for repo, rs in [*sorted(groups.items()), ("all", rows)]:
        graded = [r for r in rs if r.get("stage") == "graded"]
        causes = Counter(_cause(r) for r in rs if r.get("stage") != "graded" or r.get("gold") != "FULL")
        lines.append(f"| {repo} | {len(rs)} | {sum(r['gold'] == 'FULL' for r in graded)} | "
                     f"{sum(r['empty'] == 'NO' for r in graded)} | {sum(r['agree'] for r in graded)}/{len(graded)} "
                     f"| {', '.join(f'{c} {n}' for c, n in sorted(causes.items())) or '-'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirror", required=True, help="folder of git repos or URL template (as --repo-mirror)")
    ap.add_argument("--dataset", required=True, type=Path, help="SWE-bench rows (JSON/JSONL) with the ids")
    ap.add_argument("--ids", type=Path, default=HERE / "verified_local_ids.txt")
    ap.add_argument("--out", type=Path, default=Path("/tmp/verified-local"))
    ap.add_argument("--cache-dir", type=Path, default=default_cache())
    ap.add_argument("--test-timeout", type=float, default=900.0)
    ap.add_argument("--build-timeout", type=float, default=3600.0, help="limit per build step (clone, pip, install)")
    ap.add_argument("--report", action="store_true", help="print the table of what OUT holds; run nothing")
    args = ap.parse_args()
    ids = [line.split("#")[0].strip() for line in args.ids.read_text().splitlines()]
    by_id = {t.instance_id: t for t in load_swebench(args.dataset, [i for i in ids if i])}
    tasks = [by_id[i] for i in dict.fromkeys(i for i in ids if i)]  # the file's order: quick installs first
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    done = {json.loads(line)["instance_id"]: json.loads(line) for line in
            (results.read_text().splitlines() if results.is_file() else [])}
    cfg = LocalModeConfig(cache_dir=args.cache_dir, repo_mirror=args.mirror, timeout_s=args.build_timeout)
    with tempfile.TemporaryDirectory() as work:
        for n, task in enumerate(tasks, 1):
            if task.instance_id in done or args.report:
                continue
            row = run_one(task, cfg, Path(work), args.test_timeout)
            done[task.instance_id] = row
            with results.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"[{n}/{len(tasks)}] {task.instance_id}: {row.get('gold', row.get('stage'))} / "
                  f"{row.get('empty', '-')} agree={row.get('agree')} cause={row.get('cause', '-')} "
                  f"setup {row.get('setup_s')}s", flush=True)
    print(table([done[t.instance_id] for t in tasks if t.instance_id in done]))


if __name__ == "__main__":
    main()
