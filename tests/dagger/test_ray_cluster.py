"""A real two-node Ray cluster on this machine (``ray start --head`` + ``ray start --address``), each node with
room for one env actor, and a short ``swe-dagger train rollout.engine=ray`` on it: both nodes run episodes, and the
label files equal those of a local-engine run of the same seed. The cluster is stopped in every outcome."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.task import Task

pytestmark = pytest.mark.slow

STARTUP_S = 240.0
# RAY_AUTH_MODE: Ray 2.5x starts `ray start` clusters with token authentication, which the second node and the
# driver then lack ("InvalidAuthToken"); a throwaway cluster on 127.0.0.1 runs without it, nodes and driver alike
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_agent_register_timeout_ms": "300000", "RAY_AUTH_MODE": "disabled"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_node(args: list[str], resources: dict[str, int], log: Path) -> subprocess.Popen[bytes]:
    """One node as a ``ray start --block`` process group of its own (so teardown ends exactly its processes)."""
    cmd = ["ray", "start", *args, "--block", "--num-cpus=1", "--object-store-memory=78643200",
           f"--resources={json.dumps(resources)}", "--disable-usage-stats"]
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **RAY_ENV})


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # ray start --block stops its node's processes
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left
    proc.wait()


def _alive_nodes(ray: Any, address: str) -> int:
    ray.init(address=address, log_to_driver=False, logging_level="WARNING")
    try:
        return sum(bool(n["Alive"]) for n in ray.nodes())
    finally:
        ray.shutdown()


@pytest.fixture
def two_node_cluster(ray_module: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    ray = ray_module
    for key, value in RAY_ENV.items():
        monkeypatch.setenv(key, value)  # this process's ray.init and the `swe-dagger train` runs it starts
    tmp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: Ray's unix socket paths must fit 107 bytes
    port = _free_port()
    address = f"127.0.0.1:{port}"
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        nodes.append(_start_node(["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={tmp}"],
                                 {"sandbox_local": 1, "node_head": 1}, tmp / "head.log"))
        nodes.append(_start_node([f"--address={address}"], {"sandbox_local": 1, "node_second": 1},
                                 tmp / "second.log"))
        deadline = time.monotonic() + STARTUP_S
        while True:
            if any(n.poll() is not None for n in nodes):
                logs = "\n".join((tmp / f).read_text()[-1500:] for f in ("head.log", "second.log"))
                pytest.fail(f"a ray start exited early:\n{logs}")
            try:
                if _alive_nodes(ray, address) == 2:
                    break
            except ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the two Ray nodes were not up within {STARTUP_S:.0f} s")
            time.sleep(1)
        yield address
    finally:
        for node in reversed(nodes):
            _stop(node)
        shutil.rmtree(tmp, ignore_errors=True)


def _train(tasks_dir: Path, student: Path, run_dir: Path, *extra: str, env: dict[str, str] | None = None) -> None:
    args = [
        f"tasks.train={tasks_dir / 'train.jsonl'}", f"tasks.test={tasks_dir / 'test.jsonl'}",
        f"student.model={student}", f"run_dir={run_dir}", "dagger.iterations=1", "dagger.labels_per_iteration=null",
        "dagger.episodes_per_iteration=4", "dagger.num_envs=2", "dagger.schedule=constant", "dagger.beta=0.5",
        "dagger.overlap=false", "env.max_turns=2", "eval.episodes=0", "student.max_new_tokens=8",
        "student.max_prompt_tokens=256", "sft.epochs=1", "sft.max_seq_len=256", "progress=false",
        "tensorboard=false", "seed=5", *extra,
    ]
    done = subprocess.run([sys.executable, "-m", "swe_dagger.dagger.cli", "train", *args], capture_output=True,
                          text=True, timeout=600, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr[-3000:]


def test_train_on_a_two_node_cluster_uses_both_and_labels_like_the_local_engine(
        two_node_cluster: str, shape_tasks: list[Task], tiny_student_dir: Path, tmp_path: Path) -> None:
    save_tasks(shape_tasks, tmp_path / "tasks" / "train.jsonl")
    save_tasks(shape_tasks[:1], tmp_path / "tasks" / "test.jsonl")
    _train(tmp_path / "tasks", tiny_student_dir, tmp_path / "ray", "rollout.engine=ray",
           env={"RAY_ADDRESS": two_node_cluster})
    _train(tmp_path / "tasks", tiny_student_dir, tmp_path / "local")
    placements = [json.loads(line) for line in
                  (tmp_path / "ray" / "rollout" / "ray_placements.jsonl").read_text().splitlines()]
    assert len(placements) == 4 and not any(p["rebuilt"] for p in placements)
    assert len({p["node"] for p in placements}) == 2  # both nodes ran episodes
    labels = "data/labels_iter_000.jsonl"
    assert (tmp_path / "ray" / labels).read_text() == (tmp_path / "local" / labels).read_text()
    assert (tmp_path / "ray" / labels).read_text().count("\n") >= 4
