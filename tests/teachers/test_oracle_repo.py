"""The oracle on a real tiny git repo: it reaches the gold tree by executing its own commands (real bash + git),
from a clean start and from states a bad student left behind."""

from __future__ import annotations

import dataclasses
import random

import pytest

from swe_dagger.agents.protocol import Message
from swe_dagger.envs.actions import parse_action
from swe_dagger.teachers.corruptions import random_corruption
from swe_dagger.teachers.oracle import OracleTeacher, f2p_test_targets
from swe_dagger.teachers.protocol import Teacher, TeacherState

STYLES = ("visible", "patch")


def test_clean_start_resolves_with_minimal_steps(tiny_repo, fresh_clone, kit) -> None:
    oracle = OracleTeacher(style="patch")
    assert isinstance(oracle, Teacher)
    ep = kit.run_episode(oracle, tiny_repo.task, fresh_clone)
    assert ep.submitted
    assert kit.tree_of(fresh_clone, tiny_repo.task.base_commit) == tiny_repo.gold_tree
    assert tiny_repo.resolved(fresh_clone)
    # 2 looks, 4 single-hunk edits, 1 test run, 1 submit
    assert [c.split()[0] for c in ep.commands] == [
        "nl",
        "nl",
        "git",
        "git",
        "git",
        "git",
        "python",
        "echo",
    ]
    edits = [c for c in ep.commands if c.startswith("git apply")]
    assert all(c.count("\n@@ ") == 1 for c in edits), "one hunk per edit"
    assert all("return a + b" not in c for c in edits), "edits are local, not whole-file rewrites"


def test_clean_start_in_the_visible_style_edits_one_line_per_label(tiny_repo, fresh_clone, kit) -> None:
    ep = kit.run_episode(OracleTeacher(), tiny_repo.task, fresh_clone)
    assert ep.submitted and tiny_repo.resolved(fresh_clone)
    assert kit.tree_of(fresh_clone, tiny_repo.task.base_commit) == tiny_repo.gold_tree
    # 2 looks (numbered views), the new file, 5 one-line edits bottom-up (the views stay valid), test, submit
    assert [c.split()[0] for c in ep.commands] == ["nl", "nl", "git", *["sed"] * 5, "python", "echo"]
    assert ep.commands[3:8] == [
        "sed -i '28a\\        return 0' calc/ops.py",
        "sed -i '28a\\    if not xs:' calc/ops.py",
        "sed -i '16a\\        return None' calc/ops.py",
        "sed -i '16a\\    if b == 0:' calc/ops.py",
        "sed -i '5s/s.upper()/s.strip().upper()/' calc/utils.py",
    ]


def test_unresolved_without_oracle(tiny_repo, fresh_clone) -> None:
    assert not tiny_repo.resolved(fresh_clone)  # the grading check can fail


CORRUPTIONS = {
    "stray_files": "echo notes > notes.txt && mkdir -p scratch && echo 'x = 1' > scratch/tmp.py "
    "&& echo 'more' >> README.md && chmod +x README.md",
    "deleted_gold_file": "rm calc/ops.py",
    "deleted_and_staged": "git rm -q calc/utils.py",
    "wrong_edit_in_hunk": "sed -i 's/    return a \\/ b/    if b == 0:\\n        return 0\\n    return a \\/ b/' "
    "calc/ops.py",
    "half_applied": "printf 'def square(x):\\n    return x\\n' > calc/extra.py && "
    "sed -i 's/    total = 0/    if not xs:\\n        return 0\\n    total = 0/' calc/ops.py",
    "syntax_garbage": "sed -i '3i def broken(:\\n    )))' calc/ops.py && printf 'garbage' >> calc/utils.py",
    "gutted_file": "sed -i '10,36d' calc/ops.py",
    "renamed_gold_file": "git mv calc/utils.py calc/strings.py",
    "committed_wrong_edit": "sed -i 's/return s.upper()/return s/' calc/utils.py && git commit -qam wip",
    "committed_stray_edit": "echo more >> README.md && git commit -qam wip",
    "committed_deletion": "git rm -q calc/ops.py && git commit -qm wip",
    "no_newline_at_eof": "printf '%s' \"$(cat calc/utils.py)\" > calc/utils.py",
}


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_recovers_from_corrupted_state(name: str, style: str, tiny_repo, fresh_clone, kit) -> None:
    task = tiny_repo.task
    out = kit.run_bash(fresh_clone, CORRUPTIONS[name])
    assert out.startswith("<returncode>0<"), out
    assert kit.workspace_diff(fresh_clone, task.base_commit) != ""
    ep = kit.run_episode(OracleTeacher(run_tests=False, style=style), task, fresh_clone)
    assert ep.submitted, "\n".join(ep.commands)
    assert kit.tree_of(fresh_clone, task.base_commit) == tiny_repo.gold_tree, "\n---\n".join(ep.commands)


@pytest.mark.parametrize("style", STYLES)
def test_twenty_random_mid_episode_corruptions(style: str, tiny_repo, tmp_path, kit) -> None:
    """A few oracle steps, then 1-3 random student edits, then the oracle finishes: >= 95% must reach gold."""
    rng = random.Random(1234)
    task = tiny_repo.task
    resolved = 0
    for k in range(20):
        repo = tiny_repo.clone(tmp_path / f"w{k}")
        oracle = OracleTeacher(run_tests=False, style=style)
        msgs = [Message("system", "sys"), Message("user", task.problem_statement)]
        for _ in range(rng.randint(0, 5)):
            (text,) = oracle.label([TeacherState(task, tuple(msgs), kit.workspace_diff(repo, task.base_commit))])
            msgs += [Message("assistant", text), Message("user", kit.run_bash(repo, parse_action(text)))]
        for _ in range(rng.randint(1, 3)):
            command = random_corruption(rng, task)
            reply = f"THOUGHT: try something.\n\n```bash\n{command}\n```"
            msgs += [Message("assistant", reply), Message("user", kit.run_bash(repo, command))]
        ep = kit.run_episode(oracle, task, repo, messages=msgs)
        resolved += ep.submitted and kit.tree_of(repo, task.base_commit) == tiny_repo.gold_tree
    assert resolved >= 19


def test_same_state_same_label(tiny_repo, fresh_clone, kit) -> None:
    task = tiny_repo.task
    kit.run_bash(fresh_clone, CORRUPTIONS["wrong_edit_in_hunk"])
    msgs = (Message("system", "s"), Message("user", task.problem_statement))
    state = TeacherState(task, msgs, kit.workspace_diff(fresh_clone, task.base_commit))
    first = OracleTeacher().label([state, state])
    assert first[0] == first[1] == OracleTeacher().label([state])[0]
    assert parse_action(first[0]).startswith("nl -ba calc/ops.py")


def test_a_step_that_failed_falls_back_to_restoring_the_file(tiny_repo, fresh_clone, kit) -> None:
    task = tiny_repo.task
    oracle = OracleTeacher(look_first=False)
    msgs = (Message("system", "s"), Message("user", task.problem_statement))
    state = TeacherState(task, msgs, kit.workspace_diff(fresh_clone, task.base_commit))
    (planned,) = oracle.label([state])
    assert parse_action(planned).startswith("git apply")
    again = TeacherState(
        task, (*msgs, Message("assistant", planned), Message("user", "error: patch failed")), state.workspace_diff
    )
    (fallback,) = oracle.label([again])
    assert parse_action(fallback) == "rm -f calc/extra.py"


def test_test_targets_are_ids_that_exist_files_the_test_patch_changes_and_never_created_files(tiny_repo) -> None:
    task = tiny_repo.task
    assert f2p_test_targets(task) == ["tests/test_ops.py"]  # the test patch modifies it: its new ids don't exist yet
    created = "diff --git a/tests/test_new.py b/tests/test_new.py\nnew file mode 100644\n--- /dev/null\n"
    created += "+++ b/tests/test_new.py\n@@ -0,0 +1 @@\n+def test_x(): pass\n"
    synth_like = dataclasses.replace(
        task,
        test_patch=created,
        fail_to_pass=("tests/test_ops.py::test_add", "tests/test_new.py::test_x", "tests/test_ops.py::test_mean"),
    )
    assert f2p_test_targets(synth_like) == ["tests/test_ops.py::test_add", "tests/test_ops.py::test_mean"]
    assert f2p_test_targets(dataclasses.replace(synth_like, fail_to_pass=("test_x (m.T)",))) == []
