"""The oracle's first look step: inferable from the issue when the issue names a symbol in the gold file."""

from __future__ import annotations

import dataclasses

from swe_dagger.agents.protocol import Message
from swe_dagger.envs.actions import parse_action
from swe_dagger.envs.task import Task
from swe_dagger.teachers.oracle import OracleTeacher
from swe_dagger.teachers.protocol import TeacherState


def _first_command(task: Task, find: str = "outline") -> str:
    msgs = (Message("system", "s"), Message("user", task.problem_statement))
    (label,) = OracleTeacher(find=find).label([TeacherState(task, msgs, "")])
    return parse_action(label)


def test_an_issue_naming_a_function_of_the_gold_file_gets_that_functions_def_line(tiny_repo, kit) -> None:
    task = dataclasses.replace(tiny_repo.task, problem_statement="`calc.ops.div` does not behave as documented.")
    command = _first_command(task, find="name")
    assert command == "grep -n 'def div(' calc/ops.py"
    out = kit.run_bash(tiny_repo.origin, command)
    assert out.startswith("<returncode>0</returncode>") and out.count("def ") == 1 and ":def div(a, b):" in out


def test_by_default_the_look_lists_all_the_files_def_lines(tiny_repo, kit) -> None:
    task = dataclasses.replace(tiny_repo.task, problem_statement="`calc.ops.div` does not behave as documented.")
    command = _first_command(task)
    assert command == "grep -n 'def ' calc/ops.py"
    out = kit.run_bash(tiny_repo.origin, command)
    assert out.startswith("<returncode>0</returncode>") and "def div" in out and "def mean" in out


def test_a_name_outside_the_gold_files_keeps_the_line_range_look(tiny_repo) -> None:
    task = dataclasses.replace(tiny_repo.task, problem_statement="`calc.other.div` and `ops.div` misbehave.")
    assert _first_command(task).startswith("nl -ba calc/ops.py | sed -n")


def test_after_the_look_the_oracle_moves_on_to_the_next_file(tiny_repo) -> None:
    task = dataclasses.replace(tiny_repo.task, problem_statement="`calc.ops.div` does not behave as documented.")
    look = "THOUGHT: x\n\n```bash\ngrep -n 'def ' calc/ops.py\n```"
    msgs = (Message("system", "s"), Message("user", task.problem_statement), Message("assistant", look),
            Message("user", "ok"))
    (label,) = OracleTeacher().label([TeacherState(task, msgs, "")])
    assert parse_action(label).startswith("nl -ba calc/utils.py")  # the gold patch's other file; no name for it
