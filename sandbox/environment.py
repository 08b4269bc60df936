"""The environment commands see: a fixed whitelist, never the host's variables (API keys stay outside)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

AGENT_NAME = "swe-dagger agent"
AGENT_EMAIL = "agent@swe-dagger.invalid"

#: Variables every backend sets for agent commands: a quiet, non-interactive, UTF-8 shell with a git identity.
COMMON_ENV: Mapping[str, str] = {
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TERM": "dumb",
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "MANPAGER": "cat",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_NO_INPUT": "1",
    "PIP_PROGRESS_BAR": "off",
    "TQDM_DISABLE": "1",
    # No .pyc next to the sources: an edit that keeps a file's size within the same second as an earlier import
    # would otherwise run the stale bytecode (pyc checks mtime in seconds and size), and no __pycache__ in the diff.
    "PYTHONDONTWRITEBYTECODE": "1",
    "GIT_AUTHOR_NAME": AGENT_NAME,
    "GIT_AUTHOR_EMAIL": AGENT_EMAIL,
    "GIT_COMMITTER_NAME": AGENT_NAME,
    "GIT_COMMITTER_EMAIL": AGENT_EMAIL,
}

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def local_env(runtime: Path | None) -> dict[str, str]:
    """The complete environment of a command in the bubblewrap backend (HOME is the private /tmp)."""
    env = dict(COMMON_ENV)
    env["HOME"] = "/tmp"
    env["TMPDIR"] = "/tmp"
    env["PATH"] = SYSTEM_PATH
    if runtime is not None:
        env["PATH"] = f"{runtime}/bin:{SYSTEM_PATH}"
        env["VIRTUAL_ENV"] = str(runtime)
    return env
