"""``swe-dagger export RUN_DIR --format trl --out FILE``: the run's aggregated labels in another tool's format.

``trl``: a conversational prompt/completion dataset (JSONL), the shape TRL's ``SFTTrainer`` trains on as is. Each
row is one labeled state: ``prompt`` = the conversation the student saw there, rendered exactly as the run's own SFT
renders it (``Agent.render`` with the run's prompt style and token budget, counted with the run's tokenizer),
``completion`` = the teacher's reply as one assistant message; provenance columns ride along (``iteration``,
``task_id``, ``episode``, ``turn``, ``author``, ``teacher_id``, ``teacher_model``, ``student_version``), which
``SFTTrainer`` drops before batching.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import typer

from swe_dagger.dagger.sft.dataset import LabelRow, aggregate, labels_path
from swe_dagger.durable.files import atomic_write_text

ExportFormat = Literal["trl"]
FORMATS: tuple[str, ...] = get_args(ExportFormat)


def labeled_iterations(run_dir: Path) -> list[int]:
    """Iterations whose label file exists, in order (a run's aggregate D_i is their union)."""
    found = sorted(int(p.stem.rsplit("_", 1)[1]) for p in (run_dir / "data").glob("labels_iter_*.jsonl"))
    if not found:
        raise FileNotFoundError(f"{run_dir}: no label files ({labels_path(run_dir, 0).parent}/labels_iter_*.jsonl)")
    return found


def _tokenizer_dir(run_dir: Path) -> Path | None:
    """The run's latest checkpoint, else its initial student: the tokenizer its SFT counted prompt tokens with."""
    checkpoints = sorted((run_dir / "checkpoints").glob("iter_*"))
    for candidate in [*reversed(checkpoints), run_dir / "student_init"]:
        if (candidate / "tokenizer_config.json").is_file():
            return candidate
    return None


def _counter(run_dir: Path) -> Callable[[str], int] | None:
    from swe_dagger.dagger.sft.examples import token_counter

    where = _tokenizer_dir(run_dir)
    if where is None:
        return None
    from transformers import AutoTokenizer

    return token_counter(AutoTokenizer.from_pretrained(str(where)))


def trl_row(row: LabelRow, conversation: Any) -> dict[str, Any]:
    return {
        "prompt": [{"role": m.role, "content": m.content} for m in conversation],
        "completion": [{"role": "assistant", "content": row.label}],
        "iteration": row.iteration, "task_id": row.task_id, "episode": row.episode, "turn": row.turn,
        "author": row.author, "teacher_id": row.teacher_id, "teacher_model": row.teacher_model,
        "student_version": row.student_version,
    }


def export_trl(run_dir: Path, out: Path) -> int:
    """Write the run's aggregated labels to ``out`` (JSONL) as TRL prompt/completion rows; returns the row count."""
    from swe_dagger.agents.agent import Agent, AgentConfig
    from swe_dagger.dagger.config import load_resolved

    cfg = load_resolved(run_dir)
    agent = Agent(AgentConfig.for_style(cfg.student.prompt, max_prompt_tokens=cfg.student.max_prompt_tokens))
    count = _counter(run_dir)
    rows = aggregate(run_dir, labeled_iterations(run_dir))
    lines = [json.dumps(trl_row(r, agent.render(r.prefix, r.history, count)), ensure_ascii=False) + "\n"
             for r in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "".join(lines))
    return len(lines)


def export_command(
    run_dir: Annotated[Path, typer.Argument(help="A training run directory.")],
    out: Annotated[Path, typer.Option("--out", help="The file to write (JSONL).")],
    fmt: Annotated[ExportFormat, typer.Option(
        "--format", help="Output format: trl (prompt/completion chat rows).")] = "trl",
) -> None:
    """Export the run's aggregated teacher labels as a dataset for other trainers."""
    from swe_dagger.dagger.config import ConfigError
    from swe_dagger.dagger.rollout.serialize import RecordFormatError

    try:
        n = export_trl(run_dir, out)
    except (FileNotFoundError, ConfigError, RecordFormatError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{n} rows → {out}")


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
