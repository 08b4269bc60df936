"""Conversation building: templates, verbatim observations, deterministic elision within a token budget."""

from __future__ import annotations

import pytest

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.prompts import SUBMIT_MARKER, TemplateError
from swe_dagger.agents.protocol import Completion, Conversation, Message, SamplingParams


def words(text: str) -> int:
    return len(text.split())


def test_initial_messages_wrap_the_task_and_state_the_protocol() -> None:
    prefix = Agent().initial_messages("Fix the off-by-one in parse_version.")
    assert [m.role for m in prefix] == ["system", "user"]
    assert "```bash" in prefix[0].content and f"echo {SUBMIT_MARKER}" in prefix[0].content
    assert "Fix the off-by-one in parse_version." in prefix[1].content
    assert "{{" not in prefix[0].content + prefix[1].content


def test_compact_style_states_the_same_protocol_in_far_fewer_words() -> None:
    compact = Agent(AgentConfig.for_style("compact")).initial_messages("ISSUE TEXT")
    default = Agent(AgentConfig.for_style("default")).initial_messages("ISSUE TEXT")
    assert default == Agent().initial_messages("ISSUE TEXT")
    assert "```bash" in compact[0].content and f"echo {SUBMIT_MARKER}" in compact[0].content
    assert "THOUGHT" in compact[0].content and compact[1].content == "ISSUE TEXT"
    words = [sum(len(m.content.split()) for m in c) for c in (compact, default)]
    assert words[0] * 2 < words[1], words
    with pytest.raises(TemplateError, match="unknown prompt style 'tiny'; available: default, compact"):
        AgentConfig.for_style("tiny")


def test_templates_are_overridable_and_strict() -> None:
    agent = Agent(AgentConfig(system_template="SYS {{ submit_marker }}", task_template="T: {{ task }}"))
    assert agent.initial_messages("x") == (Message("system", f"SYS {SUBMIT_MARKER}"), Message("user", "T: x"))
    with pytest.raises(TemplateError, match="task template"):
        Agent(AgentConfig(task_template="{{ no_such_variable }}")).initial_messages("x")


def test_render_uses_observations_verbatim_when_under_budget() -> None:
    agent = Agent()
    prefix = agent.initial_messages("task")
    history = [("a1", "<returncode>0</returncode>\n<output>\nx\n</output>"), ("a2", "o2")]
    conv = agent.render(prefix, history, words)
    assert conv[:2] == prefix
    assert [m.role for m in conv[2:]] == ["assistant", "user", "assistant", "user"]
    assert conv[3].content == history[0][1] and conv[5].content == "o2"


def test_elision_drops_oldest_observations_first_never_task_or_last() -> None:
    agent = Agent(AgentConfig(max_prompt_tokens=400, message_overhead_tokens=0))
    prefix = agent.initial_messages("the task text")
    big = " ".join(["word"] * 100)
    history = [(f"action {i}", f"obs{i} {big}") for i in range(5)]
    conv = agent.render(prefix, history, words)
    observations = [m.content for m in conv[3::2]]
    assert agent.count(conv, words) <= 400
    assert observations[-1] == history[-1][1]
    elided = [not o.startswith("obs") for o in observations]
    assert elided[0] and elided == sorted(elided, reverse=True), "oldest observations go first"
    assert "removed" in observations[0]
    assert conv[:2] == prefix and [m.content for m in conv[2::2]] == [a for a, _ in history]
    assert agent.render(prefix, history, words) == conv, "rendering is deterministic"


def test_elision_keeps_an_old_observation_shorter_than_its_note() -> None:
    agent = Agent(AgentConfig(max_prompt_tokens=300, message_overhead_tokens=0))
    big = " ".join(["word"] * 100)
    history = [("grep", "12:def f("), ("run", f"obs {big}"), ("view", f"last {big}")]
    conv = agent.render(agent.initial_messages("t"), history, words)
    observations = [m.content for m in conv[3::2]]
    assert observations[0] == "12:def f(", "eliding a hit shorter than the note would cost tokens and lose it"
    assert not observations[1].startswith("obs") and observations[2] == history[2][1]


def test_over_budget_even_after_eliding_keeps_the_last_observation() -> None:
    agent = Agent(AgentConfig(max_prompt_tokens=10))
    prefix = agent.initial_messages("t")
    conv = agent.render(prefix, [("a", "x " * 50), ("b", "y " * 50)], words)
    assert conv[-1].content == "y " * 50 and conv[3].content != "x " * 50


def test_keep_last_observations_elides_regardless_of_budget() -> None:
    agent = Agent(AgentConfig(keep_last_observations=2))
    history = [(f"a{i}", f"o{i}") for i in range(4)]
    conv = agent.render(agent.initial_messages("t"), history)
    assert [m.content for m in conv[3::2]][2:] == ["o2", "o3"]
    assert all("removed" in m.content for m in conv[3:7:2])


def test_bad_config_and_history_are_named() -> None:
    with pytest.raises(ValueError, match="max_prompt_tokens"):
        AgentConfig(max_prompt_tokens=0)
    with pytest.raises(ValueError, match="keep_last_observations"):
        AgentConfig(keep_last_observations=0)
    with pytest.raises(TypeError, match=r"history\[1\]"):
        Agent().render((), [("a", "o"), ("only-one",)])  # type: ignore[list-item]


class EchoPolicy:
    """A stand-in for policy decisions: replies with the number of messages it saw."""

    def generate(self, conversations: list[Conversation], sampling: SamplingParams) -> list[Completion]:
        return [Completion(text=str(len(c))) for c in conversations]

    def close(self) -> None:
        pass


def test_next_replies_batches_rendered_states() -> None:
    agent = Agent()
    prefix = agent.initial_messages("t")
    replies = agent.next_replies(EchoPolicy(), [(prefix, []), (prefix, [("a", "o")])], SamplingParams())
    assert [r.text for r in replies] == ["2", "4"]


def test_agent_and_env_agree_on_the_submit_marker() -> None:
    from swe_dagger.envs.actions import SUBMIT_MARKER as ENV_SUBMIT_MARKER

    assert SUBMIT_MARKER == ENV_SUBMIT_MARKER
