"""The one-bash-block action protocol."""

from __future__ import annotations

import pytest

from swe_dagger.envs.actions import SUBMIT_MARKER, FormatError, is_submission, parse_action


def test_one_block_gives_its_command() -> None:
    reply = "I will list files.\n```bash\nls -la\ncat setup.py | head\n```\nThen read."
    assert parse_action(reply) == "ls -la\ncat setup.py | head"
    assert parse_action("```sh\necho hi\n```") == "echo hi"


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("no code here", "no bash code block"),
        ("```python\nprint(1)\n```", "no bash code block"),
        ("```bash\nls\n```\nand\n```bash\npwd\n```", "2 bash code blocks"),
        ("```bash\n\n```", "empty"),
        ("```bash\nls", "no bash code block"),
    ],
)
def test_format_errors_explain_the_protocol(reply: str, why: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_action(reply)
    assert why in str(info.value) and "```bash" in str(info.value) and SUBMIT_MARKER in str(info.value)


def test_submission_is_the_first_output_line() -> None:
    assert is_submission(f"{SUBMIT_MARKER}\n")
    assert is_submission(f"\n{SUBMIT_MARKER}\nmore")
    assert not is_submission(f"something\n{SUBMIT_MARKER}")
    assert not is_submission(f"{SUBMIT_MARKER}_NOT")
