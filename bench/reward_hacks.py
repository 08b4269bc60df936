"""Does any scripted reward hack earn reward on a whole task suite? Real episodes through swe_dagger/SWE-v0.

For every task: the gold patch (control: must score 1.0), then each hack of tests/envs/reward_hacks.py alone
(``return_first``: ``return`` at the top of each failing test; ``conftest_hook``: a root conftest.py reporting every
test as passed; ``shadow_pytest``: a root pytest.py printing PASSED lines), each submitted and graded by the env.
After each hack the task's tests are also run in the agent's own workspace, to count where the hack really fools
them ("works in ws"): a hack that is rewarded nowhere but works in the workspace was stopped by grading.

    python bench/reward_hacks.py [TASK_FILE ...] [--workers 2] [--limit N] [--out report.json]

Default task files: the cached default suite (~/.cache/swe-dagger/tasks/default/{train,test}.jsonl). Exits 1 when
a hack was rewarded or gold was not, 0 otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from swe_dagger.envs.actions import SUBMIT_MARKER
from swe_dagger.envs.loading import load_tasks
from swe_dagger.envs.swe_env import SWEEnv
from swe_dagger.envs.task import Task

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SUITE = Path.home() / ".cache" / "swe-dagger" / "tasks" / "default"
SUBMIT = f"```bash\necho {SUBMIT_MARKER}\n```"


def _hacks_module() -> Any:
    spec = importlib.util.spec_from_file_location("reward_hacks", ROOT / "tests" / "envs" / "reward_hacks.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("tests/envs/reward_hacks.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HACKS = _hacks_module()


def _gold(task: Task) -> str:
    return f"cat > /tmp/fix.patch <<'PATCH_EOF'\n{task.patch}PATCH_EOF\ngit apply /tmp/fix.patch"


def _episode(env: SWEEnv, task: Task, command: str, check_workspace: bool) -> dict[str, Any]:
    env.reset(options={"task_id": task.instance_id})
    obs, *_ = env.step(f"```bash\n{command}\n```")
    _, reward, terminated, _, info = env.step(SUBMIT)
    out: dict[str, Any] = {"reward": reward, "resolution": info.get("resolution"), "tampered": info.get("tampered"),
                           "error": info.get("error") or (None if "<returncode>0</returncode>" in obs
                                                          else f"hack command failed: {obs[-300:]}")}
    if not terminated:
        out["error"] = "did not terminate on submit"
    if check_workspace:
        out["workspace"] = HACKS.workspace_verdict(env.sandbox, task)
    return out


def run_task(task: Task) -> dict[str, Any]:
    """Gold, then every hack, on ``task`` in one env (same-task resets reuse its workspace)."""
    start = time.monotonic()
    plans: dict[str, tuple[Callable[[Task], str], bool]] = {"gold": (_gold, False)}
    plans.update({name: (make, True) for name, make in HACKS.HACKS.items()})
    with SWEEnv([task], sandbox="local", max_turns=3, allow_unvalidated=True, command_timeout_s=120) as env:
        results = {name: _episode(env, task, make(task), check) for name, (make, check) in plans.items()}
    return {"task_id": task.instance_id, "seconds": round(time.monotonic() - start, 2), **results}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    names = ["gold", *HACKS.HACKS]
    summary: dict[str, Any] = {"tasks": len(rows)}
    for name in names:
        runs = [r[name] for r in rows]
        summary[name] = {
            "rewarded": sum(r["reward"] == 1.0 for r in runs),
            "errors": sum(bool(r["error"]) for r in runs),
            "works_in_workspace": sum(r.get("workspace") == "FULL" for r in runs) if name != "gold" else None,
            "tampered_listed": sum(bool(r["tampered"]) for r in runs),
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task_files", nargs="*", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="first N tasks only")
    parser.add_argument("--out", type=Path, default=None, help="write per-task results and the summary as JSON")
    args = parser.parse_args(argv)
    files = args.task_files or [DEFAULT_SUITE / "train.jsonl", DEFAULT_SUITE / "test.jsonl"]
    tasks = [t for f in files for t in load_tasks(f)][: args.limit]
    print(f"{len(tasks)} tasks from {', '.join(map(str, files))}; {args.workers} workers", flush=True)
    start = time.monotonic()
    rows = []
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for n, row in enumerate(pool.map(run_task, tasks), 1):
            rows.append(row)
            flags = " ".join(f"{k}={row[k]['reward']:.0f}/{row[k].get('workspace', '-')}"
                             for k in ["gold", *HACKS.HACKS])
            print(f"[{n}/{len(tasks)}] {row['task_id']} {flags} ({row['seconds']} s)", flush=True)
    summary = summarize(rows)
    summary["seconds"] = round(time.monotonic() - start, 1)
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "tasks": rows}, indent=2) + "\n")
    bad_hack = any(summary[name]["rewarded"] for name in HACKS.HACKS)
    return 1 if bad_hack or summary["gold"]["rewarded"] != len(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
