"""Synthesis throughput: tasks/s with 1 vs 2 parallel test workers on the same project, in one run.

    python bench/synth.py [SOURCE] [--max-tasks N]

SOURCE: a project directory or a pin (default ``toolz==1.0.0``, downloaded from PyPI once). Prints the
seconds and tasks of each setting and the speed-up ratio (the venv is built before timing starts).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from swe_dagger.envs.synth.synthesize import SynthConfig, synthesize_project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", nargs="?", default="toolz==1.0.0")
    parser.add_argument("--max-tasks", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = args.source
        work = Path(tmp) / "work"
        synthesize_project(source, work, SynthConfig(max_tasks=1, workers=1), progress=False)  # warm: venv, sdist
        timings = {}
        for workers in (1, 2):
            start = time.monotonic()
            result = synthesize_project(source, work, SynthConfig(max_tasks=args.max_tasks, workers=workers),
                                        progress=False)  # fmt: skip
            timings[workers] = time.monotonic() - start
            print(f"workers={workers}: {len(result.tasks)} tasks ({result.stats.tried} mutants run) "
                  f"in {timings[workers]:.1f} s")  # fmt: skip
        print(f"speed-up 2 workers vs 1: {timings[1] / timings[2]:.2f}x")


if __name__ == "__main__":
    main()
