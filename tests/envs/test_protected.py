"""Which paths grading leaves out of an agent's diff (pure functions), checked on hand-made and real SWE-bench diffs."""

from __future__ import annotations

from pathlib import Path

import pytest

from swe_dagger.envs.loading import load_tasks
from swe_dagger.envs.protected import ProtectedPaths, is_protected, protect, protected_paths, split_patch
from swe_dagger.envs.task import Task

# the repo's ../shared (a worktree under <root>/wt/NAME finds <root>/shared)
DATA = next((p / "shared" / "data" / "swebench" for p in Path(__file__).resolve().parents[3:5]
             if (p / "shared" / "data" / "swebench").is_dir()), Path("../shared/data/swebench"))


def block(path: str, *, new: bool = False, old_path: str | None = None) -> str:
    """A one-hunk git diff block for ``path`` (created, or renamed from ``old_path``)."""
    a = old_path or path
    if new:
        return f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..e69de29\n--- /dev/null\n" \
               f"+++ b/{path}\n@@ -0,0 +1 @@\n+x = 1\n"
    head = f"diff --git a/{a} b/{path}\n"
    if old_path:
        head += f"similarity index 90%\nrename from {a}\nrename to {path}\n"
    return head + f"index 1111111..2222222 100644\n--- a/{a}\n+++ b/{path}\n@@ -1,2 +1,2 @@\n ctx\n-old\n+new\n"


def task(**kw: object) -> Task:
    fields: dict[str, object] = dict(instance_id="o__r-1", repo="o/r", base_commit="b", problem_statement="p",
                                     patch=block("pkg/core.py"), fail_to_pass=("pkg/checks/check_core.py::test_a",))
    fields.update(kw)
    return Task(**fields)  # type: ignore[arg-type]


GENERAL = ProtectedPaths(frozenset(), ("",), frozenset())


@pytest.mark.parametrize("path", [
    "conftest.py", "pkg/deep/conftest.py", "tests/anything.py", "src/pkg/testing/helpers.py", "pkg/test_core.py",
    "pkg/core_test.py", "pkg/tests.py", "pkg/test_core.cpython-311-x86_64-linux-gnu.so", "pytest.ini",
    ".pytest.ini", "pkg/tox.ini", "setup.cfg", "sub/pyproject.toml", "setup.py", "sitecustomize.py",
    "lib/usercustomize.py", "x/evil.pth", "pkg.egg-info/entry_points.txt", "a/b-1.0.dist-info/METADATA",
    "pkg/__pycache__/core.cpython-311.pyc", "pkg/core.pyc", ".pytest_cache/v/cache/lastfailed",
    "pytest.py", "_pytest/runner.py", "pluggy/__init__.py", "argparse.py", "json/__init__.py",
])
def test_general_rules_protect(path: str) -> None:
    assert is_protected(path, GENERAL)


@pytest.mark.parametrize("path", ["pkg/core.py", "pkg/latest.py", "pkg/contest.py", "versioneer.py", "docs/conf.py",
                                  "pkg/json/__init__.py", "src/_pytest/python.py", "README.md", "site/index.html"])
def test_source_and_other_files_are_not_protected(path: str) -> None:
    assert not is_protected(path, GENERAL)


def test_new_modules_at_a_sys_path_root_are_protected_existing_ones_are_not() -> None:
    rules = protected_paths(task(test_cmd="PYTHONPATH=src:lib python -m pytest -rA tests"))
    assert rules.roots == ("", "src", "lib")
    assert is_protected("helper.py", rules, created=True) and not is_protected("helper.py", rules)
    assert is_protected("src/numpy.py", rules, created=True) and is_protected("src/argparse.py", rules)
    assert not is_protected("src/pkg/new_module.py", rules, created=True)
    assert not is_protected("notes.txt", rules, created=True)


def test_task_rules_come_from_test_ids_test_patch_and_test_cmd_and_spare_gold() -> None:
    t = task(test_patch=block("pkg/checks/extra_check.py"), patch=block("setup.cfg") + block("pkg/core.py"),
             test_cmd="cd . && python -m pytest pkg/specs/ pkg/core_spec.py::TestX::test_y[a-b] --tb=short -p no:x")
    rules = protected_paths(t)
    assert rules.files == {"pkg/checks/check_core.py", "pkg/checks/extra_check.py", "pkg/specs", "pkg/core_spec.py"}
    assert rules.exempt == {"setup.cfg", "pkg/core.py"}
    assert is_protected("pkg/specs/deep/a.py", rules) and not is_protected("pkg/specsheet.py", rules)
    assert not is_protected("setup.cfg", rules)  # gold edits it, so the agent may too


def test_heredoc_bodies_of_an_eval_script_are_not_commands() -> None:
    cmd = "cat > /tmp/s.sh <<'EOF'\ngit apply - <<'X'\ndiff --git a/pkg/core.py b/pkg/core.py\nX\nEOF\nbash /tmp/s.sh"
    assert protected_paths(task(test_cmd=cmd)).files == {"pkg/checks/check_core.py"}


def test_protect_drops_protected_blocks_and_lists_them() -> None:
    fix, test, hook = block("pkg/core.py"), block("pkg/checks/check_core.py"), block("conftest.py", new=True)
    result = protect(task(), test + fix + hook)
    assert result.patch == fix and result.tampered == ("conftest.py", "pkg/checks/check_core.py")
    assert protect(task(), fix) == type(result)(fix, ())
    assert protect(task(), "") == type(result)("", ())
    # a rename counts when either side is protected
    assert protect(task(), block("pkg/util.py", old_path="tests/util.py")).tampered == ("tests/util.py",)
    assert protect(task(), block("conftest.py", old_path="pkg/x.py")).tampered == ("conftest.py",)


def test_quoted_binary_and_mode_only_blocks() -> None:
    quoted = ('diff --git "a/tests/caf\\303\\251.py" "b/tests/caf\\303\\251.py"\nindex 1..2 100644\n'
              '--- "a/tests/caf\\303\\251.py"\n+++ "b/tests/caf\\303\\251.py"\n@@ -1 +1 @@\n-a\n+b\n')
    binary = ("diff --git a/pkg/data.bin b/pkg/data.bin\nnew file mode 100644\nindex 0000000..1\nGIT binary patch\n"
              "literal 3\nKcmZ>B00031\n\nliteral 0\nHcmV?d00001\n\n")
    mode = "diff --git a/my file.py b/my file.py\nold mode 100644\nnew mode 100755\n"
    blocks = split_patch(quoted + binary + mode)
    assert [b.paths for b in blocks] == [("tests/café.py",), ("pkg/data.bin",), ("my file.py",)]
    assert protect(task(), quoted + binary).tampered == ("tests/café.py",)


@pytest.mark.parametrize("patch, message", [
    ("some text\n" + block("pkg/core.py"), "before the first"),
    (block("pkg/core.py") + "--- a/conftest.py\n+++ b/conftest.py\n@@ -0,0 +1 @@\n+x\n", "expected a hunk header"),
    (block("pkg/core.py").replace("+new\n", ""), "hunk ends early"),
    ("diff --git a/x.py b/x.py\nsurprise\n", "unexpected"),
])
def test_malformed_patches_are_errors(patch: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_patch(patch)


@pytest.mark.parametrize("name", ["swebench_lite_test.json", "swebench_verified_complete_subset.jsonl"])
def test_real_rows_gold_passes_whole_and_test_patch_files_are_protected_anyway(name: str) -> None:
    tasks = load_tasks(DATA / name)
    for t in tasks:
        assert protect(t, t.patch).patch == t.patch, t.instance_id
        files = [(p, b.created) for b in split_patch(t.test_patch) for p in b.paths]
        assert files and all(is_protected(p, GENERAL, created=c) for p, c in files), t.instance_id
    # without the gold exemption exactly one gold patch (pylint's setup.cfg) would lose a file
    gold_hits = {t.instance_id for t in tasks for b in split_patch(t.patch) for p in b.paths
                 if is_protected(p, GENERAL)}
    assert gold_hits <= {"pylint-dev__pylint-4661"}
