"""Build a tiny, randomly initialised Qwen3-architecture student and its tokenizer, fully offline.

Why: DAgger needs *a* student to run end to end on a laptop without a model hub. The tokenizer is a byte-level
BPE trained on a corpus (a built-in one of shell commands, Python and diffs plus any task texts given), with a
ChatML chat template; the model is a small Qwen3 causal LM sized to a parameter budget. Both are written with
``save_pretrained`` so ``AutoTokenizer``/``AutoModelForCausalLM.from_pretrained`` and ``transformers serve`` load them.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

PAD_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (PAD_TOKEN, IM_START, IM_END)

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['content'] is string -%}{%- set content = message['content'] -%}"
    "{%- else -%}{%- set content = message['content'] | map(attribute='text') | join('') -%}{%- endif -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ content + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + content + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)
"""ChatML; assistant content sits in ``{% generation %}`` so ``return_assistant_tokens_mask`` works for SFT."""

_STDLIB_CORPUS_MODULES = (
    "argparse", "difflib", "shlex", "textwrap", "pathlib", "dataclasses", "subprocess", "unittest.case",
    "json.decoder", "configparser", "string", "fnmatch", "glob", "shutil", "tempfile", "csv", "functools",
)
_TASK_TEXT_FIELDS = ("problem_statement", "patch", "test_patch", "hints_text")


@dataclass(frozen=True)
class TinyStudentShape:
    """The architecture knobs of a tiny Qwen3 student."""

    hidden_size: int
    num_layers: int
    intermediate_size: int
    num_heads: int = 4
    num_kv_heads: int = 2

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


def parse_param_count(text: str | int) -> int:
    """``"5M"`` / ``"500k"`` / ``"1.5m"`` / ``"2000000"`` -> an integer parameter count."""
    if isinstance(text, int):
        value = float(text)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMbB]?)\s*", text)
        if match is None:
            raise ValueError(f"not a parameter count: {text!r} (expected e.g. '5M', '800k', '1200000')")
        scale = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9}[match.group(2).lower()]
        value = float(match.group(1)) * scale
    if value < 1e4:
        raise ValueError(f"parameter budget {text!r} is too small (need at least 10k)")
    return int(value)


def count_parameters(shape: TinyStudentShape, vocab_size: int) -> int:
    """Exact parameter count of a tied-embedding Qwen3 model with this shape (no biases)."""
    h, hd = shape.hidden_size, shape.head_dim
    attention = h * shape.num_heads * hd * 2 + h * shape.num_kv_heads * hd * 2 + 2 * hd
    mlp = 3 * h * shape.intermediate_size
    per_layer = attention + mlp + 2 * h
    return vocab_size * h + shape.num_layers * per_layer + h


def shape_for_budget(params: int, vocab_size: int) -> TinyStudentShape:
    """The shape whose size is closest to ``params``, preferring ~4 layers, hidden sizes divisible by 32."""
    best: tuple[float, TinyStudentShape] | None = None
    for hidden in range(32, 2049, 32):
        for layers in range(2, 13):
            intermediate = max(32, round(hidden * 8 / 3 / 32) * 32)
            shape = TinyStudentShape(hidden, layers, intermediate)
            error = abs(count_parameters(shape, vocab_size) - params) / params
            error += 0.03 * abs(layers - 4)  # prefer ~4 layers: deep enough to learn, fast on CPU
            if best is None or error < best[0]:
                best = (error, shape)
    assert best is not None
    return best[1]


def builtin_corpus() -> list[str]:
    """The built-in tokenizer corpus: agent replies, shell commands, diffs, the default prompts, and the source of
    a fixed list of standard-library modules (real Python, available offline; the agent replies are repeated so
    their idioms get merges of their own)."""
    package = resources.files("swe_dagger.agents")
    texts = [package.joinpath(name).read_text(encoding="utf-8") for name in
             ("default_system.j2", "default_task.j2", "default_elided.j2")]
    texts += [package.joinpath("tiny_corpus.txt").read_text(encoding="utf-8")] * 20
    for name in _STDLIB_CORPUS_MODULES:
        texts.append(inspect.getsource(importlib.import_module(name)))
    return texts


def read_corpus_files(paths: Iterable[Path]) -> list[str]:
    """Texts from corpus files: task JSONL/JSON rows contribute their text fields, anything else its raw text."""
    texts: list[str] = []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"corpus file not found: {path}")
        raw = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".jsonl":
            for number, line in enumerate(raw.splitlines(), start=1):
                if line.strip():
                    texts.extend(_row_texts(_json_row(line, path, number), path, number))
        elif path.suffix == ".json":
            data = json.loads(raw)
            rows = data if isinstance(data, list) else [data]
            for number, row in enumerate(rows, start=1):
                texts.extend(_row_texts(row, path, number))
        else:
            texts.append(raw)
    return texts


def _json_row(line: str, path: Path, number: int) -> object:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: row {number} is not valid JSON: {exc}") from exc


def _row_texts(row: object, path: Path, number: int) -> list[str]:
    if not isinstance(row, dict):
        raise ValueError(f"{path}: row {number} is not a JSON object")
    return [str(row[key]) for key in _TASK_TEXT_FIELDS if isinstance(row.get(key), str) and row[key]]


def train_tokenizer(texts: Sequence[str], vocab_size: int = 6000) -> PreTrainedTokenizerFast:
    """Byte-level BPE with the ChatML special tokens and chat template. Deterministic for the same texts."""
    if vocab_size < 300:
        raise ValueError(f"vocab_size {vocab_size} is too small for byte-level BPE (need >= 300)")
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(list(texts), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token=IM_END, pad_token=PAD_TOKEN, padding_side="left",
        model_max_length=32768,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_student(
    out_dir: str | Path,
    corpus_texts: Sequence[str] = (),
    *,
    params: int | str = "5M",
    vocab_size: int = 6000,
    seed: int = 0,
    max_position_embeddings: int = 32768,
) -> Path:
    """Train the tokenizer on built-in corpus + ``corpus_texts``, build the model, save both to ``out_dir``.

    Deterministic under ``seed`` for the same corpus. Returns ``out_dir`` as a :class:`Path`.
    """
    out = Path(out_dir)
    tokenizer = train_tokenizer([*builtin_corpus(), *corpus_texts], vocab_size=vocab_size)
    actual_vocab = len(tokenizer)
    eos_id, pad_id = tokenizer.convert_tokens_to_ids(IM_END), tokenizer.convert_tokens_to_ids(PAD_TOKEN)
    if not (isinstance(eos_id, int) and isinstance(pad_id, int)):
        raise RuntimeError(f"tokenizer lost its special tokens (eos={eos_id!r}, pad={pad_id!r})")
    shape = shape_for_budget(parse_param_count(params), actual_vocab)
    config = Qwen3Config(
        vocab_size=actual_vocab,
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads,
        head_dim=shape.head_dim,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id, bos_token_id=None
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
