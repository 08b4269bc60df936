"""``swe-dagger swebench-eval``: an agent (student or teacher alone) on SWE-bench by name or file."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from swe_dagger.agents.factory import POLICY_BACKENDS
from swe_dagger.agents.prompts import PromptStyle
from swe_dagger.dagger.run_cli import PROGRESS_HELP
from swe_dagger.sandbox.registry_param import registry_option
from swe_dagger.teachers.factory import TEACHERS

if TYPE_CHECKING:
    from swe_dagger.dagger.eval.swebench import Actor
    from swe_dagger.dagger.eval.swebench_report import InstanceOutcome
    from swe_dagger.envs.task import Task


def swebench_eval_command(
    out: Annotated[Path, typer.Option("--out", help="Output folder (resume-safe: rerun to continue).")],
    dataset: Annotated[str, typer.Option("--dataset", help="verified | lite | full | a task file | owner/name.")] = (
        "verified"),
    instances: Annotated[list[str] | None, typer.Option("--instances", help="Instance ids (repeat or comma-list).")]
    = None,
    mode: Annotated[Literal["docker", "local"], typer.Option(
        "--mode", help="docker (official images) | local (venvs, bwrap).")] = "docker",
    workers: Annotated[int, typer.Option("--workers", help="Instances at once.")] = 4,
    teacher: Annotated[str | None, typer.Option("--teacher", help="A teacher acting alone, e.g. oracle.",
                                                **registry_option(TEACHERS))] = None,
    backend: Annotated[str, typer.Option("--backend", help="Student policy backend.",
                                         **registry_option(POLICY_BACKENDS))] = "openai",
    model: Annotated[str, typer.Option("--model", help="Student model dir or served model id.")] = "",
    base_url: Annotated[str, typer.Option("--base-url", help="openai: API root, e.g. http://host:8000/v1.")] = "",
    max_turns: Annotated[int, typer.Option("--max-turns")] = 50,
    stable_timings: Annotated[bool, typer.Option(
        "--stable-timings/--no-stable-timings", help="Test-run durations in observations read 0.00s, so reruns see "
        "identical observations (a run's env.stable_timings; grading is the same).")] = False,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens")] = 1024,
    model_name: Annotated[str | None, typer.Option("--model-name", help="model_name_or_path in preds.jsonl.")] = None,
    namespace: Annotated[str, typer.Option("--namespace", help="Image namespace on Docker Hub.")] = "swebench",
    no_pull: Annotated[bool, typer.Option("--no-pull", help="Never pull; a missing image is an error.")] = False,
    repo_specs: Annotated[Path | None, typer.Option("--repo-specs", help="JSON {repo: {version: spec}} to add.")]
    = None,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="local: clones and venvs.")] = None,
    repo_url: Annotated[str, typer.Option("--repo-url", help="local: clone URL template.")] = (
        "https://github.com/{repo}.git"),
    repo_mirror: Annotated[str | None, typer.Option(
        "--repo-mirror", help="local: a folder of git repos (owner/name, owner+name, .git or not) or a template "
        "such as file:///mirrors/{owner}/{name}.git; wins over --repo-url.")] = None,
    harness: Annotated[bool, typer.Option("--harness", help="Then grade preds.jsonl with swebench's harness.")]
    = False,
    prompt: Annotated[PromptStyle, typer.Option("--prompt", help="Prompt style: default, or compact for a student "
                                                "trained with student.prompt=compact.")] = "default",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help=PROGRESS_HELP)] = True,
) -> None:
    """Run one episode per instance; write trajectories/, preds.jsonl, results.json (+ harness.json)."""
    from swe_dagger.dagger.config import ConfigError
    from swe_dagger.dagger.eval.swebench import SWEBENCH_ENV, SwebenchEvalConfig, evaluate_swebench
    from swe_dagger.dagger.eval.swebench_report import problem_lines
    from swe_dagger.dagger.run.dir_lock import DirLock, DirLockedError
    from swe_dagger.dagger.run_cli import fail
    from swe_dagger.envs.loading import TaskFormatError
    from swe_dagger.envs.swebench.datasets import load_swebench
    from swe_dagger.envs.swebench.local_mode import LocalModeConfig, default_cache
    from swe_dagger.envs.swebench.specs import SpecError, load_repo_specs

    ids = [i for item in instances or [] for i in item.split(",") if i.strip()]
    try:
        env = dataclasses.replace(SWEBENCH_ENV, sandbox=mode, max_turns=max_turns, stable_timings=stable_timings)
    except ConfigError as exc:  # e.g. env.max_turns must be >= 1
        raise typer.BadParameter(str(exc)) from None
    try:
        if repo_specs is not None:
            load_repo_specs(repo_specs)
        tasks = load_swebench(dataset, ids)
    except (TaskFormatError, SpecError) as exc:
        fail(exc)
    try:
        lock = DirLock(out).acquire()  # one evaluation per --out at a time
    except DirLockedError as exc:
        fail(exc)
    with lock:  # held until the evaluation (and --harness) ends
        actor, closer, name = _actor(teacher, backend, model, base_url, max_turns, max_new_tokens)
        cfg = SwebenchEvalConfig(
            env=env, workers=workers, namespace=namespace,
            pull=not no_pull, model_name=model_name or name, progress=progress,
            prompt=prompt,
            local=LocalModeConfig(cache_dir=cache_dir or default_cache(), repo_url=repo_url, repo_mirror=repo_mirror),
        )
        try:
            outcomes = evaluate_swebench(tasks, actor, out, cfg, meta={"dataset": dataset})
        finally:
            closer()
        for line in problem_lines(outcomes, out / "preds.jsonl"):
            typer.echo(line, err=True)
        summary: dict[str, object] = {"out": str(out), "instances": len(outcomes),
                                      "resolved": sum(o.status == "resolved" for o in outcomes),
                                      "errors": sum(o.status == "error" for o in outcomes)}
        if harness:
            summary["harness"] = _harness(out, tasks, workers, namespace, outcomes)
        typer.echo(json.dumps(summary))
        if summary["errors"]:
            raise typer.Exit(1)


def _actor(teacher: str | None, backend: str, model: str, base_url: str, max_turns: int,
           max_new_tokens: int) -> tuple[Actor, Callable[[], None], str]:
    from swe_dagger.dagger.eval.swebench import PolicyActor, TeacherActor

    if teacher is not None:
        from swe_dagger.teachers.factory import TeacherConfig, make_teacher

        t = make_teacher(TeacherConfig(name=teacher))
        return TeacherActor(t), t.close, f"teacher-{teacher}"
    from swe_dagger.agents.factory import StudentConfig, make_policy

    if not model:
        raise typer.BadParameter("give --model (a student) or --teacher NAME")
    try:
        student = StudentConfig(backend=backend, model=model, base_url=base_url, max_new_tokens=max_new_tokens,
                                rollout_dtype="auto")  # the checkpoint's own dtype
    except ValueError as exc:  # e.g. student.max_new_tokens must be >= 1
        raise typer.BadParameter(str(exc)) from None
    policy = make_policy(student)
    return PolicyActor(policy, student.sampling(), serial=backend == "hf"), policy.close, model


def _harness(out: Path, tasks: list[Task], workers: int, namespace: str,
             outcomes: list[InstanceOutcome]) -> dict[str, object]:
    """Grade preds.jsonl with swebench's harness and compare with our verdicts (written to harness.json)."""
    from swe_dagger.durable.files import atomic_write_json
    from swe_dagger.envs.swebench.harness import run_harness

    verdicts = run_harness(out / "preds.jsonl", tasks, out / "harness", max_workers=workers, namespace=namespace)
    ours = {o.instance_id: o.status == "resolved" for o in outcomes if o.status != "error"}
    disagree = sorted(i for i in ours if i in verdicts and verdicts[i] != ours[i])
    report = {"harness_resolved": sorted(i for i, r in verdicts.items() if r), "not_evaluated":
              sorted(set(ours) - set(verdicts)), "disagreements": disagree}
    atomic_write_json(out / "harness.json", report)
    return {"resolved": len(report["harness_resolved"]), "disagreements": disagree}


def register(app: typer.Typer) -> None:
    app.command("swebench-eval")(swebench_eval_command)
