"""The tiny student: trained tokenizer + sized Qwen3, loadable with the Auto classes, deterministic, CLI smoke."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from swe_dagger.agents.tiny_student import (
    IM_END,
    build_tiny_student,
    count_parameters,
    parse_param_count,
    read_corpus_files,
    shape_for_budget,
)


def test_it_loads_with_auto_classes_and_has_a_chat_template(tiny_student_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_student_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_student_dir)
    assert model.config.model_type == "qwen3" and model.config.tie_word_embeddings
    n_params = sum(p.numel() for p in model.parameters())
    assert 0.8 * 300_000 <= n_params <= 1.2 * 300_000
    assert len(tokenizer) == model.config.vocab_size == 1000
    assert tokenizer.eos_token == IM_END and model.generation_config.eos_token_id == tokenizer.eos_token_id
    messages = [{"role": "user", "content": "ls"}, {"role": "assistant", "content": "```bash\nls\n```"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert text == "<|im_start|>user\nls<|im_end|>\n<|im_start|>assistant\n```bash\nls\n```<|im_end|>\n"
    mask = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
    assert tokenizer.decode([t for t, m in zip(mask["input_ids"], mask["assistant_masks"], strict=True) if m]) == (
        "```bash\nls\n```<|im_end|>"
    )
    round_trip = "THOUGHT: fix it.\n\n```bash\nsed -i 's/a/b/' x.py && git diff\n```"
    assert tokenizer.decode(tokenizer(round_trip)["input_ids"]) == round_trip


def test_the_default_is_about_5m_params_and_sizes_follow_the_budget() -> None:
    for budget in ("1M", "5M", "20M"):
        shape = shape_for_budget(parse_param_count(budget), 6000)
        assert abs(count_parameters(shape, 6000) - parse_param_count(budget)) / parse_param_count(budget) < 0.1
        assert 2 <= shape.num_layers <= 6 and shape.hidden_size % shape.num_heads == 0
    assert parse_param_count("1.5m") == 1_500_000 and parse_param_count("800k") == 800_000
    with pytest.raises(ValueError, match="not a parameter count"):
        parse_param_count("lots")


def test_builds_are_deterministic_under_the_seed(tmp_path: Path) -> None:
    a = build_tiny_student(tmp_path / "a", ["extra corpus text"], params="100k", vocab_size=600, seed=1)
    b = build_tiny_student(tmp_path / "b", ["extra corpus text"], params="100k", vocab_size=600, seed=1)
    c = build_tiny_student(tmp_path / "c", ["extra corpus text"], params="100k", vocab_size=600, seed=2)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()


def test_corpus_files_bad_rows_are_named(tmp_path: Path) -> None:
    good = tmp_path / "tasks.jsonl"
    good.write_text('{"problem_statement": "the parser breaks", "patch": "diff --git a/x b/x"}\n\n')
    assert read_corpus_files([good]) == ["the parser breaks", "diff --git a/x b/x"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem_statement": "ok"}\n{not json\n')
    with pytest.raises(ValueError, match=r"bad.jsonl: row 2 is not valid JSON"):
        read_corpus_files([bad])
    with pytest.raises(FileNotFoundError, match=r"missing\.txt"):
        read_corpus_files([tmp_path / "missing.txt"])


@pytest.mark.slow
def test_cli_init_writes_a_loadable_student(tmp_path: Path) -> None:
    corpus = tmp_path / "notes.txt"
    corpus.write_text("grep -rn TODO src/ && python -m pytest -q\n" * 20)
    out = tmp_path / "student"
    run = subprocess.run(
        ["swe-dagger", "student", "init", str(out), "--params", "200k", "--vocab-size", "800", "--corpus", str(corpus)],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "vocab 800" in run.stdout
    assert AutoTokenizer.from_pretrained(out).chat_template
    wide = {**os.environ, "COLUMNS": "250"}  # rich wraps error boxes at the terminal width
    again = subprocess.run(["swe-dagger", "student", "init", str(out)], capture_output=True, text=True, timeout=300,
                           env=wide)
    assert again.returncode != 0 and "not empty" in again.stderr
