"""The mimic of an official SWE-bench instance (scripts/build_mimic_image.sh), loaded as a task with its spec."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from swe_dagger.envs.swebench.datasets import load_swebench
from swe_dagger.envs.swebench.specs import load_repo_specs
from swe_dagger.envs.task import Task

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_mimic_image.sh"
INSTANCE_ID = "swe-dagger__tinymath-1"
IMAGE = "swebench/sweb.eval.x86_64.swe-dagger_1776_tinymath-1:latest"


def build(out: Path, *, repo_only: bool) -> tuple[Task, Path]:
    """Run the script into ``out``; returns (the instance as a Task, the future commit's id). Registers its spec."""
    argv = ["bash", str(SCRIPT), *(["--repo-only"] if repo_only else []), str(out)]
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=300)
    load_repo_specs(out / "repo_specs.json")
    (task,) = load_swebench(out / "instance.jsonl", [INSTANCE_ID])
    return task, out


def future_commit(out: Path) -> str:
    return str(json.loads((out / "instance.jsonl").read_text())["future_commit"])
