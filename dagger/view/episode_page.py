"""One episode as HTML: every turn with its author, the teacher's label beside each student action and a diff of
the two, the observation (collapsible, long output elided), and the final workspace diff and test verdict.

Everything taken from a record passes through ``esc`` (the agent's output is untrusted)."""

from __future__ import annotations

import difflib
import html

from swe_dagger.dagger.records import Turn
from swe_dagger.dagger.view.load import EpisodeView

ELIDE_AT = 4000
"""Observations longer than this many characters show their head and tail and say how much was left out."""
_KEEP = 1500


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def elided(text: str, limit: int = ELIDE_AT) -> str:
    """``text`` escaped; past ``limit`` characters only the first and last ``_KEEP`` with the elided count between."""
    if len(text) <= limit:
        return esc(text)
    cut = len(text) - 2 * _KEEP
    return (f"{esc(text[:_KEEP])}<span class=\"elided\">\n… {cut:,} characters elided …\n</span>"
            f"{esc(text[-_KEEP:])}")


def action_text(text: str) -> str:
    """An action escaped; a whitespace-only one (a common untrained-student reply) says so instead of showing blanks."""
    if text.strip():
        return esc(text)
    return f"<span class=\"elided\">(only whitespace: {len(text)} characters, {esc(repr(text[:12]))}…)</span>"


def diff_block(lines: list[str]) -> str:
    """Unified-diff lines as a ``<pre class="diff">`` with added/removed/hunk lines marked."""
    out = []
    for line in lines:
        cls = ("hunk" if line.startswith("@@") else "add" if line.startswith("+") and not line.startswith("+++")
               else "del" if line.startswith("-") and not line.startswith("---") else "")
        out.append(f"<span class=\"{cls}\">{esc(line)}</span>" if cls else esc(line) + "\n")
    return f"<pre class=\"diff\">{''.join(out)}</pre>"


def action_diff(student: str, teacher: str) -> list[str]:
    """``difflib`` unified diff from the student's action to the teacher's label (no header lines)."""
    lines = difflib.unified_diff(student.strip().splitlines(), teacher.strip().splitlines(), "student", "teacher",
                                 lineterm="", n=2)
    return [line for line in lines if not line.startswith(("---", "+++"))]


def _turn(turn: Turn) -> str:
    badges = []
    if turn.format_error:
        badges.append("<span class=\"badge bad\">format error</span>")
    if turn.model_version:
        badges.append(f"<span class=\"badge\">model {esc(turn.model_version)}</span>")
    if turn.author == "student" and turn.teacher_label is not None:
        same = turn.teacher_label.strip() == turn.action.strip()
        badges.append("<span class=\"badge ok\">agrees with teacher</span>" if same
                      else "<span class=\"badge bad\">differs from teacher</span>")
    head = (f"<header><span class=\"who\">{esc(turn.author)}</span><b>turn {turn.index}</b>{''.join(badges)}"
            "</header>")
    if turn.author == "student" and turn.teacher_label is not None:
        body = (f"<div class=\"pair\"><div><h3>student action</h3>"
                f"<pre class=\"action\">{action_text(turn.action)}</pre></div>"
                f"<div><h3>teacher label</h3><pre class=\"label\">{esc(turn.teacher_label)}</pre></div></div>")
        if turn.teacher_label.strip() != turn.action.strip():
            body += f"<h3>student → teacher</h3>{diff_block(action_diff(turn.action, turn.teacher_label))}"
    else:
        note = "" if turn.author == "teacher" else " (not labeled)"
        body = f"<h3>action{note}</h3><pre class=\"action\">{action_text(turn.action)}</pre>"
    obs = (f"<details class=\"obs\"><summary>observation ({len(turn.observation):,} chars)</summary>"
           f"<pre>{elided(turn.observation)}</pre></details>")
    return (f"<section class=\"turn {esc(turn.author)}\" id=\"turn-{turn.index}\" "
            f"data-author=\"{esc(turn.author)}\">{head}{body}{obs}</section>")


def _meta(ep: EpisodeView) -> str:
    t = ep.traj
    versions = sorted({turn.model_version for turn in t.turns if turn.model_version})
    items = [("split", ep.split), ("iteration", t.iteration), ("episode", t.episode), ("β", f"{t.beta:.3f}"),
             ("seed", t.seed), ("reward", t.reward), ("resolution", t.resolution or "—"),
             ("status", ep.status), ("ended", "submitted" if t.terminated else "truncated" if t.truncated else "—"),
             ("turns", len(t.turns)), ("teacher calls", t.teacher_calls),
             ("model", ", ".join(versions) or "—"),
             ("format errors", sum(turn.format_error for turn in t.turns)),
             ("tampered paths", len(t.tampered) or None)]
    items += [(k, f"{v:.1f}") for k, v in sorted(t.timings.items())]
    cells = "".join(f"<span>{esc(k)} <b>{esc(v)}</b></span>" for k, v in items if v is not None)
    return f"<div class=\"meta\">{cells}</div><div class=\"meta\"><span>source <b>{esc(ep.source)}</b></span></div>"


def _verdict(ep: EpisodeView) -> str:
    t = ep.traj
    parts = ["<h2>Final workspace diff and test verdict</h2>"]
    error = ep.outcome_error or t.error
    if error:
        parts.append(f"<p><span class=\"badge bad\">error</span> <span class=\"error\">{esc(error)}</span></p>")
    ok = t.resolution == "FULL"
    verdict = t.resolution or ("not graded" if not t.terminated else "—")
    parts.append(f"<p class=\"verdict\">tests: <span class=\"badge {'ok' if ok else 'bad'}\">{esc(verdict)}</span>"
                 f" reward {esc(t.reward)}</p>")
    if t.tampered:
        items = "".join(f"<li><code>{esc(path)}</code></li>" for path in t.tampered)
        parts.append(f"<p class=\"tampered\"><span class=\"badge bad\">tampered</span> the agent touched "
                     f"{len(t.tampered)} protected paths (tests, conftest.py, pytest config, ...); their changes were "
                     f"dropped before grading:</p><ul class=\"tampered\">{items}</ul>")
    if t.failed_tests:
        items = "".join(f"<li><code>{esc(name)}</code></li>" for name in t.failed_tests)
        parts.append(f"<p>failing tests ({len(t.failed_tests)}):</p><ul class=\"failed\">{items}</ul>")
    if t.patch is None:
        parts.append("<p class=\"elided\">the final diff was not recorded (a run from before it was).</p>")
    elif not t.patch.strip():
        parts.append("<p class=\"elided\">the workspace was unchanged (empty diff).</p>")
    else:
        parts.append(diff_block(t.patch.splitlines()))
    return "".join(parts)


def episode_body(ep: EpisodeView) -> str:
    """The ``<body>`` markup of one episode's page."""
    t = ep.traj
    prefix = "".join(f"<h3>{esc(m.role)}</h3><pre>{elided(m.content)}</pre>" for m in t.prefix)
    turns = "".join(_turn(turn) for turn in t.turns)
    return (f"<p><a href=\"index.html\">← all episodes</a></p><h1>{esc(t.task_id)}</h1>{_meta(ep)}"
            f"<details><summary>prompt ({len(t.prefix)} messages)</summary>{prefix}</details>"
            f"<h2>Turns (<span id=\"turn-count\">{len(t.turns)}</span>)</h2>{turns}{_verdict(ep)}")
