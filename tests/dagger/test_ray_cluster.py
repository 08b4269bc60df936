"""A real two-node Ray cluster on this machine (``ray start --head`` + ``ray start --address``), each node with
room for one env actor, shared by the tests of this module and stopped in every outcome:

- a short ``swe-dagger train rollout.engine=ray`` on it: both nodes run episodes, and the label files equal those of a
  local-engine run of the same seed;
- a node that leaves mid-episode (its process group killed): its episode is rebuilt on the other node, every episode
  finishes once, and the trajectories and labels equal the local engine's. The node is started again for any test
  that comes after."""

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
NODE_ATTEMPTS = 3
# this interpreter's `ray`, not the first on PATH: a node's workers run the interpreter its `ray start` ran under, and
# must import this checkout's swe_dagger (another interpreter's install may point elsewhere)
RAY_CLI = [sys.executable, "-m", "ray.scripts.scripts"]
# RAY_AUTH_MODE: Ray 2.5x starts `ray start` clusters with token authentication, which the second node and the
# driver then lack ("InvalidAuthToken"); a throwaway cluster on 127.0.0.1 runs without it, nodes and driver alike
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_agent_register_timeout_ms": "300000", "RAY_AUTH_MODE": "disabled"}
# Ray notices a node is gone when its health checks fail (the defaults take ~30 s): a check every 1 s, gone after 5
# failed in a row. A killed node refuses each check at once (~5 s); a live node that a loaded machine starves of CPU
# has 20 s to answer each (Ray's default is 10 s), so it is not declared dead by a few slow answers. For the head only,
# which runs the checks.
HEALTH_CHECKS = {"RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "1000",
                 "RAY_health_check_timeout_ms": "20000", "RAY_health_check_failure_threshold": "5"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TwoNodes:
    """The head (``sandbox_local: 1, node_head: 1``) and a second node (``sandbox_local: 1, node_second: 1``), each
    a ``ray start --block`` process group of its own, so that stopping one ends exactly its processes."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
        self.address = f"127.0.0.1:{_free_port()}"
        self.head: subprocess.Popen[bytes] | None = None
        self.second: subprocess.Popen[bytes] | None = None
        self._starts = 0

    def start(self) -> None:
        """The head, then (once the head is registered: a node that joins earlier fails) the second node."""
        port = self.address.rsplit(":", 1)[1]
        self.head = self._up(["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={self.tmp}"],
                             {"sandbox_local": 1, "node_head": 1}, HEALTH_CHECKS)
        self.start_second()

    def start_second(self) -> None:
        self.second = self._up([f"--address={self.address}"], {"sandbox_local": 1, "node_second": 1})

    def ensure_second(self) -> None:
        """Start the second node again if a test killed it."""
        if self.second is None or self.second.poll() is not None:
            self.start_second()

    def kill_second(self) -> None:
        """The second node leaves at once: SIGKILL to its raylet, its actors and their sandboxes."""
        assert self.second is not None
        os.killpg(self.second.pid, signal.SIGKILL)
        self.second.wait()

    def stop(self) -> None:
        for proc in (self.second, self.head):
            if proc is not None:
                _stop(proc)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _up(self, args: list[str], resources: dict[str, int],
            extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A node started and registered with the head. Ray gives a starting node a fixed 30 s to register, which a
        loaded machine can miss (its ``ray start`` then exits): such a start is tried again, 3 times in all."""
        for attempt in range(1, NODE_ATTEMPTS + 1):
            self._starts += 1
            log = self.tmp / f"node-{self._starts}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [*RAY_CLI, "start", *args, "--block", "--num-cpus=1", "--object-store-memory=78643200",
                     f"--resources={json.dumps(resources)}", "--disable-usage-stats"],
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                    env={**os.environ, **RAY_ENV, **(extra_env or {})})
            deadline = time.monotonic() + STARTUP_S
            try:
                while proc.poll() is None and b"will now block forever" not in log.read_bytes():
                    if time.monotonic() > deadline:
                        pytest.fail(f"ray start {args[0]} was not up within {STARTUP_S:.0f} s:\n"
                                    f"{log.read_text()[-1500:]}")
                    time.sleep(0.5)
            except BaseException:  # a failure or an interrupt while it starts: it is not ours to stop later
                _stop(proc)
                raise
            if proc.poll() is None:
                return proc
            _stop(proc)  # what it started before it gave up
            if attempt == NODE_ATTEMPTS:
                pytest.fail(f"ray start {args[0]} failed {NODE_ATTEMPTS} times; last:\n{log.read_text()[-1500:]}")
        raise AssertionError("unreachable")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # ray start --block stops its node's processes
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left
    proc.wait()


@pytest.fixture(scope="module")
def cluster(ray_module: Any) -> Iterator[TwoNodes]:
    """One cluster for the module's tests (starting one takes a loaded 2-core machine ~30 s)."""
    nodes = TwoNodes()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in RAY_ENV.items():
            mp.setenv(key, value)  # this process's ray.init and the `swe-dagger train` runs it starts
        try:
            nodes.start()
            yield nodes
        finally:
            nodes.stop()


@pytest.fixture
def two_nodes(cluster: TwoNodes) -> TwoNodes:
    """The shared cluster with both nodes up (a test before may have killed the second)."""
    cluster.ensure_second()
    return cluster


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
        two_nodes: TwoNodes, shape_tasks: list[Task], tiny_student_dir: Path, tmp_path: Path) -> None:
    save_tasks(shape_tasks, tmp_path / "tasks" / "train.jsonl")
    save_tasks(shape_tasks[:1], tmp_path / "tasks" / "test.jsonl")
    _train(tmp_path / "tasks", tiny_student_dir, tmp_path / "ray", "rollout.engine=ray",
           env={"RAY_ADDRESS": two_nodes.address})
    _train(tmp_path / "tasks", tiny_student_dir, tmp_path / "local")
    placements = [json.loads(line) for line in
                  (tmp_path / "ray" / "rollout" / "ray_placements.jsonl").read_text().splitlines()]
    assert len(placements) == 4 and not any(p["rebuilt"] for p in placements)
    assert len({p["node"] for p in placements}) == 2  # both nodes ran episodes
    labels = "data/labels_iter_000.jsonl"
    assert (tmp_path / "ray" / labels).read_text() == (tmp_path / "local" / labels).read_text()
    assert (tmp_path / "ray" / labels).read_text().count("\n") >= 4


def _engine_tests() -> Any:
    """tests/dagger/test_ray_engine.py as a module: its collector run, oracle teacher and scripted student."""
    spec = importlib.util.spec_from_file_location("ray_engine_tests", Path(__file__).with_name("test_ray_engine.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_node_that_leaves_mid_episode_has_its_episode_rebuilt_on_the_other(
        ray_module: Any, two_nodes: TwoNodes, shape_tasks: list[Task], tmp_path: Path) -> None:
    from swe_dagger.dagger.rollout.config import RolloutConfig
    from swe_dagger.dagger.rollout.env_worker import EnvWorker
    from swe_dagger.dagger.rollout.ray_engine import RayEngine
    from swe_dagger.dagger.sft.dataset import label_rows

    tests = _engine_tests()
    expected_teacher = tests.CountingTeacher()
    expected = tests.run(shape_tasks[:2], EnvWorker, expected_teacher)
    collector: list[Any] = []
    killed: list[str] = []

    def kill_second_node(call: int) -> None:
        if call != 2:  # the second turn: both episodes have stepped once on their actors
            return
        second = next(n["NodeID"] for n in ray_module.nodes() if n["Alive"] and "node_second" in n["Resources"])
        assert [w.slot.node for w in collector[0].workers].count(second) == 1  # one episode runs there
        killed.append(second)
        two_nodes.kill_second()
        # the episodes must not finish on the dead node's actor before Ray knows it is gone (its worker outlives the
        # raylet for a moment, and on an idle machine two short turns fit in that moment): wait for the head's
        # health checks (~5 s) to declare the node dead, which ends its actors
        deadline = time.monotonic() + 120.0
        while any(n["NodeID"] == second and n["Alive"] for n in ray_module.nodes()):
            assert time.monotonic() < deadline, "the head did not declare the killed node dead within 120 s"
            time.sleep(0.5)

    teacher = tests.CountingTeacher(kill_second_node)
    placements = tmp_path / "ray_placements.jsonl"
    with contextlib.closing(RayEngine(RolloutConfig(engine="ray", ray_address=two_nodes.address, ray_actor_cpus=0),
                                      sandbox="local", actors=2, placements=placements, log=lambda _: None)) as eng:
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
