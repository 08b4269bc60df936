"""Sandbox benchmark: exec overhead against plain ``subprocess.run`` and workspace lifecycle latency.

Everything is measured in one run, so ratios compare like with like on the same loaded machine:

- exec("echo hi") and exec("python3 -c pass") per backend vs ``subprocess.run(["bash", "-c", cmd])``;
- create / reset / close of a workspace holding a ~50 MB repository, per backend;
- docker container create+start alone;
- reset strategies for the local backend: in-place git (what we use) vs copy vs overlayfs;
- the per-command disk budget: exec with and without it, and one exact measurement (du / docker SizeRw).

Usage: ``python bench/sandbox.py [--repeats 20] [--mb 50] [--repo PATH] [--backends local,docker]``
(``--repo``: a real git repository, used at its HEAD, instead of the generated one).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from swe_dagger.sandbox.factory import open_sandbox
from swe_dagger.sandbox.protocol import Limits, Sandbox, SandboxUnavailable, WorkspaceSource

IMAGE = "swe-dagger-test:bookworm"
WORDS = "alpha beta gamma delta parse load save index tree node value cache token model batch".split()  # noqa: SIM905
console = Console()


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def make_repo(root: Path, megabytes: int) -> WorkspaceSource:
    """A git repository of ``megabytes`` MB in 50 KB text files across 20 packages, one commit."""
    repo = root / "repo"
    files = megabytes * 20
    for i in range(files):
        pkg = repo / f"pkg{i % 20}"
        pkg.mkdir(parents=True, exist_ok=True)
        rng = random.Random(i)
        lines = []
        while sum(len(x) for x in lines) < 51200:
            words = "_".join(rng.choice(WORDS) for _ in range(3))
            lines.append(f"def {words}_{rng.randrange(10**6)}(x):\n    return x * {rng.random():.6f}\n")
        (pkg / f"mod{i}.py").write_text("".join(lines))
    env = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", *env, "-C", str(repo), "commit", "-qm", "base"], check=True)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    return WorkspaceSource(repo, head.stdout.strip())


def exec_rows(sb: Sandbox, repeats: int) -> list[tuple[str, float, float]]:
    rows = []
    for cmd in ("echo hi", "python3 -c pass"):
        plain = median_ms(lambda c=cmd: subprocess.run(["bash", "-c", c], capture_output=True), repeats)
        ours = median_ms(lambda c=cmd: sb.exec(c), repeats)
        rows.append((cmd, plain, ours))
    return rows


def lifecycle(backend: str, source: WorkspaceSource, repeats: int) -> dict[str, float]:
    image = IMAGE if backend == "docker" else None
    creates, resets, diffs, closes = [], [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        sb = open_sandbox(backend, source, image=image, limits=Limits())
        creates.append(time.perf_counter() - start)
        sb.exec('echo changed >> "$(git ls-files | head -1)" && echo new > new.py')
        start = time.perf_counter()
        sb.diff()
        diffs.append(time.perf_counter() - start)
        start = time.perf_counter()
        sb.reset()
        resets.append(time.perf_counter() - start)
        start = time.perf_counter()
        sb.close()
        closes.append(time.perf_counter() - start)
    return {
        k: statistics.median(v) * 1000
        for k, v in (("create", creates), ("diff", diffs), ("reset", resets), ("close", closes))
    }


def disk_rows(sb: Sandbox, repeats: int) -> tuple[float, float, float]:
    """exec("echo hi") with the disk budget, without it, and one exact measurement of the workspace (ms)."""
    budget = sb._disk  # type: ignore[attr-defined]
    with_budget = median_ms(lambda: sb.exec("echo hi"), repeats)
    sb._disk = type("NoBudget", (), {"after_command": lambda self: None})()  # type: ignore[attr-defined]
    try:
        without = median_ms(lambda: sb.exec("echo hi"), repeats)
    finally:
        sb._disk = budget  # type: ignore[attr-defined]
    return with_budget, without, median_ms(budget._measure, repeats)


def docker_start_ms(repeats: int) -> float:
    from swe_dagger.sandbox.docker import start_container
    from swe_dagger.sandbox.docker_support import connect

    client = connect()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        container = start_container(client, IMAGE, Limits())
        samples.append(time.perf_counter() - start)
        container.remove(force=True)
    client.close()
    return statistics.median(samples) * 1000


def reset_strategies(source: WorkspaceSource, repeats: int) -> dict[str, str]:
    """Host-side cost of bringing a dirty 50 MB tree back: copy, overlayfs remount (needs root), in-place git."""
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        pristine, work = Path(tmp) / "pristine", Path(tmp) / "work"
        shutil.copytree(source.path, pristine, symlinks=True)

        def copy_reset() -> None:
            shutil.rmtree(work, ignore_errors=True)
            subprocess.run(["cp", "-a", "--reflink=auto", str(pristine), str(work)], check=True)

        out["copy (rm -rf + cp -a)"] = f"{median_ms(copy_reset, repeats):.1f}"
        upper, wdir, merged = Path(tmp) / "upper", Path(tmp) / "wdir", Path(tmp) / "merged"
        merged.mkdir()
        opts = f"lowerdir={pristine},upperdir={upper},workdir={wdir}"

        def overlay_reset() -> None:
            subprocess.run(["umount", str(merged)], capture_output=True)
            shutil.rmtree(upper, ignore_errors=True)
            shutil.rmtree(wdir, ignore_errors=True)
            upper.mkdir()
            wdir.mkdir()
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)], check=True)
            (merged / "dirty.txt").write_text("dirty")

        try:
            out["overlayfs (umount + clear upper + mount)"] = f"{median_ms(overlay_reset, repeats):.1f}"
        except subprocess.CalledProcessError:
            out["overlayfs (umount + clear upper + mount)"] = "n/a (mount not permitted)"
        finally:
            subprocess.run(["umount", str(merged)], capture_output=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--lifecycle-repeats", type=int, default=5)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--repo", type=Path, help="a real git repository (its HEAD) instead of a generated one")
    parser.add_argument("--backends", default="local,docker")
    args = parser.parse_args()
    backends = args.backends.split(",")
    with tempfile.TemporaryDirectory() as tmp, Progress(console=console, transient=True) as progress:
        task = progress.add_task("benchmarking", total=2 + 2 * len(backends))
        source = make_repo(Path(tmp), args.mb) if args.repo is None else WorkspaceSource(args.repo, "HEAD")
        progress.advance(task)
        disks: dict[str, tuple[float, float, float]] = {}
        execs: dict[str, list[tuple[str, float, float]]] = {}
        cycles: dict[str, dict[str, float]] = {}
        for backend in backends:
            try:
                with open_sandbox(backend, source, image=IMAGE if backend == "docker" else None) as sb:
                    execs[backend] = exec_rows(sb, args.repeats)
                    disks[backend] = disk_rows(sb, args.repeats)
                progress.advance(task)
                cycles[backend] = lifecycle(backend, source, args.lifecycle_repeats)
                progress.advance(task)
            except SandboxUnavailable as exc:
                console.print(f"[yellow]{backend}: unavailable: {exc}[/yellow]")
        start_ms = docker_start_ms(args.lifecycle_repeats) if "docker" in cycles else None
        strategies = reset_strategies(source, args.lifecycle_repeats)
        progress.advance(task)

    table = Table(title=f"exec overhead (median of {args.repeats}, ms)")
    for col in ("backend", "command", "plain subprocess", "sandbox", "overhead", "ratio"):
        table.add_column(col)
    for backend, rows in execs.items():
        for cmd, plain, ours in rows:
            table.add_row(backend, cmd, f"{plain:.1f}", f"{ours:.1f}", f"+{ours - plain:.1f}", f"{ours / plain:.1f}x")
    console.print(table)
    table = Table(title=f"disk budget per command (median of {args.repeats}, ms)")
    for col in ("backend", "exec with budget", "without", "overhead", "one exact measurement", "exact, amortised"):
        table.add_column(col)
    for backend, (with_budget, without, exact) in disks.items():  # exact: at least every 16 commands (disk.py)
        row = (with_budget, without, with_budget - without, exact, exact / 16)
        table.add_row(backend, *(f"{v:.1f}" for v in row))
    console.print(table)
    what = args.repo.name if args.repo is not None else f"{args.mb} MB"
    table = Table(title=f"workspace lifecycle, {what} repo (median of {args.lifecycle_repeats}, ms)")
    for col in ("backend", "create", "diff", "reset", "close"):
        table.add_column(col)
    for backend, c in cycles.items():
        table.add_row(backend, *(f"{c[k]:.1f}" for k in ("create", "diff", "reset", "close")))
    console.print(table)
    if start_ms is not None:
        console.print(f"docker container create+start: {start_ms:.1f} ms")
    table = Table(title="local reset strategies, host side (ms)")
    table.add_column("strategy")
    table.add_column("reset")
    for name, value in strategies.items():
        table.add_row(name, value)
    if "local" in cycles:
        table.add_row("in-place git (ours: clean + read-tree, incl. sandbox start)", f"{cycles['local']['reset']:.1f}")
    console.print(table)


if __name__ == "__main__":
    main()
