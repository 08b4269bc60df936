"""The attack suite: every case must be contained, and the same sandbox must keep serving afterwards.

One sandbox per backend serves the whole module, in order, so "keeps serving the next command" is
checked after every attack by :func:`assert_still_serving`.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swe_dagger.sandbox.protocol import Limits, Sandbox, WorkspaceSource

SECRET = "sk-swe-dagger-test-secret-0123456789"
ATTACK_LIMITS = Limits(timeout_s=20.0, output_bytes=20_000, memory_bytes=512 * 1024**2, processes=64, cpus=1.0)


@pytest.fixture(scope="module", params=["local", "docker"])
def victim(request: pytest.FixtureRequest, repo: Any, make: Any) -> Iterator[Sandbox]:
    os.environ["SWE_DAGGER_TEST_API_KEY"] = SECRET  # a host secret the sandbox must not see
    try:
        with make(request.param, WorkspaceSource(repo.path, repo.base), ATTACK_LIMITS) as sb:
            yield sb
    finally:
        os.environ.pop("SWE_DAGGER_TEST_API_KEY", None)


def assert_still_serving(sb: Sandbox) -> None:
    res = sb.exec("echo alive && git status --porcelain | wc -l", timeout=30)
    assert res.exit_code == 0 and res.output.startswith("alive\n"), res


def test_network_egress_to_a_host_listener_is_blocked(victim: Sandbox) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted: list[Any] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('CONNECTED')"
        res = victim.exec(f'python3 -c "{probe}"; (echo hi > /dev/tcp/127.0.0.1/{port}) 2>&1; echo done')
    finally:
        stop.set()
        thread.join()
        server.close()
    assert "CONNECTED" not in res.output and res.output.rstrip().endswith("done")
    assert accepted == []
    assert_still_serving(victim)


def test_writes_outside_the_workspace_do_not_reach_the_host(victim: Sandbox, tmp_path: Path) -> None:
    marker = tmp_path / "host-file"
    marker.write_text("original")
    os.chmod(tmp_path, 0o777)
    victim.exec(f"echo pwned > {marker}; echo pwned > /usr/pwned; echo pwned > /etc/pwned; echo pwned > ../pwned")
    assert marker.read_text() == "original"
    assert not Path("/usr/pwned").exists() and not Path("/etc/pwned").exists()
    assert_still_serving(victim)


def test_host_secrets_are_invisible(victim: Sandbox, tmp_path: Path) -> None:
    secret_file = tmp_path / "gold_patch.diff"
    secret_file.write_text(SECRET)
    root_file = Path("/root/.swe-dagger-test-secret")
    root_file.write_text(SECRET)
    try:
        res = victim.exec(f"env; cat /proc/1/environ; cat {secret_file} {root_file}; ls /work /root 2>&1; true")
    finally:
        root_file.unlink()
    assert SECRET not in res.output
    assert "SWE_DAGGER_TEST_API_KEY" not in res.output
    assert_still_serving(victim)


def test_fork_bomb_is_contained(victim: Sandbox) -> None:
    res = victim.exec(":(){ :|:& };:; sleep 2", timeout=8)
    assert res.timed_out or "Resource temporarily unavailable" in res.output, res
    assert res.duration_s < 15
    left = victim.exec("ls -d /proc/[0-9]* | wc -l")
    assert int(left.output) < 10, left  # nothing of the bomb survives the command
    assert_still_serving(victim)


def test_memory_bomb_is_contained(victim: Sandbox) -> None:
    res = victim.exec("python3 -c \"x = b'x' * (3 * 1024**3); print('ALLOCATED')\"", timeout=30)
    assert "ALLOCATED" not in res.output and res.exit_code != 0
    assert_still_serving(victim)


def test_endless_output_is_capped_and_stopped(victim: Sandbox) -> None:
    res = victim.exec("yes", timeout=2)
    assert res.timed_out and res.truncated and res.exit_code == -1
    assert len(res.output.encode()) < ATTACK_LIMITS.output_bytes + 200
    assert_still_serving(victim)


def test_sleep_past_timeout_kills_everything_it_started(victim: Sandbox) -> None:
    res = victim.exec("(setsid sleep 300 &) ; sleep 300 & sleep 301", timeout=1)
    assert res.timed_out and res.duration_s < 10
    left = victim.exec("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '")
    assert "sleep 30" not in left.output
    assert_still_serving(victim)


def test_symlink_escapes_are_refused(victim: Sandbox) -> None:
    victim.exec("ln -sfn /etc/passwd passwd-link && ln -sfn / root-link")
    with pytest.raises(ValueError, match="escapes"):
        victim.read_file("passwd-link")
    with pytest.raises(ValueError, match="escapes"):
        victim.write_file("root-link/tmp/x", "pwned")
    assert "passwd-link" in victim.diff()  # recorded as a symlink, never followed
    assert "root:" not in victim.diff()
    victim.reset()
    assert_still_serving(victim)


def test_git_shows_nothing_but_the_base(victim: Sandbox, repo: Any) -> None:
    res = victim.exec(
        "git log --all --oneline | wc -l; git reflog | wc -l; git tag | wc -l; git remote | wc -l;"
        " git branch -a | wc -l; git fsck --lost-found 2>&1 | grep -c dangling;"
        " git cat-file --batch-all-objects --batch-check | cut -d' ' -f1; true"
    )
    lines = res.output.split()
    assert lines[:6] == ["1", "0", "0", "0", "1", "0"], res.output
    assert repo.future_blob not in res.output and repo.future not in res.output
    assert_still_serving(victim)


def test_killing_pid1_and_the_parent_is_harmless(victim: Sandbox) -> None:
    victim.exec("kill -9 1; kill -TERM 1; kill -9 $PPID; kill -9 -1", timeout=10)
    assert_still_serving(victim)
