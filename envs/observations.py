"""What the model sees: the task prompt at reset and one formatted observation per command."""

from __future__ import annotations

import re

from swe_dagger.envs.actions import FORMAT_INSTRUCTIONS
from swe_dagger.envs.task import Task
from swe_dagger.sandbox.protocol import ExecResult

TASK_PROMPT = """<pr_description>
Consider the following issue in the repository {repo}:

{problem_statement}
</pr_description>

<instructions>
You are working in the root of the repository, at the commit where the issue was reported.
Make changes to non-test source files so that the issue is resolved; the repository's tests will check your fix.
Inspect files, edit them (e.g. with sed, python or a heredoc) and run code as you need.
Every reply must contain your reasoning and then exactly one command.
{format_instructions}
Once you have submitted you cannot continue working on this task.
</instructions>"""


ISSUE_PROMPT = """<pr_description>
Consider the following issue in the repository {repo}:

{problem_statement}
</pr_description>"""

TASK_PROMPT_STYLES = ("full", "issue")
"""``full``: the issue plus how to act and submit (for any agent); ``issue``: the issue alone, for an agent whose own
system prompt already states the action protocol (saves ~230 tokens per state)."""


def task_prompt(task: Task, style: str = "full") -> str:
    """The reset observation: the issue text, plus how to act and how to submit when ``style`` is ``full``
    (never the patches)."""
    if style == "issue":
        return ISSUE_PROMPT.format(repo=task.repo, problem_statement=task.problem_statement.strip())
    if style != "full":
        raise ValueError(f"task_prompt style {style!r} is not one of {', '.join(TASK_PROMPT_STYLES)}")
    return TASK_PROMPT.format(
        repo=task.repo, problem_statement=task.problem_statement.strip(), format_instructions=FORMAT_INSTRUCTIONS
    )


def command_observation(
    result: ExecResult, timeout_s: float, output_bytes: int, *, disk_bytes: int | None = None
) -> str:
    """``<returncode>N</returncode>`` + the output, with a warning when the command timed out, was cut, or grew
    the workspace past its disk limit (``disk_bytes``)."""
    parts = [f"<returncode>{result.exit_code}</returncode>"]
    if result.disk_exceeded:
        limit = f" of {disk_bytes / 1024**2:g} MiB" if disk_bytes is not None else ""
        parts.append(
            f"<warning>The workspace grew past its disk limit{limit}, so it was reset to the base commit (all "
            "changes and /tmp are gone) and the episode ends. Do not write large files.</warning>"
        )
    if result.timed_out:
        parts.append(
            f"<warning>The command timed out after {timeout_s:g} s and was killed. Avoid long-running or "
            "interactive commands; run a smaller piece of work.</warning>"
        )
    if result.truncated:
        parts.append(
            f"<warning>The output was longer than {output_bytes} bytes; only its head and tail are shown. "
            "Use head, tail, grep or sed -n to look at smaller parts.</warning>"
        )
    parts.append(f"<output>\n{result.output}</output>" if result.output.endswith("\n") else
                 f"<output>\n{result.output}\n</output>")
    return "\n".join(parts)


FIXED_DURATION = "0.00s"
"""What :func:`fixed_durations` writes in place of every test-run duration."""

_PYTEST_SUMMARY = re.compile(
    r"^(?P<head>=* ?(?:no tests ran|\d+ \w+(?:, \d+ \w+)*) in )"  # "== 1 failed, 2 passed in " / "no tests ran in "
    r"\d+(?:\.\d+)?s(?: \(\d+:\d\d:\d\d\))?"  # "0.29s" / "62.10s (0:01:02)"
    r"(?P<tail> ?=*[ \t]*\r?)$",  # " ==" or nothing
    re.MULTILINE,
)
_UNITTEST_SUMMARY = re.compile(r"^(?P<head>Ran \d+ tests? in )\d+(?:\.\d+)?s(?P<tail>[ \t]*\r?)$", re.MULTILINE)


def fixed_durations(text: str) -> str:
    """``text`` with the wall-clock duration of each test-run summary line set to :data:`FIXED_DURATION`: pytest's
    ``== 1 failed, 2 passed in 0.29s ==`` / ``no tests ran in 0.01s`` (bars optional, as in ``-q``; a ``(0:01:02)``
    suffix is dropped) and unittest's ``Ran 3 tests in 0.001s``. Only whole lines of those shapes change, so source
    text that mentions a duration is left as it is. The env applies it when ``stable_timings`` is on, so that two
    runs of the same commands see the same observations (see the README's "Reproducible runs")."""
    text = _PYTEST_SUMMARY.sub(rf"\g<head>{FIXED_DURATION}\g<tail>", text)
    return _UNITTEST_SUMMARY.sub(rf"\g<head>{FIXED_DURATION}\g<tail>", text)
