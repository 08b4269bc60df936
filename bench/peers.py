"""Command latency side by side with a peer: mini-swe-agent's environments vs ours, the same commands, one run.

    pip install --no-deps --target /tmp/msa mini-swe-agent     # its environments need only pydantic, rich, dotenv
    PYTHONPATH=/tmp/msa python bench/peers.py [--repeats 20] [--mb 50] [--no-docker] [--no-pytest] [--seed 0]

Commands: ``echo hi``, ``python3 -c pass``, ``git status`` in a ~50 MB git repository, ``python3 -m pytest -q`` on
one test file (``--no-pytest`` leaves it out: on a loaded machine it takes seconds and says little). Rows:

- ``mini local``: ``minisweagent.environments.local.LocalEnvironment.execute`` (a shell subprocess in the repo,
  no sandbox);
- ``ours local``: ``SWEEnv(sandbox="local").step`` (the command in bubblewrap, plus parsing the reply, the turn's
  bookkeeping and the observation text);
- ``mini docker``: ``DockerEnvironment.execute`` (``docker exec`` into a container of the local test image, the
  repo copied to /testbed);
- ``ours docker``: ``SWEEnv(sandbox="docker").step`` with the same image.

Medians in ms over ``--repeats`` calls after one warm-up; ratios ours / mini per backend. The calls are
interleaved: ``--repeats`` rounds, each running every command once through every backend in a random order
(``--seed``), so load that drifts during the run (other jobs on a shared machine) does not bias the ratios.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

from swe_dagger.envs.swe_env import SWEEnv
from swe_dagger.envs.task import Task

IMAGE = "swe-dagger-test:bookworm"
COMMANDS = ("echo hi", "python3 -c pass", "git status", "python3 -m pytest -q tests/test_one.py")
HERE = Path(__file__).resolve().parent
TIMEOUT_S = 600.0
"""Command timeout of every backend: generous, so a slow call on a loaded machine is measured, not failed."""


def _bench_module(name: str) -> object:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_SANDBOX_BENCH = _bench_module("sandbox")


def make_task(root: Path, megabytes: int) -> Task:
    """A ~``megabytes`` MB git repository (bench/sandbox.py's generator) with one passing test, as a task."""
    repo = _SANDBOX_BENCH.make_repo(root, megabytes).path  # type: ignore[attr-defined]
    (repo / "tests").mkdir()
    (repo / "tests" / "test_one.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "-C", str(repo)]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "one test"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    venv_dir = Path(os.environ.get("SWE_DAGGER_CACHE", Path.home() / ".cache" / "swe-dagger")) / "test-venv-peers"
    if not (venv_dir / "bin" / "python3").exists():  # sees the host's pytest; outside /tmp (bwrap replaces /tmp)
        subprocess.run(["python3", "-m", "venv", "--system-site-packages", "--without-pip", str(venv_dir)], check=True)
    return Task(instance_id="bench__peers-1", repo="bench/peers", base_commit=head, problem_statement="bench",
                patch="", repo_path=repo, venv=venv_dir)


Runner = Callable[[str], object]
"""Runs one command through one backend (raising if it did not run or exited non-zero where that is checked)."""


def ours(stack: ExitStack, task: Task, backend: str, repeats: int, commands: Sequence[str] = COMMANDS) -> Runner:
    """``SWEEnv(sandbox=backend).step``, every command checked once to exit 0 first."""
    image_task = Task(**{**task.__dict__, "image": IMAGE, "venv": None}) if backend == "docker" else task
    turns = (repeats + 2) * len(commands) + 1  # per command: a checked step, a warm-up, the timed ones
    env = stack.enter_context(
        SWEEnv([image_task], sandbox=backend, allow_unvalidated=True, max_turns=turns, command_timeout_s=TIMEOUT_S)
    )
    env.reset()
    for cmd in commands:
        obs = env.step(f"```bash\n{cmd}\n```")[0]
        if "<returncode>0</returncode>" not in obs:
            raise RuntimeError(f"ours {backend}: {cmd!r} failed: {obs[:500]}")
    return lambda cmd: env.step(f"```bash\n{cmd}\n```")


def mini_local(task: Task) -> Runner:
    from minisweagent.environments.local import LocalEnvironment

    assert task.repo_path is not None and task.venv is not None
    path = f"{task.venv / 'bin'}:{os.environ['PATH']}"
    env = LocalEnvironment(
        cwd=str(task.repo_path), env={"PATH": path, "VIRTUAL_ENV": str(task.venv)}, timeout=int(TIMEOUT_S)
    )
    return lambda cmd: _ok(env.execute({"command": cmd}), "mini local", cmd)


def mini_docker(stack: ExitStack, task: Task) -> Runner:
    from minisweagent.environments.docker import DockerEnvironment

    assert task.repo_path is not None
    env = DockerEnvironment(image=IMAGE, cwd="/testbed", timeout=int(TIMEOUT_S))
    stack.callback(env.cleanup)
    subprocess.run(["docker", "cp", f"{task.repo_path}/.", f"{env.container_id}:/testbed"], check=True)
    return lambda cmd: _ok(env.execute({"command": cmd}), "mini docker", cmd)


def interleaved_medians(
    runners: dict[str, Runner], repeats: int, seed: int, commands: Sequence[str] = COMMANDS
) -> dict[str, dict[str, float]]:
    """Median ms per runner and command. One warm-up call each, then ``repeats`` rounds; in each round every
    command runs once through every runner, the runners in a fresh random order (``seed``), so load that drifts
    over the run (other jobs on a shared machine) falls on all runners alike instead of on whichever ran last."""
    rng = random.Random(seed)
    samples: dict[str, dict[str, list[float]]] = {name: {cmd: [] for cmd in commands} for name in runners}
    for cmd in commands:
        for run in runners.values():
            run(cmd)
    for _ in range(repeats):
        for cmd in commands:
            for name in rng.sample(list(runners), len(runners)):
                start = time.perf_counter()
                runners[name](cmd)
                samples[name][cmd].append((time.perf_counter() - start) * 1000)
    return {name: {cmd: statistics.median(t) for cmd, t in by_cmd.items()} for name, by_cmd in samples.items()}


def _ok(result: dict[str, object], who: str, cmd: str) -> dict[str, object]:
    if result.get("returncode") != 0:
        raise RuntimeError(f"{who}: {cmd!r} failed: {str(result.get('output'))[:500]}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--no-docker", action="store_true")
    parser.add_argument("--no-pytest", action="store_true", help="leave out the pytest command")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round order of the backends")
    args = parser.parse_args()
    commands = COMMANDS[:-1] if args.no_pytest else COMMANDS
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MSWEA_GLOBAL_CONFIG_DIR", tmp)  # its import would make ~/.config/mini-swe-agent
        os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")
        task = make_task(Path(tmp), args.mb)
        with ExitStack() as stack:
            runners = {"mini local": mini_local(task), "ours local": ours(stack, task, "local", args.repeats, commands)}
            if not args.no_docker:
                runners["mini docker"] = mini_docker(stack, task)
                runners["ours docker"] = ours(stack, task, "docker", args.repeats, commands)
            rows = interleaved_medians(runners, args.repeats, args.seed, commands)
    print(f"median ms over {args.repeats} calls ({args.mb} MB repo), interleaved in random order (seed {args.seed})")
    print(f"{'command':<40}" + "".join(f"{name:>13}" for name in rows) + f"{'local ours/mini':>17}"
          + ("" if args.no_docker else f"{'docker ours/mini':>18}"))
    for cmd in commands:
        line = f"{cmd:<40}" + "".join(f"{rows[name][cmd]:>13.1f}" for name in rows)
        line += f"{rows['ours local'][cmd] / rows['mini local'][cmd]:>16.2f}x"
        line += f" (+{rows['ours local'][cmd] - rows['mini local'][cmd]:.1f} ms)"
        if not args.no_docker:
            line += f"{rows['ours docker'][cmd] / rows['mini docker'][cmd]:>10.2f}x"
        print(line)


if __name__ == "__main__":
    main()
