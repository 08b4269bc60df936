"""SDPA for packed micro-batches with branches: the trunk rows causally, only the rest under the 4D mask.

Why: under a dense 4D mask SDPA computes every query × key pair, while its causal kernel skips the half above the
diagonal. A packed sequence is mostly trunk (the latest state's prompt and label, ~1000 tokens on the main job)
with short branches (an earlier state's last prompt token and label), so on CPU a micro-batch with branches cost
~1.4x the same tokens run causally, and the packed epoch lost much of what packing saves in tokens.

What is exact: let ``n`` be the shortest trunk in the micro-batch. Positions ``0 .. n-1`` of every row are trunk
tokens, and a trunk token attends to exactly the trunk tokens up to itself (the mask's trunk rows are causal), so
those query rows are SDPA's causal attention over keys ``0 .. n-1``. The remaining query rows (the rest of longer
trunks, the branches, the padding) keep their rows of the 4D mask over all keys. Same softmax over the same keys,
so the loss and gradients are those of the dense mask (tests/dagger/test_sft_pack.py).

Only while a packed micro-batch with branches runs under ``sdpa`` does the model's attention implementation read
:data:`NAME` (:func:`trunk_split`); every other forward, rollouts included, runs the model's own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

NAME = "swe_dagger_trunk_sdpa"


def trunk_sdpa(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    trunk_len: int | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """HF attention function: ``sdpa`` with query rows ``0 .. trunk_len-1`` causal over their own keys (see the
    module docstring); without ``trunk_len`` or a mask, plain ``sdpa``. Returns (B, L, heads, head_dim)."""
    if trunk_len is None or attention_mask is None or trunk_len >= query.shape[2]:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    n = trunk_len
    kwargs.pop("is_causal", None)
    head, _ = sdpa_attention_forward(module, query[:, :, :n], key[:, :, :n], value[:, :, :n], None, is_causal=True,
                                     **kwargs)
    rest, _ = sdpa_attention_forward(module, query[:, :, n:], key, value, attention_mask[:, :, n:, :],
                                     is_causal=False, **kwargs)
    return torch.cat([head, rest], dim=1), None


def register() -> None:
    """Make :data:`NAME` an attention implementation HF models can run (idempotent)."""
    if NAME not in AttentionInterface._global_mapping:
        AttentionInterface.register(NAME, trunk_sdpa)
    if NAME not in ALL_MASK_ATTENTION_FUNCTIONS._global_mapping:
        ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)  # a 4D mask passes through it unchanged


@contextmanager
def trunk_split(model: Any, trunk_lens: Sequence[int]) -> Iterator[dict[str, int]]:
    """Around one forward of a packed micro-batch with branches (``trunk_lens``: each row's trunk length): the extra
    model kwargs that split its attention, with the model switched to :data:`NAME` for that forward. A model that
    does not run ``sdpa`` (eager takes an additive mask, and others no 4D mask at all) gets ``{}``, unchanged."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "_attn_implementation", None) != "sdpa" or not trunk_lens:
        yield {}
        return
    register()
    config._attn_implementation = NAME
    try:
        yield {"trunk_len": min(trunk_lens)}
    finally:
        config._attn_implementation = "sdpa"
