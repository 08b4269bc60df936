"""Workspace behaviour on both backends: creation, stateless exec, files, diff, reset, snapshots, lifetime."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from swe_dagger.sandbox.protocol import Sandbox, SandboxError, WorkspaceSource


def test_workspace_holds_the_base_commit_only(sandbox: Sandbox) -> None:
    res = sandbox.exec("git log --all --format=%s; git status --porcelain; cat calc.py")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == "swe-dagger base"
    assert "return a - b" in res.output
    assert res.output.count("\n") == 3  # one commit, clean status, two lines of calc.py
    assert sandbox.workdir == "/testbed"


def test_each_command_is_a_fresh_shell_in_the_repo_root(sandbox: Sandbox) -> None:
    assert sandbox.exec("cd /tmp; export FOO=bar; mkdir -p sub").exit_code == 0
    res = sandbox.exec('pwd; echo "foo=${FOO:-}"')
    assert res.output == "/testbed\nfoo=\n"
    assert sandbox.exec("exit 3").exit_code == 3
    both = sandbox.exec("echo out; echo err >&2")
    assert "out" in both.output and "err" in both.output


def test_output_is_capped_and_decoded(sandbox: Sandbox) -> None:
    res = sandbox.exec("head -c 200000 /dev/zero | tr '\\0' x; printf '\\xff\\xfeEND'")
    assert res.truncated and not res.timed_out
    assert "bytes of output dropped" in res.output
    assert res.output.endswith("\ufffd\ufffdEND")
    assert len(res.output) < 21_000


def test_files_round_trip_and_paths_are_checked(sandbox: Sandbox) -> None:
    sandbox.write_file("pkg/new.py", "print('héllo')\n")
    assert sandbox.read_file("pkg/new.py") == "print('héllo')\n"
    assert sandbox.exec("python3 pkg/new.py").output == "héllo\n"
    for bad in ("/etc/passwd", "../outside", "a/../../outside", ""):
        with pytest.raises(ValueError):
            sandbox.write_file(bad, "x")
        with pytest.raises(ValueError):
            sandbox.read_file(bad)
    with pytest.raises(FileNotFoundError):
        sandbox.read_file("missing.py")


def test_diff_covers_edits_new_and_binary_files_and_applies(sandbox: Sandbox, repo: Any, tmp_path: Path) -> None:
    sandbox.write_file("calc.py", repo.fixed)
    sandbox.exec("printf 'new\\n' > added.txt && printf '\\x00\\x01\\x02' > blob.bin && rm data.bin")
    status_before = sandbox.exec("git status --porcelain").output
    patch = sandbox.diff()
    assert "+    return a + b" in patch
    assert "added.txt" in patch and "GIT binary patch" in patch and "deleted file mode" in patch
    assert sandbox.exec("git status --porcelain").output == status_before  # agent's index untouched
    assert "?? added.txt" in status_before
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", repo.base], check=True)
    subprocess.run(["git", "-C", str(clone), "apply", "-"], input=patch.encode(), check=True)
    assert (clone / "calc.py").read_text() == repo.fixed
    assert (clone / "blob.bin").read_bytes() == b"\x00\x01\x02"
    assert not (clone / "data.bin").exists()


def test_diff_is_empty_on_a_fresh_workspace(sandbox: Sandbox) -> None:
    assert sandbox.diff() == ""


def test_reset_restores_the_base_exactly(sandbox: Sandbox) -> None:
    script = (
        "echo broken > calc.py && rm test_calc.py && mkdir -p d && echo x > d/f && echo log > run.log"
        " && git checkout -q -b mine && git add -A && git commit -qm mine && git tag t && echo t > /tmp/scratch"
    )
    assert sandbox.exec(script).exit_code == 0
    sandbox.reset()
    res = sandbox.exec("git status --porcelain --ignored; git log --all --format=%s; git tag; ls /tmp; cat calc.py")
    assert res.output == "swe-dagger base\ndef add(a, b):\n    return a - b\n"
    assert sandbox.diff() == ""


def test_reset_survives_a_deleted_git_dir_and_locked_directories(sandbox: Sandbox) -> None:
    assert sandbox.exec("rm -rf .git && mkdir -p locked && touch locked/f && chmod 500 locked").exit_code == 0
    sandbox.reset()
    assert sandbox.exec("git status --porcelain && ls").output == "calc.py\ndata.bin\ntest_calc.py\n"


def test_snapshot_and_restore_fork_a_state(sandbox: Sandbox) -> None:
    sandbox.exec("echo one > calc.py && echo note > /tmp/note && echo x > build.log")
    snap = sandbox.snapshot()
    sandbox.exec("echo two > calc.py && rm /tmp/note && echo y > later.txt")
    sandbox.restore(snap)
    res = sandbox.exec("cat calc.py /tmp/note build.log; ls later.txt 2>&1; git log --all --format=%s")
    assert res.output.splitlines()[:3] == ["one", "note", "x"]
    assert "No such file" in res.output and res.output.endswith("swe-dagger base\n")
    sandbox.reset()
    sandbox.restore(snap)  # a snapshot stays usable after a reset
    assert sandbox.read_file("calc.py") == "one\n"


def test_snapshot_from_another_sandbox_is_refused(make: Any, backend: str, repo: Any, sandbox: Sandbox) -> None:
    snap = sandbox.snapshot()
    with make(backend, WorkspaceSource(repo.path, repo.base)) as other, pytest.raises(SandboxError):
        other.restore(snap)


def test_directory_source_commits_the_directory_as_base(make: Any, backend: str, tmp_path: Path) -> None:
    src = tmp_path / "plain"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "m.py").write_text("X = 1\n")
    (src / ".gitignore").write_text("*.o\n")
    (src / "artefact.o").write_text("built")
    (src / ".git").mkdir()  # a stray .git must not travel
    (src / ".git" / "secret").write_text("gold patch")
    with make(backend, WorkspaceSource(src)) as sb:
        res = sb.exec("git log --format=%s; git status --porcelain; ls -A")
        assert res.output == "swe-dagger base\n.git\n.gitignore\nartefact.o\npkg\n"
        sb.exec("echo 2 > pkg/m.py; echo junk > new.o")
        sb.reset()  # ignored files present at creation are part of the environment and stay; new ones go
        assert sb.exec("cat artefact.o pkg/m.py; ls new.o 2>&1").output.startswith("builtX = 1\nls: cannot access")


def test_close_is_idempotent_and_final(make: Any, backend: str, repo: Any) -> None:
    sb = make(backend, WorkspaceSource(repo.path, repo.base))
    with sb:
        assert sb.exec("true").exit_code == 0
    sb.close()
    with pytest.raises(SandboxError, match="closed"):
        sb.exec("true")


def test_bad_sources_name_what_is_wrong(make: Any, backend: str, repo: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        make(backend, WorkspaceSource(repo.path, "0" * 40))
    with pytest.raises(ValueError, match="not a directory"):
        make(backend, WorkspaceSource(tmp_path / "nope"))
