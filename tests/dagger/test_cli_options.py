"""The command line's shared conventions: choices checked at parse time and shown in ``--help``, one progress
switch spelled ``--progress/--no-progress`` everywhere, ``-v``/``-q`` logging that keeps library chatter out."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer
import typer.testing

from swe_dagger.dagger import cli as root_cli
from swe_dagger.dagger.logs import NOISY, setup_logging


def plain(text: str) -> str:
    """``text`` without rich's box drawing and line wrapping (errors and help are drawn in boxes)."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "swe_dagger.dagger.cli", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def commands() -> dict[str, Any]:
    """Every leaf command of ``swe-dagger`` by its full name (``tasks default``), as click commands."""
    root_cli.mount_subapps()
    group = typer.main.get_command(root_cli.app)
    found: dict[str, Any] = {}

    def walk(cmd: Any, prefix: str) -> None:
        if hasattr(cmd, "commands"):  # a group (typer carries its own copy of click: no isinstance)
            for name, sub in cmd.commands.items():
                walk(sub, f"{prefix} {name}".strip())
        else:
            found[prefix] = cmd

    walk(group, "")
    return found


def test_every_progress_switch_is_spelled_alike(commands: dict[str, Any]) -> None:
    with_bars = {name for name, cmd in commands.items()
                 if any("progress" in (p.name or "") for p in cmd.params)}
    assert {"train", "eval", "swebench-eval", "tasks synthesize", "tasks default", "tasks validate"} <= with_bars
    for name in with_bars:
        (param,) = [p for p in commands[name].params if "progress" in (p.name or "")]
        assert (param.name, param.opts, param.secondary_opts) == ("progress", ["--progress"], ["--no-progress"]), name


@pytest.mark.parametrize(
    ("args", "option", "choices"),
    [
        (["train", "--mode", "dagr"], "--mode", ["dagger", "bc", "base"]),
        (["eval", "ckpt", "--prompt", "short"], "--prompt", ["default", "compact"]),
        (["eval", "ckpt", "--sandbox", "dockr"], "--sandbox", ["docker", "local"]),
        (["swebench-eval", "--out", "o", "--mode", "k8s"], "--mode", ["docker", "local"]),
        (["swebench-eval", "--out", "o", "--backend", "hff"], "--backend", ["hf", "openai", "vllm"]),
        (["swebench-eval", "--out", "o", "--teacher", "orcale"], "--teacher", ["chat", "oracle", "replay"]),
        (["export", "run", "--out", "o", "--format", "csv"], "--format", ["trl"]),
        (["tasks", "validate", "f.jsonl", "--sandbox", "bwrap"], "--sandbox", ["docker", "local"]),
        (["tasks", "default", "--sandbox", "bwrap"], "--sandbox", ["docker", "local"]),
        (["student", "init", "out", "--from", "gpt-5"], "--from", ["smollm2-135m"]),
    ],
)
def test_a_wrong_choice_is_a_usage_error_listing_the_choices(
    commands: dict[str, Any], args: list[str], option: str, choices: list[str]
) -> None:
    words = args[:2] if args[0] in ("tasks", "student") else args[:1]
    result = typer.testing.CliRunner().invoke(root_cli.app, args)
    assert result.exit_code == 2, result.output  # click's usage error, before the command runs
    message = plain(result.output)
    assert f"Invalid value for '{option}'" in message and args[-1] in message
    assert all(c in message for c in choices), message
    shown = plain(typer.testing.CliRunner().invoke(root_cli.app, [*words, "--help"],
                                                   env={"COLUMNS": "200"}).output)
    assert "|".join(choices) in shown.replace(" ", ""), shown  # the choices are in --help too


def test_a_bad_choice_from_the_real_command_line() -> None:
    out = cli("train", "--mode", "dagr")
    assert out.returncode == 2 and "'dagr' is not one of 'dagger', 'bc', 'base'" in plain(out.stderr)


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, {n: logging.getLogger(n).level for n in NOISY})
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("root_logging")
@pytest.mark.parametrize(("verbosity", "root_level", "noisy_level"), [
    (-1, logging.ERROR, logging.ERROR), (0, logging.WARNING, logging.WARNING), (1, logging.INFO, logging.WARNING),
    (2, logging.DEBUG, logging.DEBUG), (5, logging.DEBUG, logging.DEBUG),
])
def test_verbosity_sets_levels(verbosity: int, root_level: int, noisy_level: int) -> None:
    assert setup_logging(verbosity) == root_level
    assert logging.getLogger().level == root_level and logging.getLogger("httpx").level == noisy_level


@pytest.mark.usefixtures("root_logging")
def test_library_info_lines_stay_out_and_a_later_basic_config_changes_nothing(
        capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(1)
    setup_logging(1)  # called twice (main, then the -v callback): one handler, one line per record
    logging.basicConfig(level=logging.DEBUG)  # what some libraries do on import
    logging.getLogger("swe_dagger.test").info("ours")
    logging.getLogger("httpx").info("HTTP Request: POST http://x 200 OK")
    logging.getLogger("filelock").info("Lock acquired")
    err = capsys.readouterr().err  # the handler writes to the sys.stderr of the moment (rich's proxy under bars)
    assert err.splitlines() == ["INFO swe_dagger.test: ours"]
    assert logging.getLogger().level == logging.INFO


def test_quiet_and_verbose_flags_on_the_root_command() -> None:
    out = cli("-q", "version")
    assert out.returncode == 0 and out.stdout.strip()
    out = cli("-vv", "version")
    assert out.returncode == 0 and out.stdout.strip()
    out = cli("-x", "version")
    assert out.returncode == 2 and "No such option: -x" in plain(out.stderr)
