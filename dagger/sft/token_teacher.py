"""Teachers that score given tokens (token-level distillation, ``dagger.loss: reverse_kl``): the student's own
replies, tokenized by the student's tokenizer, get the teacher's logprob per token.

Two sources, one protocol:

* :class:`HFTokenTeacher` — a model directory loaded in process; it also gives whole next-token distributions, so
  the trainer uses the exact full-vocabulary KL (:func:`~swe_dagger.dagger.kl_loss.full_reverse_kl`).
* :class:`ServedTokenTeacher` — an OpenAI-compatible ``/v1/completions`` server that returns vLLM's
  ``prompt_logprobs`` for a prompt of token ids (vLLM does; ``transformers serve`` 5.x rejects ``logprobs``/``echo``
  and has no ``prompt_logprobs``, which is reported as an error naming the server). Only the sampled tokens' logprobs
  come back, so the trainer uses the single-sample estimator (:func:`~swe_dagger.dagger.kl_loss.sampled_reverse_kl`).

Both need the student's tokenizer: :func:`check_same_tokenizer` refuses a teacher whose vocabulary differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx
import torch


class TokenizerMismatch(ValueError):
    """The teacher's tokenizer is not the student's: its logprobs would be of other tokens."""


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """sha256 (12 hex digits) of the vocabulary (token → id, added tokens included) and the eos token."""
    vocab = sorted(tokenizer.get_vocab().items())
    payload = json.dumps([vocab, tokenizer.eos_token], ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()[:12]


def check_same_tokenizer(student: Any, teacher: Any, teacher_name: str) -> None:
    """Raise :class:`TokenizerMismatch` (one line) unless both tokenizers have the same vocabulary and eos."""
    mine, theirs = tokenizer_fingerprint(student), tokenizer_fingerprint(teacher)
    if mine != theirs:
        raise TokenizerMismatch(
            f"dagger.loss reverse_kl needs a teacher with the student's tokenizer: {teacher_name} has "
            f"{len(teacher.get_vocab())} tokens (vocab hash {theirs}), the student {len(student.get_vocab())} "
            f"(vocab hash {mine})"
        )


@runtime_checkable
class TokenTeacher(Protocol):
    name: str

    def logprobs(self, sequences: Sequence[Sequence[int]], targets: Sequence[int]) -> list[tuple[float, ...]]:
        """For each token sequence, the teacher's logprob of each of its last ``targets[i]`` tokens given the
        tokens before it."""
        ...

    def close(self) -> None: ...


class HFTokenTeacher:
    """A causal LM loaded from ``model_dir`` (eval mode, no gradients) on ``device``."""

    def __init__(self, model_dir: str | Path, device: str | torch.device = "cpu") -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = str(model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(self.name)
        model: Any = AutoModelForCausalLM.from_pretrained(self.name, dtype=torch.float32)
        self.model: Any = model.to(device).eval()
        self.model.requires_grad_(False)

    def logits(self, batch: dict[str, torch.Tensor], keep: int) -> torch.Tensor:
        """Next-token logits of the last ``keep`` positions of a left-padded batch (``collate_left``'s)."""
        device = next(self.model.parameters()).device
        with torch.no_grad():
            out = self.model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                             position_ids=batch["position_ids"].to(device), logits_to_keep=keep).logits
        return out[:, -keep:]

    def logprobs(self, sequences: Sequence[Sequence[int]], targets: Sequence[int]) -> list[tuple[float, ...]]:
        out = []
        for ids, n in zip(sequences, targets, strict=True):
            batch = {"input_ids": torch.tensor([list(ids)]), "position_ids": torch.arange(len(ids)).unsqueeze(0),
                     "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
            logp = torch.log_softmax(self.logits(batch, n + 1)[0, :-1].float(), dim=-1)
            picked = logp.gather(-1, torch.tensor(list(ids[-n:])).unsqueeze(-1).to(logp.device)).squeeze(-1)
            out.append(tuple(float(x) for x in picked))
        return out

    def close(self) -> None:
        self.model = None


class ServedTokenTeacher:
    """``/v1/completions`` with ``prompt`` = the token ids, ``max_tokens`` 1 and ``prompt_logprobs`` 0 (vLLM)."""

    def __init__(self, base_url: str, model: str, *, timeout_s: float = 120.0) -> None:
        self.name = f"{model} at {base_url}"
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._client: httpx.Client | None = httpx.Client(timeout=timeout_s)

    def logprobs(self, sequences: Sequence[Sequence[int]], targets: Sequence[int]) -> list[tuple[float, ...]]:
        if self._client is None:
            raise RuntimeError(f"token teacher {self.name} is closed")
        out = []
        for ids, n in zip(sequences, targets, strict=True):
            body = {"model": self.model, "prompt": list(ids), "max_tokens": 1, "prompt_logprobs": 0}
            try:
                reply = self._client.post(f"{self.base_url}/completions", json=body)
            except httpx.HTTPError as exc:
                raise RuntimeError(f"token teacher {self.name}: {exc!r}") from None
            if reply.status_code != 200:
                raise RuntimeError(f"token teacher {self.name} refused prompt logprobs (HTTP {reply.status_code}: "
                                   f"{reply.text[:200]}); reverse_kl needs a server with vLLM's prompt_logprobs")
            out.append(parse_prompt_logprobs(reply.json(), list(ids), n, self.name))
        return out

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def parse_prompt_logprobs(reply: dict[str, Any], ids: list[int], n: int, where: str) -> tuple[float, ...]:
    """The logprobs of the last ``n`` of ``ids`` from a vLLM completion's ``choices[0].prompt_logprobs`` (one entry
    per prompt token, ``None`` for the first, each ``{str(token_id): {"logprob": ...}}``)."""
    try:
        entries = reply["choices"][0]["prompt_logprobs"]
    except (KeyError, IndexError, TypeError):
        raise RuntimeError(f"token teacher {where}: the reply has no choices[0].prompt_logprobs") from None
    if not isinstance(entries, list) or len(entries) != len(ids):
        got = len(entries) if isinstance(entries, list) else type(entries).__name__
        raise RuntimeError(f"token teacher {where}: {got} prompt logprobs for {len(ids)} prompt tokens")
    picked = []
    for pos in range(len(ids) - n, len(ids)):
        entry = entries[pos] or {}
        scored = entry.get(str(ids[pos]))
        if not isinstance(scored, dict) or "logprob" not in scored:
            raise RuntimeError(f"token teacher {where}: no logprob for token {ids[pos]} at prompt position {pos}")
        picked.append(float(scored["logprob"]))
    return tuple(picked)


def served_root(base_url: str, model: str, *, timeout_s: float = 30.0) -> str:
    """Where the tokenizer of ``model`` served at ``base_url`` loads from: the ``root`` that vLLM's ``/v1/models``
    gives for it (the directory or hub name it was started with; ``--served-model-name`` is only an alias), else
    ``model`` itself. A server that does not list ``model`` is an error naming the models it serves."""
    try:
        reply = httpx.get(f"{base_url.rstrip('/')}/models", timeout=timeout_s)
        reply.raise_for_status()
        entries = reply.json().get("data", [])
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        raise RuntimeError(f"token teacher {model} at {base_url}: cannot list its models ({exc!r})") from None
    roots = {e.get("id"): e.get("root") for e in entries if isinstance(e, dict)}
    if model not in roots:
        raise ValueError(f"dagger.kl_teacher_model={model}: the server at {base_url} serves {list(roots)}")
    root = roots[model]
    return root if isinstance(root, str) and root else model


def open_token_teacher(source: str, model: str | None, device: str | torch.device, student_tokenizer: Any) -> Any:
    """``source`` an ``http(s)://`` base URL (``model`` = the served model's name; its tokenizer loads from
    :func:`served_root`) or a model directory; refuses a teacher with another tokenizer."""
    from transformers import AutoTokenizer

    if source.startswith(("http://", "https://")):
        if not model:
            raise ValueError(f"dagger.kl_teacher_model: name the model served at {source}")
        check_same_tokenizer(student_tokenizer, AutoTokenizer.from_pretrained(served_root(source, model)), model)
        return ServedTokenTeacher(source, model)
    teacher = HFTokenTeacher(source, device)
    try:
        check_same_tokenizer(student_tokenizer, teacher.tokenizer, source)
    except TokenizerMismatch:
        teacher.close()
        raise
    return teacher
