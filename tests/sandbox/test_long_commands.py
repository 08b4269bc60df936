"""Commands longer than one argv string may be (128 KiB) run like short ones, on both backends."""

from __future__ import annotations

import pytest

from swe_dagger.sandbox.long_commands import ARGV_COMMAND_MAX, fits_argv
from swe_dagger.sandbox.protocol import Sandbox


@pytest.mark.parametrize("size", [200_000, 900_000])
def test_a_long_command_runs_and_gives_its_output(sandbox: Sandbox, size: int) -> None:
    assert not fits_argv("x" * size)
    res = sandbox.exec(f"echo {'x' * size} | wc -c; cat; echo stdin-ended; pwd")
    assert (res.exit_code, res.output) == (0, f"{size + 1}\nstdin-ended\n/testbed\n")  # cat sees an empty stdin


def test_a_long_heredoc_writes_a_file_and_exit_codes_and_errors_carry_over(sandbox: Sandbox) -> None:
    body = "é" * 70_000 + "\n"  # 140,000 bytes: past the argv limit though under it in characters
    res = sandbox.exec(f"cat > big.txt <<'EOF'\n{body}EOF\nwc -c < big.txt; nosuchcommand; exit 7")
    assert res.exit_code == 7
    assert res.output.startswith("140001\n") and "nosuchcommand: command not found" in res.output
    assert sandbox.read_file("big.txt") == body
    assert sandbox.exec("ls /var/lib/swe-dagger").output.split() in (["base.git"], ["base.git", "cache"])


def test_a_nul_byte_is_an_observation_not_a_crash(sandbox: Sandbox) -> None:
    res = sandbox.exec("echo a\0b; echo done")
    assert res.exit_code == 0 and "ab\ndone\n" in res.output and "null byte" in res.output


def test_short_commands_still_go_as_an_argument() -> None:
    assert fits_argv("x" * ARGV_COMMAND_MAX) and not fits_argv("x" * (ARGV_COMMAND_MAX + 1))
    assert not fits_argv("é" * (ARGV_COMMAND_MAX // 2 + 1))
