"""The index of a site: one row per episode (iteration, split, task, author mix, reward, resolution with a
``tampered`` marker when the agent touched protected paths, turns), with a text filter, split/resolution selects and
sortable columns (plain JS in ``assets.SCRIPT``)."""

from __future__ import annotations

from collections.abc import Sequence

from swe_dagger.dagger.view.episode_page import esc
from swe_dagger.dagger.view.load import EpisodeView

_COLUMNS = [("episode", "text"), ("split", "text"), ("iter", "num"), ("ep", "num"), ("task", "text"),
            ("β", "num"), ("author mix", "num"), ("agree", "num"), ("reward", "num"), ("resolution", "text"),
            ("turns", "num")]


def _mix(ep: EpisodeView) -> tuple[str, float]:
    turns = ep.traj.turns
    students = sum(t.author == "student" for t in turns)
    share = students / len(turns) if turns else 0.0
    bar = (f"<span class=\"mix\" title=\"{students} student / {len(turns) - students} teacher\">"
           f"<span class=\"s\" style=\"width:{100 * share:.0f}%\"></span>"
           f"<span class=\"t\" style=\"width:{100 * (1 - share):.0f}%\"></span></span> "
           f"{students}S/{len(turns) - students}T")
    return bar, share


def _agreement(ep: EpisodeView) -> tuple[str, float]:
    labeled = [t for t in ep.traj.turns if t.author == "student" and t.teacher_label is not None]
    if not labeled:
        return "—", -1.0
    same = sum(t.action.strip() == (t.teacher_label or "").strip() for t in labeled)
    return f"{same}/{len(labeled)}", same / len(labeled)


def _row(ep: EpisodeView) -> str:
    t = ep.traj
    mix, share = _mix(ep)
    agree, rate = _agreement(ep)
    resolution = ep.status or t.resolution or ("error" if t.error else "none")
    marker = (f" <span class=\"badge bad\" title=\"protected paths touched (dropped before grading): "
              f"{esc(', '.join(t.tampered))}\">tampered</span>" if t.tampered else "")
    cells = [
        (f"<a href=\"{esc(ep.key)}.html\">{esc(ep.key)}</a>", ep.key), (esc(ep.split), ep.split),
        (esc(t.iteration), t.iteration), (esc(t.episode), t.episode), (esc(t.task_id), t.task_id),
        (f"{t.beta:.3f}", t.beta), (mix, share), (agree, rate), (esc(t.reward), t.reward),
        (esc(resolution) + marker, resolution), (esc(len(t.turns)), len(t.turns)),
    ]
    tds = "".join(f"<td data-v=\"{esc(v)}\">{shown}</td>" for shown, v in cells)
    tampered = f" data-tampered=\"{len(t.tampered)}\"" if t.tampered else ""
    return f"<tr data-split=\"{esc(ep.split)}\" data-res=\"{esc(resolution)}\"{tampered}>{tds}</tr>"


def _options(element_id: str, label: str, values: Sequence[str]) -> str:
    opts = "".join(f"<option value=\"{esc(v)}\">{esc(v)}</option>" for v in values)
    return f"<label>{label} <select id=\"{element_id}\"><option value=\"\">all</option>{opts}</select></label>"


def index_body(title: str, episodes: Sequence[EpisodeView], config_text: str | None) -> str:
    """The ``<body>`` markup of the index page."""
    splits = sorted({ep.split for ep in episodes})
    resolutions = sorted({ep.status or ep.traj.resolution or ("error" if ep.traj.error else "none")
                          for ep in episodes})
    resolved = sum(ep.traj.resolution == "FULL" for ep in episodes)
    head = "".join(f"<th data-type=\"{kind}\">{esc(name)}</th>" for name, kind in _COLUMNS)
    rows = "".join(_row(ep) for ep in episodes)
    config = (f"<details><summary>config.yaml</summary><pre>{esc(config_text)}</pre></details>"
              if config_text is not None else "")
    return (
        f"<h1>{esc(title)}</h1><div class=\"meta\"><span>episodes <b>{len(episodes)}</b></span>"
        f"<span>resolved <b>{resolved}</b></span><span>tampered <b>{sum(bool(e.traj.tampered) for e in episodes)}</b>"
        f"</span><span>turns <b>{sum(len(e.traj.turns) for e in episodes)}</b></span>"
        f"<span><span class=\"who student\">student</span> / <span class=\"who teacher\">teacher</span></span></div>"
        f"{config}<div class=\"controls\"><input id=\"q\" type=\"search\" placeholder=\"filter (any text in a row)\">"
        f"{_options('split', 'split', splits)}{_options('res', 'resolution', resolutions)}"
        f"<span>shown <b id=\"shown\">{len(episodes)}</b></span></div>"
        f"<table id=\"episodes\"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    )
