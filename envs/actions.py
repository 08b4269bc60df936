"""The action protocol (mini-swe-agent's): a reply holds exactly one fenced ```bash block, the command to run.

The env, the agents and the teachers all parse replies with :func:`parse_action`, so "what counts as a valid
action" is defined once. A reply breaking the format raises :class:`FormatError` whose message is written for the
agent: the env shows it as the observation and the episode goes on.
"""

from __future__ import annotations

import re

SUBMIT_MARKER = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
"""A command whose output's first line is this string submits the workspace for grading."""

# An opening fence ```bash (or ```sh) on its own line, the body, and a closing ``` on its own line.
_BLOCK = re.compile(r"^[ \t]*```(?:bash|sh)[ \t]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)

FORMAT_INSTRUCTIONS = (
    "Your reply must contain exactly ONE bash code block, written as\n"
    "```bash\n<command>\n```\n"
    "with the command inside. Each command runs in a fresh shell in the repository root.\n"
    f"When you are done, submit with:\n```bash\necho {SUBMIT_MARKER}\n```"
)


class FormatError(ValueError):
    """The reply does not hold exactly one bash block; ``str(exc)`` is the message shown to the agent."""


def parse_action(text: str) -> str:
    """Return the bash command of a reply, or raise :class:`FormatError` explaining the expected format."""
    blocks = _BLOCK.findall(text)
    if len(blocks) != 1:
        found = "no bash code block" if not blocks else f"{len(blocks)} bash code blocks"
        raise FormatError(f"Format error: your reply had {found}.\n{FORMAT_INSTRUCTIONS}")
    command = blocks[0].strip("\n")
    if not command.strip():
        raise FormatError(f"Format error: your bash code block is empty.\n{FORMAT_INSTRUCTIONS}")
    return command


def is_submission(output: str) -> bool:
    """True when a command's output starts with the submit marker on its first line."""
    first_line = output.lstrip().split("\n", 1)[0]
    return first_line.strip() == SUBMIT_MARKER
