"""The ``visible`` oracle style: every edit label changes a line whose number and replaced text an earlier
observation showed (checked mechanically on episodes run with real bash and git), and the style's options."""

from __future__ import annotations

import dataclasses
import random
import re
import shlex

import pytest

from swe_dagger.agents.protocol import Message
from swe_dagger.envs.actions import parse_action
from swe_dagger.envs.task import Task
from swe_dagger.teachers.corruptions import random_corruption
from swe_dagger.teachers.factory import TeacherConfig, make_teacher
from swe_dagger.teachers.line_edits import numbered_lines
from swe_dagger.teachers.oracle import OracleTeacher
from swe_dagger.teachers.visible import grep_lines, view_range

_S_SCRIPT = re.compile(r"^(\d+)s/((?:[^\\/]|\\.)*)/((?:[^\\/]|\\.)*)/$")
_LINE_SCRIPT = re.compile(r"^(\d+)([dai])")


def _edited_line(command: str) -> tuple[int, str] | None:
    """``(line, replaced text)`` of a ``sed -i`` label ("" for deletions and insertions); None for other labels."""
    if not command.startswith("sed -i "):
        return None
    script = shlex.split(command)[2]
    m = _S_SCRIPT.match(script)
    if m is not None:
        pattern = m.group(2)
        return int(m.group(1)), "" if pattern == "^.*$" else re.sub(r"\\(.)", r"\1", pattern)
    m = _LINE_SCRIPT.match(script)
    assert m is not None, f"unexpected sed label {command!r}"
    return int(m.group(1)), ""


def _assert_edits_visible(messages: list[Message], oracle_turns: set[int]) -> int:
    """Every oracle ``sed -i`` label edits a line that an earlier observation's numbered view showed with the
    replaced text in it. Returns how many edit labels were checked."""
    checked = 0
    for k in sorted(oracle_turns):
        edit = _edited_line(parse_action(messages[k].content))
        if edit is None:
            continue
        line, old = edit
        shown = [numbered_lines(m.content).get(line) for m in messages[:k] if m.role == "user"]
        assert any(text is not None and old in text for text in shown), (line, old, messages[k].content)
        checked += 1
    return checked


def _named(task: Task) -> Task:
    """The tiny task with an issue naming functions (the oracle looks at the outline, then views a function)."""
    statement = "`calc.ops.div` and `calc.ops.mean` and `calc.utils.shout` fail."
    return dataclasses.replace(task, problem_statement=statement)


@pytest.mark.parametrize(("named", "find"), [(False, "outline"), (True, "outline"), (True, "name")])
def test_every_edit_label_changes_a_line_an_earlier_observation_showed(
    named: bool, find: str, tiny_repo, tmp_path, kit
) -> None:
    rng = random.Random(5)
    task = _named(tiny_repo.task) if named else tiny_repo.task
    oracle = OracleTeacher(run_tests=False, find=find)
    checked = 0
    for k in range(8):
        repo = tiny_repo.clone(tmp_path / f"w{k}")
        msgs = [Message("system", "sys"), Message("user", task.problem_statement)]
        if k:  # a few student-like commands first (k = 0: a clean start)
            for _ in range(rng.randint(1, 2)):
                command = random_corruption(rng, task)
                msgs += [Message("assistant", f"THOUGHT: try.\n\n```bash\n{command}\n```"),
                         Message("user", kit.run_bash(repo, command))]
        start = len(msgs)
        ep = kit.run_episode(oracle, task, repo, messages=msgs)
        assert ep.submitted and kit.tree_of(repo, task.base_commit) == tiny_repo.gold_tree, "\n".join(ep.commands)
        checked += _assert_edits_visible(ep.messages, set(range(start, len(ep.messages), 2)))
    assert checked >= 8 * 4


def test_a_named_function_is_found_by_name_and_viewed_from_its_def_line(tiny_repo, fresh_clone, kit) -> None:
    ep = kit.run_episode(OracleTeacher(run_tests=False, find="name"), _named(tiny_repo.task), fresh_clone)
    assert ep.commands[:2] == ["grep -nE 'def (div|mean)\\(' calc/ops.py", "grep -n 'def shout(' calc/utils.py"]
    assert ep.messages[3].content.count(":def ") == 2  # the look shows just the two named defs, with their numbers
    views = [c for c in ep.commands if c.startswith("nl -ba calc/ops.py")]
    # from `def mean` (28), then `def div` (16): the def line the look showed + a fixed page of lines
    assert views == ["nl -ba calc/ops.py | sed -n '28,+30p'", "nl -ba calc/ops.py | sed -n '16,+30p'"]


def test_a_look_by_body_shows_the_named_function_numbered_and_edits_without_a_view(
    tiny_repo, fresh_clone, kit
) -> None:
    ep = kit.run_episode(OracleTeacher(run_tests=False, find="body"), _named(tiny_repo.task), fresh_clone)
    assert ep.commands[:2] == [
        "grep -nE -A 30 'def (div|mean)\\(' calc/ops.py",
        "grep -n -A 30 'def shout(' calc/utils.py",
    ]
    shown = grep_lines(ep.messages[3].content)
    assert shown[16].startswith("def div(") and 17 in shown  # the def line and the lines after it, numbered
    assert not any(c.startswith("nl -ba") for c in ep.commands), ep.commands  # every edited line was in the look
    assert ep.submitted and kit.tree_of(fresh_clone, _named(tiny_repo.task).base_commit) == tiny_repo.gold_tree


def test_a_view_by_name_is_a_fixed_page_from_the_def_line_and_a_later_edit_the_next_page() -> None:
    assert view_range(35, 40, [30], by_name=True) == (30, 60)  # the page holding the edit: from the def line
    assert view_range(55, 70, [30], by_name=True) == (61, 91)  # line 70 is past 30 + 30: the next page
    assert view_range(55, 70, [30]) == (30, 73)  # without by_name: def line to a few lines past the edit


def test_a_named_function_is_viewed_from_its_def_line_after_the_outline(tiny_repo, fresh_clone, kit) -> None:
    ep = kit.run_episode(OracleTeacher(run_tests=False, find="outline"), _named(tiny_repo.task), fresh_clone)
    assert ep.commands[:2] == ["grep -n 'def ' calc/ops.py", "grep -n 'def ' calc/utils.py"]
    # from `def mean` (28) to the line before `def describe` (35); then `def div` (16) up to `def clamp` (20)
    views = [c for c in ep.commands if c.startswith("nl -ba calc/ops.py")]
    assert views == ["nl -ba calc/ops.py | sed -n '28,34p'", "nl -ba calc/ops.py | sed -n '16,19p'"]


def test_styles_have_their_own_teacher_ids_and_test_commands_version_them() -> None:
    assert OracleTeacher(style="patch").teacher_id == "oracle:plan=2,look=1,tests=1,max=40,ctx=3,cmd=2"
    assert OracleTeacher(style="patch", run_tests=False).teacher_id == "oracle:plan=2,look=1,tests=0,max=40,ctx=3"
    assert OracleTeacher().teacher_id == "oracle:plan=3,style=visible,look=1,tests=1,max=40,ctx=3,cmd=2"
    assert OracleTeacher(find="name").teacher_id == "oracle:plan=5,style=visible,look=1,tests=1,max=40,ctx=3,cmd=2"
    assert OracleTeacher(find="body").teacher_id == "oracle:plan=6,style=visible,look=1,tests=1,max=40,ctx=3,cmd=2"
    built = make_teacher(TeacherConfig("oracle", {"style": "patch"}))
    assert built.teacher_id == OracleTeacher(style="patch").teacher_id
    with pytest.raises(ValueError, match="'diff' is not one of visible, patch"):
        OracleTeacher(style="diff")
    with pytest.raises(ValueError, match="find 'all' is not one of name, outline, body"):
        OracleTeacher(find="all")


def test_reproduce_runs_the_failing_tests_once_after_the_look_and_only_from_an_untouched_workspace(
    tiny_repo, tmp_path, kit
) -> None:
    oracle = OracleTeacher(run_tests=False, find="name", reproduce=True)
    assert oracle.teacher_id.endswith(",repro=1,cmd=2") and oracle.teacher_id != OracleTeacher(find="name").teacher_id
    task = _named(tiny_repo.task)
    clean = tiny_repo.clone(tmp_path / "clean")
    ep = kit.run_episode(oracle, task, clean)
    reproduce = [k for k, c in enumerate(ep.commands) if "--tb=short" in c]
    assert reproduce == [2], ep.commands  # after the two looks (calc/ops.py, calc/utils.py), before any view or edit
    assert "pytest -x -q --tb=short" in ep.commands[2]
    assert ep.submitted and kit.tree_of(clean, task.base_commit) == tiny_repo.gold_tree
    # a workspace the student already changed goes on with the repair: no reproduce step
    repo = tiny_repo.clone(tmp_path / "dirty")
    kit.run_bash(repo, "echo '# stray' >> calc/ops.py")
    msgs = [Message("system", "sys"), Message("user", task.problem_statement)]
    dirty = kit.run_episode(oracle, task, repo, messages=msgs)
    assert not any("--tb=short" in c for c in dirty.commands), dirty.commands
    assert dirty.submitted and kit.tree_of(repo, task.base_commit) == tiny_repo.gold_tree
