"""The policy seam: anything that turns conversations into replies (HF in-process, vLLM, HTTP APIs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


Conversation = tuple[Message, ...]


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 256
    temperature: float = 0.0
    """0.0 means greedy."""
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Completion:
    """One generated reply. Token ids / logprobs are present when the backend can give them (RL needs them)."""

    text: str
    token_ids: tuple[int, ...] | None = None
    logprobs: tuple[float, ...] | None = None
    """Per generated token, under the sampling distribution of the engine that generated it."""
    prompt_token_ids: tuple[int, ...] | None = None
    finish_reason: str = "stop"
    """"stop" or "length"."""
    model_version: str = ""
    """Which weights produced it (checkpoint id); recorded in trajectories for weight-sync checks."""


@runtime_checkable
class Policy(Protocol):
    """Batched generation: one completion per conversation, in order."""

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]: ...

    def close(self) -> None: ...


@runtime_checkable
class WeightSyncable(Protocol):
    """A policy whose weights live outside the trainer (a vLLM server or engine) and must be refreshed.

    The training loop calls ``sync_weights`` after every update phase with the checkpoint it just saved
    (a plain HF model dir, or a LoRA adapter dir); afterwards every Completion carries ``model_version=version``.
    In-process policies that share the trainer's model object only need ``version`` bumped.
    """

    def sync_weights(self, checkpoint_dir: str, version: str) -> None: ...


class StateRenderer(Protocol):
    """The one renderer seam: task prefix + (action, observation) history → the conversation the policy sees.

    :class:`swe_dagger.agents.agent.Agent` is one; rollouts, SFT examples and GRPO batches render through it, so
    the student is trained on exactly the conversations it acts on.
    """

    def render(
        self,
        prefix: Conversation,
        history: Sequence[tuple[str, str]],
        count_tokens: Callable[[str], int] | None = None,
    ) -> Conversation: ...


class PolicyError(RuntimeError):
    """A policy backend failed (server unreachable after retries, malformed reply); the message names URL/status."""
