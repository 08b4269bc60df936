"""Where local mode gets an upstream repository: a URL template, or a folder of git mirrors.

``--repo-mirror`` takes either

- a folder holding one git repository per upstream repo, named ``owner/name``, ``owner+name`` or ``owner__name``,
  each with or without ``.git`` (bare mirrors from ``git clone --mirror`` or ordinary clones), or
- a template with ``{owner}``, ``{name}`` and/or ``{repo}`` (= ``owner/name``): a URL such as
  ``file:///mirrors/{owner}/{name}.git`` or ``https://git.example.org/{repo}.git``, or a path such as
  ``/data/mirrors/{owner}+{name}/repo``.

Without a mirror the template is ``https://github.com/{repo}.git`` (needs the network).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

GITHUB = "https://github.com/{repo}.git"
"""The default source: GitHub (needs the network)."""


class MirrorError(ValueError):
    """A mirror folder has no repository for an upstream repo (the message lists the paths tried)."""


def _format(template: str, repo: str) -> str:
    owner, _, name = repo.partition("/")
    try:
        return template.format(repo=repo, owner=owner, name=name)
    except (KeyError, IndexError) as exc:
        raise MirrorError(f"repo mirror template {template!r}: unknown field {exc} "
                          "(use {owner}, {name} or {repo})") from exc


def mirror_candidates(folder: Path, repo: str) -> list[Path]:
    """The paths a mirror folder may hold ``repo`` (``owner/name``) at, in the order they are tried."""
    owner, _, name = repo.partition("/")
    stems = [folder / owner / name, folder / f"{owner}+{name}", folder / f"{owner}__{name}"]
    return [p for stem in stems for p in (stem, stem.with_name(stem.name + ".git"))]


def is_git_repo(path: Path) -> bool:
    """``path`` is a git repository (bare or with a work tree)."""
    if not path.is_dir():
        return False
    proc = subprocess.run(["git", "-C", str(path), "rev-parse", "--git-dir"], capture_output=True, check=False)
    return proc.returncode == 0


def repo_source(repo: str, mirror: str | None = None) -> str:
    """The clone source of ``repo`` (``owner/name``): a URL or a local path.

    ``mirror`` is ``None`` (GitHub), a template (it contains ``{``) or a folder of repositories. A folder without a
    repository for ``repo`` raises :class:`MirrorError` naming every path tried.
    """
    if "/" not in repo:
        raise MirrorError(f"repo {repo!r} is not of the form owner/name")
    if mirror is None:
        return _format(GITHUB, repo)
    if "{" in mirror:
        return _format(mirror, repo)
    folder = Path(mirror.removeprefix("file://")).expanduser()
    if not folder.is_dir():
        raise MirrorError(f"repo mirror {mirror}: not a folder (give a folder of git repos or a URL template "
                          "with {owner}/{name})")
    for candidate in mirror_candidates(folder, repo):
        if is_git_repo(candidate):
            return str(candidate.resolve())
    tried = ", ".join(str(p.relative_to(folder)) for p in mirror_candidates(folder, repo))
    raise MirrorError(f"repo mirror {folder} has no git repository for {repo} (tried {tried}); "
                      f"make one with `git clone --mirror https://github.com/{repo}.git {folder}/{repo}.git`")
