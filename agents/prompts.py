"""Prompt templates (Jinja2): the system prompt, the task wrapper and the elided-observation note.

Defaults live beside this module as ``default_*.j2`` (package data) and follow mini-swe-agent's protocol: a THOUGHT
and exactly one ```bash block per reply; submit with ``echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT``. A second,
``compact`` style (``compact_*.j2``) states the same protocol in ~70 tokens instead of ~300, for small students whose
attention has to reach from the reply back to the issue text (see :func:`style_templates`). Any template
can be overridden by a string in :class:`~swe_dagger.agents.agent.AgentConfig`. Rendering is strict: a template
that names an undefined variable is an error, not an empty string.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Literal, get_args

import jinja2

SUBMIT_MARKER = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
"""Same value as ``swe_dagger.envs.actions.SUBMIT_MARKER`` (kept here so agents don't import the env)."""

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


class TemplateError(ValueError):
    """A prompt template failed to compile or render; the message names the template."""


PromptStyle = Literal["default", "compact"]
PROMPT_STYLES: tuple[str, ...] = get_args(PromptStyle)
"""Packaged prompt styles: ``default`` (full rules, ~300 tokens) and ``compact`` (the same protocol, ~70 tokens)."""


def packaged_template(style: str, name: str) -> str:
    """The text of the packaged template ``<style>_<name>.j2`` (``name``: ``system``, ``task`` or ``elided``)."""
    try:
        return resources.files("swe_dagger.agents").joinpath(f"{style}_{name}.j2").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise TemplateError(f"no packaged template {style}_{name}.j2 (styles: {', '.join(PROMPT_STYLES)}; "
                            "names: system, task, elided)") from exc


def default_template(name: str) -> str:
    """The text of the packaged template ``default_<name>.j2`` (``system``, ``task`` or ``elided``)."""
    return packaged_template("default", name)


def style_templates(style: str) -> tuple[str, str]:
    """``(system_template, task_template)`` of a packaged prompt style (both styles share the elided note)."""
    if style not in PROMPT_STYLES:
        raise TemplateError(f"unknown prompt style {style!r}; available: {', '.join(PROMPT_STYLES)}")
    return packaged_template(style, "system"), packaged_template(style, "task")


DEFAULT_SYSTEM_TEMPLATE = default_template("system")
DEFAULT_TASK_TEMPLATE = default_template("task")
DEFAULT_ELIDED_TEMPLATE = default_template("elided")


@lru_cache(maxsize=64)
def _compile(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


def render_template(source: str, what: str, **variables: object) -> str:
    """Render ``source`` with ``variables`` (plus ``submit_marker``); ``what`` names it in errors."""
    try:
        return _compile(source).render(submit_marker=SUBMIT_MARKER, **variables).strip("\n")
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{what} template: {exc}") from exc
