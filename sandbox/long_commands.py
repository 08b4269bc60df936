"""Commands too long for one ``execve`` argument: how both backends hand them to bash instead.

Linux caps a single argument at 128 KiB (``MAX_ARG_STRLEN``) and the action space allows 1,000,000 characters,
so a long command cannot be ``bash -c COMMAND``. Commands up to :data:`ARGV_COMMAND_MAX` bytes still go as the
argument (unchanged behaviour, no extra cost); longer ones are written to a file (docker) or a memfd given as
stdin (local), and ``bash -c`` runs a short loader that reads and ``eval``\\ s them with stdin at ``/dev/null``.
``eval`` parses and runs the text as ``bash -c`` does; only syntax-error messages say ``eval:`` instead of ``-c:``.
"""

from __future__ import annotations

import shlex

ARGV_COMMAND_MAX = 64 * 1024
"""Longest command (UTF-8 bytes) passed as an argument; half the kernel's limit, leaving room for the rest."""

#: Reads the command from stdin (expanded before ``</dev/null`` applies), then runs it with stdin at /dev/null.
FROM_STDIN = 'eval "$(cat)" </dev/null'


def fits_argv(command: str) -> bool:
    """Whether ``command`` can be passed as one argument (an argument cannot hold NUL; bash drops it from stdin)."""
    if "\0" in command:
        return False
    return len(command) <= ARGV_COMMAND_MAX // 4 or len(encode(command)) <= ARGV_COMMAND_MAX


def encode(command: str) -> bytes:
    """The bytes bash reads for a long command (characters UTF-8 cannot hold become U+FFFD)."""
    return command.encode("utf-8", "replace")


def from_file(path: str) -> str:
    """A loader that runs the command stored at ``path`` (deleted once read), with stdin at /dev/null."""
    q = shlex.quote(path)
    return f'eval "$(cat {q}; rm -f {q})" </dev/null'
