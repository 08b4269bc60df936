"""The multi-turn agent: builds the conversation a policy sees, within a token budget.

A state is ``(prefix, history)``: the prefix is the system prompt and the task message (from
:meth:`Agent.initial_messages`), the history the ``(assistant action, env observation)`` pairs so far. Rendering is
a pure, deterministic function of the state, so the SFT trainer can re-render any recorded state exactly as the
policy saw it. Observations are the env's text, used verbatim; when the conversation is over budget the OLDEST
observations are replaced by a short note first. The system and task messages, every action, and the last
observation are never elided.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from swe_dagger.agents.prompts import (
    DEFAULT_ELIDED_TEMPLATE,
    DEFAULT_SYSTEM_TEMPLATE,
    DEFAULT_TASK_TEMPLATE,
    render_template,
    style_templates,
)
from swe_dagger.agents.protocol import Completion, Conversation, Message, Policy, SamplingParams

CountTokens = Callable[[str], int]
History = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class AgentConfig:
    """How the agent words its prompts and bounds the conversation."""

    system_template: str = DEFAULT_SYSTEM_TEMPLATE
    """Jinja2 source of the system prompt (variables: ``submit_marker``)."""
    task_template: str = DEFAULT_TASK_TEMPLATE
    """Jinja2 source of the first user message (variables: ``task`` = the reset observation, ``submit_marker``)."""
    elided_template: str = DEFAULT_ELIDED_TEMPLATE
    """Jinja2 source that replaces an elided observation (variables: ``chars`` = its length, ``submit_marker``)."""
    max_prompt_tokens: int | None = 8192
    """Token budget for the rendered conversation (needs a ``count_tokens``); ``None`` = unbounded."""
    keep_last_observations: int | None = None
    """If set, observations older than the last N are always elided, whatever the budget (N >= 1)."""
    message_overhead_tokens: int = 4
    """Tokens the chat template adds per message (role markers), counted against the budget."""

    @classmethod
    def for_style(cls, style: str, **fields: Any) -> AgentConfig:
        """This config with a packaged prompt style's system and task templates (``default`` or ``compact``)."""
        system, task = style_templates(style)
        return cls(system_template=system, task_template=task, **fields)

    def __post_init__(self) -> None:
        if self.max_prompt_tokens is not None and self.max_prompt_tokens <= 0:
            raise ValueError(f"AgentConfig.max_prompt_tokens must be positive or None, got {self.max_prompt_tokens}")
        if self.keep_last_observations is not None and self.keep_last_observations < 1:
            raise ValueError(
                f"AgentConfig.keep_last_observations must be >= 1 or None, got {self.keep_last_observations}"
            )


class Agent:
    """Turns episode states into conversations and asks a policy for the next replies."""

    def __init__(self, config: AgentConfig | None = None) -> None:
        self.config = config or AgentConfig()

    def initial_messages(self, task_observation: str) -> Conversation:
        """System prompt + the task message wrapping the env's reset observation."""
        system = render_template(self.config.system_template, "system")
        task = render_template(self.config.task_template, "task", task=task_observation)
        return (Message("system", system), Message("user", task))

    def render(self, prefix: Conversation, history: History, count_tokens: CountTokens | None = None) -> Conversation:
        """The conversation for state ``(prefix, history)``, ending with the last observation (a user message).

        With ``count_tokens`` and ``max_prompt_tokens`` set, old observations are elided (oldest first; only those
        longer than their elision note) until the conversation fits or nothing elidable is left; the result may then
        still exceed the budget (callers that must enforce a hard limit check :meth:`count` themselves).
        """
        observations = [_check_pair(pair, i)[1] for i, pair in enumerate(history)]
        elided = [False] * len(observations)
        last_kept = self.config.keep_last_observations
        if last_kept is not None:
            for i in range(max(0, len(observations) - last_kept)):
                elided[i] = True
        notes = [self._elided_note(obs) for obs in observations]
        budget = self.config.max_prompt_tokens
        if count_tokens is not None and budget is not None:
            total = self.count(prefix, count_tokens)
            sizes = [count_tokens(obs) for obs in observations]
            note_sizes = [count_tokens(note) for note in notes]
            for i, (action, _) in enumerate(history):
                total += count_tokens(action) + 2 * self.config.message_overhead_tokens
                total += note_sizes[i] if elided[i] else sizes[i]
            for i in range(len(observations) - 1):  # never the last observation
                if total <= budget:
                    break
                if not elided[i] and sizes[i] > note_sizes[i]:  # a short observation (a grep hit) costs less kept
                    elided[i] = True
                    total += note_sizes[i] - sizes[i]
        messages = list(prefix)
        for i, (action, observation) in enumerate(history):
            messages.append(Message("assistant", action))
            messages.append(Message("user", notes[i] if elided[i] else observation))
        return tuple(messages)

    def count(self, conversation: Conversation, count_tokens: CountTokens) -> int:
        """Approximate prompt size: content tokens plus the per-message overhead."""
        overhead = self.config.message_overhead_tokens
        return sum(count_tokens(m.content) + overhead for m in conversation)

    def next_replies(
        self,
        policy: Policy,
        states: Sequence[tuple[Conversation, History]],
        sampling: SamplingParams,
        count_tokens: CountTokens | None = None,
    ) -> list[Completion]:
        """Render every state and ask ``policy`` for all next replies in one batched call."""
        conversations = [self.render(prefix, history, count_tokens) for prefix, history in states]
        completions = policy.generate(conversations, sampling)
        if len(completions) != len(conversations):
            raise RuntimeError(
                f"policy {type(policy).__name__} returned {len(completions)} completions for {len(conversations)}"
                " conversations"
            )
        return completions

    def _elided_note(self, observation: str) -> str:
        return render_template(self.config.elided_template, "elided", chars=len(observation))


def _check_pair(pair: tuple[str, str], index: int) -> tuple[str, str]:
    if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str) and isinstance(pair[1], str)):
        raise TypeError(f"history[{index}] must be an (action: str, observation: str) pair, got {pair!r:.200}")
    return pair
