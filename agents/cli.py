"""``swe-dagger student ...``: build a tiny local student (tokenizer + random-init Qwen3 model), offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True)


@app.callback()
def _student() -> None:
    """Student models."""


@app.command("init")
def init(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the model and tokenizer to.")],
    params: Annotated[str, typer.Option("--params", help="Parameter budget, e.g. 1M, 5M, 20M.")] = "5M",
    corpus: Annotated[
        list[Path] | None,
        typer.Option("--corpus", help="Extra tokenizer corpus: task JSONL/JSON files (their text fields) or text."),
    ] = None,
    vocab_size: Annotated[int, typer.Option("--vocab-size", help="BPE vocabulary size (upper bound).")] = 6000,
    seed: Annotated[int, typer.Option("--seed", help="Weight-init seed.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a non-empty DIR.")] = False,
) -> None:
    """Train a byte-level BPE tokenizer and build a small Qwen3 student in DIR (no hub access)."""
    from swe_dagger.agents.tiny_student import build_tiny_student, parse_param_count, read_corpus_files

    console = Console(stderr=True)
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise typer.BadParameter(f"{out_dir} is not empty (use --force to overwrite)", param_hint="DIR")
    try:
        budget = parse_param_count(params)
        texts = read_corpus_files(corpus or [])
    except (ValueError, FileNotFoundError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    with console.status(f"training tokenizer and building a {params} student"):
        path = build_tiny_student(out_dir, texts, params=budget, vocab_size=vocab_size, seed=seed)
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    typer.echo(
        f"wrote {path}: vocab {config.vocab_size}, hidden {config.hidden_size}, layers {config.num_hidden_layers}"
    )
