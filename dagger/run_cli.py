"""``swe-dagger train`` and ``swe-dagger eval``, mounted on the root app by ``register(app)``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from swe_dagger.agents.prompts import PromptStyle
from swe_dagger.dagger.config import ConfigError, RunMode
from swe_dagger.sandbox.factory import BACKENDS
from swe_dagger.sandbox.registry_param import registry_option

_OVERRIDES_HELP = "Dotted overrides, e.g. dagger.iterations=3 sft.lr=1e-3"
_RUN_DEFAULT = "Default: the value in the checkpoint's run config (else swe-dagger train's default)."
PROGRESS_HELP = "Show progress bars."
"""The help of ``--progress/--no-progress``, the one progress switch every command that shows bars spells alike."""


def train_command(
    overrides: Annotated[list[str] | None, typer.Argument(help=_OVERRIDES_HELP)] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="A run YAML (sections = folders).")] = None,
    mode: Annotated[RunMode | None, typer.Option(
        "--mode", help="dagger | bc (β ≡ 1, teacher data only) | base (evaluate the initial student only); "
        "the same as the override mode=...")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the run in RUN_DIR.")] = None,
    progress: Annotated[bool | None, typer.Option(
        "--progress/--no-progress", help=PROGRESS_HELP + " Default: the config's progress key (true); with "
        "--resume too.")] = None,
) -> None:
    """Train a student by DAgger (default: the default suite, tiny local student, oracle teacher, local sandbox)."""
    from dataclasses import replace

    from swe_dagger.dagger.config import load_config
    from swe_dagger.dagger.loop import train

    try:
        if resume is not None:
            if overrides or config or mode:
                raise ConfigError("--resume uses the config saved in the run dir; drop --config/--mode/overrides")
            cfg = replace(load_config(), run_dir=str(resume))
        else:
            cfg = load_config(config, [*(overrides or []), *([f"mode={mode}"] if mode else [])])
        run_dir = train(cfg, resume=resume is not None, progress=progress)  # progress: also with --resume
    except _user_errors() as exc:  # the user's input or a service they named, not a crash
        fail(exc)
    typer.echo(str(run_dir))


def _user_errors(*more: type[Exception]) -> tuple[type[Exception], ...]:
    """Failures that are one ``error:`` line (exit 2), not a traceback: they name what the user must change."""
    from swe_dagger.agents.backends.vllm.install import VLLMUnavailable
    from swe_dagger.dagger.run.context import RunDirError
    from swe_dagger.dagger.run.dir_lock import DirLockedError
    from swe_dagger.envs.loading import TaskFormatError
    from swe_dagger.sandbox.protocol import SandboxUnavailable
    from swe_dagger.teachers.protocol import TeacherError

    return (ConfigError, RunDirError, DirLockedError, TaskFormatError, VLLMUnavailable, SandboxUnavailable,
            TeacherError, *more)


def fail(exc: BaseException | str) -> NoReturn:
    """Print ``error: <message>`` on one line to stderr and exit 2."""
    message = " ".join(str(exc).split("\n"))
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint dir (HF model or LoRA adapters).")],
    tasks: Annotated[str | None, typer.Option("--tasks", help="Task file (JSON/JSONL/parquet) to run the student on "
                                              "(default: the held-out tasks of the checkpoint's run).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Results folder (default: beside CHECKPOINT).")] = None,
    max_tasks: Annotated[int | None, typer.Option("--max-tasks")] = None,
    max_turns: Annotated[int | None, typer.Option("--max-turns", help=_RUN_DEFAULT)] = None,
    num_envs: Annotated[int | None, typer.Option("--num-envs", help=_RUN_DEFAULT)] = None,
    sandbox: Annotated[str | None, typer.Option("--sandbox", help="Sandbox backend. " + _RUN_DEFAULT,
                                                **registry_option(BACKENDS))] = None,
    prompt: Annotated[PromptStyle | None, typer.Option("--prompt", help="Prompt style. " + _RUN_DEFAULT)] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help=PROGRESS_HELP)] = True,
) -> None:
    """Run the student alone (greedy) on TASKS with its run's settings; writes episodes.jsonl and results.json.

    Prompt style, token limits, turns, sandbox and seed come from the config.yaml of the run that saved CHECKPOINT
    (on its held-out tasks also eval.episodes and the iteration's episode order), so the numbers are the run's own."""
    import dataclasses
    import json

    from swe_dagger.dagger.config_checks import check_sandbox
    from swe_dagger.dagger.eval.checkpoint import evaluate_checkpoint, settings_for
    from swe_dagger.dagger.sft.checkpoint_files import CheckpointError

    if any(v is not None and v < 1 for v in (max_turns, num_envs, max_tasks)):
        fail(f"--max-turns, --num-envs and --max-tasks must be >= 1, got {max_turns}, {num_envs}, {max_tasks}")
    out_dir = out or checkpoint.parent / f"eval-{checkpoint.name}"
    try:
        settings = settings_for(checkpoint, held_out=tasks is None)
        env = dataclasses.replace(settings.env, max_turns=max_turns or settings.env.max_turns,
                                  sandbox=sandbox or settings.env.sandbox)
        settings = dataclasses.replace(
            settings, progress=progress, env=env, num_envs=num_envs or settings.num_envs,
            prompt=prompt or settings.prompt, max_tasks=max_tasks or settings.max_tasks,
        )
        check_sandbox(env.sandbox, "--sandbox")
        if tasks is None:
            from swe_dagger.dagger.run.provenance import held_out_tasks_of

            tasks = held_out_tasks_of(checkpoint)
        stats = evaluate_checkpoint(checkpoint, tasks, out_dir, settings)
    except _user_errors(CheckpointError, FileExistsError) as exc:
        fail(exc)
    typer.echo(json.dumps({"out": str(out_dir), "resolve_rate": stats.resolve_rate, "episodes": stats.episodes,
                           "format_error_rate": stats.format_error_rate, "mean_turns": stats.mean_turns}))


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("eval")(eval_command)
