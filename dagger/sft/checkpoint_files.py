"""Is a directory a loadable student checkpoint? Checked from its files before any model code runs, so an empty
directory, a corrupt ``config.json`` or a truncated ``*.safetensors`` is one :class:`CheckpointError` naming the
file, not a traceback from deep inside transformers after the run or the evaluation has started.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_MAX_HEADER = 100 * 2**20
"""safetensors refuses headers above 100 MB; a larger length field means the file is not safetensors."""


class CheckpointError(ValueError):
    """A directory is not a loadable checkpoint; the message names the file and what is wrong with it."""


def check_checkpoint(path: Path) -> None:
    """Raise :class:`CheckpointError` unless ``path`` holds a config, a tokenizer and complete weights (a full HF
    model, or LoRA adapters whose base model is there)."""
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a checkpoint directory")
    adapters = path / "adapter_config.json"
    config = _json_object(adapters if adapters.is_file() else path / "config.json", path)
    if adapters.is_file():
        base = str(config.get("base_model_name_or_path") or "")
        if base.startswith(("/", ".", "~")) and not Path(base).expanduser().is_dir():
            raise CheckpointError(f"{adapters}: its base model {base} is missing")
    if not any((path / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
        raise CheckpointError(f"{path}: no tokenizer (tokenizer.json / tokenizer_config.json)")
    index = path / "model.safetensors.index.json"
    if index.is_file():
        weight_map = _json_object(index, path).get("weight_map")
        if not isinstance(weight_map, dict):
            raise CheckpointError(f"{index}: no weight_map")
        for name in sorted(set(weight_map.values())):
            if not (path / str(name)).is_file():
                raise CheckpointError(f"{index}: lists {name}, which is missing")
    shards = sorted(path.glob("*.safetensors"))
    if not shards and not any(path.glob("*.bin")):
        raise CheckpointError(f"{path}: no weights (*.safetensors or *.bin)")
    for shard in shards:
        check_safetensors(shard)


def check_safetensors(file: Path) -> None:
    """The file's header parses and its tensors end exactly at the end of the file (a cut-off copy does not)."""
    size = file.stat().st_size
    with file.open("rb") as fh:
        length = int.from_bytes(fh.read(8), "little") if size >= 8 else -1
        if not 0 < length <= min(size - 8, _MAX_HEADER):
            raise CheckpointError(f"{file}: truncated or not safetensors ({size} bytes, header length {length})")
        try:
            header = json.loads(fh.read(length))
            end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise CheckpointError(f"{file}: corrupt safetensors header ({exc})") from None
    if 8 + length + end != size:
        raise CheckpointError(f"{file}: truncated or corrupt: {size} bytes, but its header describes "
                              f"{8 + length + end}")


def _json_object(file: Path, checkpoint: Path) -> dict[str, Any]:
    if not file.is_file():
        raise CheckpointError(f"{checkpoint}: no {file.name}: not a checkpoint directory (the dir of a saved model, "
                              "e.g. <run>/checkpoints/iter_000)")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{file}: expected a JSON object, got {type(data).__name__}")
    return data
