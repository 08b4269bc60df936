"""A real two-node Ray cluster on this machine (``ray start --head`` + ``ray start --address``), each node with
room for one env actor, and a short ``swe-dagger train rollout.engine=ray`` on it: both nodes run episodes, and the
label files equal those of a local-engine run of the same seed; and a node that leaves mid-episode (its process group
killed): its episode is rebuilt on the other node, every episode finishes once, and the trajectories and labels equal
the local engine's. The cluster is stopped in every outcome."""

from __future__ import annotations

import contextlib
import importlib.util
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


def _start_node(args: list[str], resources: dict[str, int], log: Path,
                extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """One node as a ``ray start --block`` process group of its own (so teardown ends exactly its processes)."""
    cmd = ["ray", "start", *args, "--block", "--num-cpus=1", "--object-store-memory=78643200",
           f"--resources={json.dumps(resources)}", "--disable-usage-stats"]
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **RAY_ENV, **(extra_env or {})})


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


@contextlib.contextmanager
def _cluster(ray: Any, monkeypatch: pytest.MonkeyPatch,
             head_env: dict[str, str] | None = None) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """Head and second node up (``head_env``: Ray system config for the head), then both stopped in every outcome."""
    for key, value in RAY_ENV.items():
        monkeypatch.setenv(key, value)  # this process's ray.init and the `swe-dagger train` runs it starts
    tmp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: Ray's unix socket paths must fit 107 bytes
    port = _free_port()
    address = f"127.0.0.1:{port}"
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        nodes.append(_start_node(["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={tmp}"],
                                 {"sandbox_local": 1, "node_head": 1}, tmp / "head.log", head_env))
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
        yield address, nodes
    finally:
        for node in reversed(nodes):
            _stop(node)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def two_node_cluster(ray_module: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with _cluster(ray_module, monkeypatch) as (address, _):
        yield address


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


# Ray notices a node is gone when its health checks fail: every 1 s, each given 3 s, gone after 5 misses (the
# defaults take ~30 s); for the head only, which runs the checks
FAST_HEALTH_CHECKS = {"RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "1000",
                      "RAY_health_check_timeout_ms": "3000", "RAY_health_check_failure_threshold": "5"}


def _engine_tests() -> Any:
    """tests/dagger/test_ray_engine.py as a module: its collector run, oracle teacher and scripted student."""
    spec = importlib.util.spec_from_file_location("ray_engine_tests", Path(__file__).with_name("test_ray_engine.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_node_that_leaves_mid_episode_has_its_episode_rebuilt_on_the_other(
        ray_module: Any, monkeypatch: pytest.MonkeyPatch, shape_tasks: list[Task], tmp_path: Path) -> None:
    from swe_dagger.dagger.rollout.config import RolloutConfig
    from swe_dagger.dagger.rollout.env_worker import EnvWorker
    from swe_dagger.dagger.rollout.ray_engine import RayEngine
    from swe_dagger.dagger.sft.dataset import label_rows

    tests = _engine_tests()
    expected_teacher = tests.CountingTeacher()
    expected = tests.run(shape_tasks[:2], EnvWorker, expected_teacher)
    with _cluster(ray_module, monkeypatch, FAST_HEALTH_CHECKS) as (address, nodes):
        collector: list[Any] = []
        killed: list[str] = []

        def kill_second_node(call: int) -> None:
            if call != 2:  # the second turn: both episodes have stepped once on their actors
                return
            second = next(n["NodeID"] for n in ray_module.nodes() if "node_second" in n["Resources"])
            assert [w.slot.node for w in collector[0].workers].count(second) == 1  # one episode runs there
            killed.append(second)
            os.killpg(nodes[1].pid, signal.SIGKILL)  # the node's raylet, its actor and the actor's sandbox

        teacher = tests.CountingTeacher(kill_second_node)
        placements = tmp_path / "ray_placements.jsonl"
        with contextlib.closing(RayEngine(RolloutConfig(engine="ray", ray_address=address, ray_actor_cpus=0),
                                          sandbox="local", actors=2, placements=placements,
                                          log=lambda _: None)) as eng:
            got = tests.run(shape_tasks[:2], eng.worker, teacher, on_collector=collector.append)
            assert killed and eng.pool.lost_actors == 1
    rows = [json.loads(line) for line in placements.read_text().splitlines()]
    on_second = [r for r in rows if r["node"] == killed[0]]
    assert len(on_second) == 1 and not on_second[0]["rebuilt"]
    rebuilt = [r for r in rows if r["rebuilt"]]  # the lost episode, again, on the head's actor
    assert [(r["task_id"], r["seed"]) for r in rebuilt] == [(on_second[0]["task_id"], on_second[0]["seed"])]
    assert rebuilt[0]["node"] != killed[0]
    assert sorted(t.episode for t in got) == [0, 1]  # every episode exactly once
    assert tests.steady(got) == tests.steady(expected)
    assert [label_rows(t) for t in tests.steady(got)] == [label_rows(t) for t in tests.steady(expected)]
    assert teacher.states == expected_teacher.states  # no state labeled twice
