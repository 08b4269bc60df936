"""Workspaces an agent damaged come back clean on reset; a workspace that grows past its disk budget is reset."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from swe_dagger.sandbox.protocol import Limits, Sandbox, WorkspaceSource

CLEAN = "git status --porcelain --ignored; git rev-parse HEAD; ls -A; echo new > d.txt && rm d.txt && echo writable"


@pytest.mark.parametrize(
    "damage",
    [
        "chmod -R a-w .",
        "mkdir -p locked/deep && touch locked/deep/f && chmod 000 locked/deep locked",
        "chmod 000 .git",
        "chmod a-w . && chmod 444 calc.py && chmod 000 test_calc.py",
    ],
)
def test_reset_undoes_permission_damage(sandbox: Sandbox, repo: Any, damage: str) -> None:
    base_view = sandbox.exec(CLEAN).output
    assert sandbox.exec(damage).exit_code == 0
    sandbox.reset()
    assert sandbox.exec(CLEAN).output == base_view
    assert base_view.endswith(".git\n.gitignore\ncalc.py\ndata.bin\ntest_calc.py\nwritable\n")
    res = sandbox.exec("echo fixed >> calc.py && stat -c %a . calc.py test_calc.py")
    assert res.output == "755\n644\n644\n"  # git's modes again, not just writable


def test_reset_leaves_untouched_files_alone(sandbox: Sandbox) -> None:
    before = sandbox.exec("stat -c %Z calc.py test_calc.py").output  # ctime: a needless chmod would change it
    sandbox.exec("echo x > new.txt")
    sandbox.reset()
    assert sandbox.exec("stat -c %Z calc.py test_calc.py").output == before


def test_growing_past_the_disk_limit_resets_the_workspace(make: Any, backend: str, repo: Any) -> None:
    limits = dataclasses.replace(Limits(), timeout_s=20.0, disk_bytes=20 * 1024**2)
    with make(backend, WorkspaceSource(repo.path, repo.base), limits=limits) as sb:
        small = sb.exec("head -c 5000000 /dev/zero > small.bin && echo wrote")
        assert (small.output, small.disk_exceeded) == ("wrote\n", False)
        big = sb.exec("head -c 15000000 /dev/urandom > /tmp/a && head -c 15000000 /dev/urandom > b.bin && echo wrote")
        assert big.output == "wrote\n" and big.exit_code == 0 and big.disk_exceeded
        assert sb.exec("ls small.bin b.bin /tmp/a 2>&1 | wc -l; git status --porcelain").output == "3\n"
        assert sb.diff() == ""
        after = sb.exec("head -c 5000000 /dev/zero > again.bin && echo wrote")  # the budget starts over
        assert (after.output, after.disk_exceeded) == ("wrote\n", False)


def test_many_small_files_count_too(make: Any, backend: str, repo: Any) -> None:
    limits = dataclasses.replace(Limits(), timeout_s=20.0, disk_bytes=20 * 1024**2)
    with make(backend, WorkspaceSource(repo.path, repo.base), limits=limits) as sb:
        results = [sb.exec(f"mkdir -p d{i} && for j in $(seq 10); do head -c 1000000 /dev/urandom > d{i}/$j; done")
                   for i in range(3)]
        assert [r.disk_exceeded for r in results] == [False, False, True]
