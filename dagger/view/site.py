"""Write the static viewer site: ``index.html`` and one ``<episode>.html`` per episode, nothing else."""

from __future__ import annotations

from pathlib import Path

from swe_dagger.dagger.view.assets import page
from swe_dagger.dagger.view.episode_page import episode_body
from swe_dagger.dagger.view.index_page import index_body
from swe_dagger.dagger.view.load import EpisodeView, load_episodes
from swe_dagger.durable.files import atomic_write_text


def default_out(source: Path) -> Path:
    """``RUN_DIR/view`` for a directory, ``FILE.view/`` beside a file."""
    return source / "view" if source.is_dir() else source.with_name(source.name + ".view")


def write_site(source: Path, out: Path | None = None) -> tuple[Path, list[EpisodeView]]:
    """Read every episode under ``source`` and write the site to ``out``; returns the index path and the episodes."""
    episodes = load_episodes(source)
    out = out or default_out(source)
    out.mkdir(parents=True, exist_ok=True)
    for ep in episodes:
        atomic_write_text(out / f"{ep.key}.html", page(f"{ep.traj.task_id} · {ep.key}", episode_body(ep)))
    config = source / "config.yaml"
    config_text = config.read_text(encoding="utf-8") if source.is_dir() and config.is_file() else None
    index = out / "index.html"
    atomic_write_text(index, page(f"swe-dagger: {source}", index_body(str(source), episodes, config_text)))
    return index, episodes
