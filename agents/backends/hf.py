"""In-process Hugging Face transformers backend for the :class:`~swe_dagger.agents.protocol.Policy` seam.

It wraps the trainer's own model object, so new weights are used the moment the optimizer steps (no weight sync);
the trainer bumps :attr:`HFPolicy.model_version` so trajectories record which weights acted.

Logprobs: per generated token, ``log_softmax`` of the scores that ``generate`` sampled from, i.e. after temperature
and top-p. For greedy decoding (``temperature == 0``) there is no warping, so they are the temperature-1 logprobs of
the argmax tokens. The tokens after a stop string's completion are dropped; the stop string itself is cut from
``text`` but the token that completed it stays in ``token_ids`` (it was really sampled; RL needs its logprob). The EOS
token is likewise kept in ``token_ids`` and left out of ``text``.

Threads: on CPU, a small model generates latency-bound (one short matrix product per token), so intra-op threads
only add synchronisation, and on a loaded machine they spin against each other (about 10x slower with 2 threads than
1 under load). ``cpu_threads="auto"`` therefore generates with one thread for models under
:data:`SMALL_MODEL_PARAMS` and leaves torch's setting for bigger ones; the process-wide setting is restored after.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from swe_dagger.agents.protocol import Completion, Conversation, SamplingParams

SMALL_MODEL_PARAMS = 50_000_000
"""Below this many parameters ``cpu_threads="auto"`` generates with one thread."""


class HFPolicy:
    """Left-padded batched generation with a causal LM and its chat template."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        device: str | torch.device | None = None,
        model_version: str = "",
        max_batch_size: int = 16,
        cpu_threads: int | Literal["auto"] | None = "auto",
    ) -> None:
        """``cpu_threads``: torch intra-op threads while generating on CPU (``"auto"``: 1 for small models, else
        torch's setting; ``None``: torch's setting)."""
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError(f"tokenizer {type(tokenizer).__name__} has no chat_template; HFPolicy needs one")
        self.model = model
        self.tokenizer = tokenizer
        if device is not None:
            self.model.to(torch.device(device))  # type: ignore[arg-type]
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.model_version = model_version
        """Checkpoint id recorded on every completion; the trainer updates it after each optimizer step."""
        self.max_batch_size = max_batch_size
        self.cpu_threads = _resolve_threads(cpu_threads, model, self.device)
        """Threads used while generating (``None``: torch's process-wide setting, untouched)."""
        pad = self.tokenizer.pad_token_id
        self._pad_id: int = pad if pad is not None else self.tokenizer.eos_token_id
        self._eos_ids = _eos_ids(model, self.tokenizer)
        self._closed = False

    @classmethod
    def from_pretrained(
        cls,
        path_or_name: str | Path,
        *,
        device: str | None = None,
        dtype: str | torch.dtype = "auto",
        model_version: str | None = None,
        max_batch_size: int = 16,
        cpu_threads: int | Literal["auto"] | None = "auto",
    ) -> HFPolicy:
        """Load a local model directory (or a hub name, where the hub is reachable) and its tokenizer."""
        model = AutoModelForCausalLM.from_pretrained(str(path_or_name), dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(str(path_or_name))
        version = model_version if model_version is not None else str(path_or_name)
        return cls(
            model, tokenizer, device=device, model_version=version, max_batch_size=max_batch_size,
            cpu_threads=cpu_threads,
        )

    def prompt_token_ids(self, conversation: Conversation) -> list[int]:
        """The chat-templated prompt the model sees for ``conversation`` (ending in the assistant header)."""
        text = self.tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in conversation], tokenize=False, add_generation_prompt=True
        )
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_tokens(self, text: str) -> int:
        """Token count of ``text`` (for the agent's prompt budget)."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        if self._closed:
            raise RuntimeError("HFPolicy.generate called after close()")
        results: list[Completion] = []
        for start in range(0, len(conversations), self.max_batch_size):
            results.extend(self._generate_batch(conversations[start : start + self.max_batch_size], sampling))
        return results

    def close(self) -> None:
        """Marks the policy closed; the model object belongs to whoever passed it in, so it is left alone."""
        self._closed = True

    def __enter__(self) -> HFPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _generate_batch(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        prompts = [self.prompt_token_ids(c) for c in conversations]
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self._pad_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids) :] = 1
        config = self._generation_config(sampling)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad(), _threads(self.cpu_threads), torch.random.fork_rng(devices=_rng_devices(self.device)):
                if sampling.seed is not None:
                    torch.manual_seed(sampling.seed)
                out = self.model.generate(  # type: ignore[operator]
                    input_ids=input_ids.to(self.device),
                    attention_mask=attention.to(self.device),
                    generation_config=config,
                    tokenizer=self.tokenizer if sampling.stop else None,
                )
        finally:
            self.model.train(was_training)
        generated = out.sequences[:, width:].cpu()
        logprobs = torch.stack([torch.log_softmax(s.float(), dim=-1) for s in out.scores], dim=1).cpu()
        chosen = logprobs.gather(-1, generated[:, : logprobs.shape[1], None]).squeeze(-1)
        return [
            self._completion(generated[row].tolist(), chosen[row].tolist(), prompts[row], sampling)
            for row in range(len(prompts))
        ]

    def _completion(
        self, tokens: list[int], logprobs: list[float], prompt: list[int], sampling: SamplingParams
    ) -> Completion:
        end, finish = len(tokens), "length"
        for i, token in enumerate(tokens):
            if token in self._eos_ids:
                end, finish = i + 1, "stop"
                break
        text = self._decode(tokens[:end])
        if sampling.stop:
            cut = _first_stop(text, sampling.stop)
            if cut is not None:
                end = self._tokens_to_complete(tokens[:end], sampling.stop)
                text, finish = text[:cut], "stop"
        return Completion(
            text=text,
            token_ids=tuple(tokens[:end]),
            logprobs=tuple(logprobs[:end]),
            prompt_token_ids=tuple(prompt),
            finish_reason=finish,
            model_version=self.model_version,
        )

    def _decode(self, tokens: list[int]) -> str:
        return str(self.tokenizer.decode(tokens, skip_special_tokens=True))

    def _tokens_to_complete(self, tokens: list[int], stop: tuple[str, ...]) -> int:
        """The fewest leading tokens whose text contains a stop string (binary search; containment is monotone)."""
        low, high = 1, len(tokens)
        while low < high:
            mid = (low + high) // 2
            if _first_stop(self._decode(tokens[:mid]), stop) is None:
                low = mid + 1
            else:
                high = mid
        return low

    def _generation_config(self, sampling: SamplingParams) -> GenerationConfig:
        if sampling.max_new_tokens < 1:
            raise ValueError(f"SamplingParams.max_new_tokens must be >= 1, got {sampling.max_new_tokens}")
        sample = sampling.temperature > 0
        # When sampling, every warper is pinned so the model's own generation_config cannot change the distribution
        # we report; greedy decoding uses none of them (and transformers warns if they are set).
        warpers: dict[str, float | int] = (
            dict(top_k=0, min_p=0.0, typical_p=1.0, epsilon_cutoff=0.0, eta_cutoff=0.0) if sample else {}
        )
        return GenerationConfig(
            max_new_tokens=sampling.max_new_tokens,
            do_sample=sample,
            temperature=sampling.temperature if sample else 1.0,
            top_p=sampling.top_p if sample else 1.0,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            num_beams=1,
            **warpers,
            eos_token_id=sorted(self._eos_ids),
            pad_token_id=self._pad_id,
            stop_strings=list(sampling.stop) or None,
            output_scores=True,
            return_dict_in_generate=True,
        )


def _eos_ids(model: PreTrainedModel, tokenizer: object) -> frozenset[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config, tokenizer):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(v for v in value if isinstance(v, int))
    if not ids:
        raise ValueError("neither the model nor the tokenizer defines an eos_token_id; HFPolicy cannot stop replies")
    return frozenset(ids)


def _first_stop(text: str, stop: tuple[str, ...]) -> int | None:
    hits = [text.find(s) for s in stop if s and s in text]
    return min(hits) if hits else None


def _resolve_threads(
    setting: int | Literal["auto"] | None, model: PreTrainedModel, device: torch.device
) -> int | None:
    if setting is None or device.type != "cpu":
        return None
    if setting == "auto":
        return 1 if sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS else None
    if setting < 1:
        raise ValueError(f"HFPolicy cpu_threads must be >= 1, 'auto' or None, got {setting}")
    return setting


@contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads, then restore the previous count."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _rng_devices(device: torch.device) -> list[int]:
    return [device.index or 0] if device.type == "cuda" else []
