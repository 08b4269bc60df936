"""The wheel ships every package folder: pyproject's explicit package list (setuptools cannot discover packages
under our ``swe_dagger.<folder>`` mapping) names each folder that holds an ``__init__.py``, and nothing else."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    roots = {name.split(".")[1]: folder for name, folder in setuptools["package-dir"].items()}
    on_disk = {
        "swe_dagger." + ".".join((top, *init.parent.relative_to(ROOT / folder).parts))
        for top, folder in roots.items()
        for init in (ROOT / folder).rglob("__init__.py")
        if "fixtures" not in init.parts
    }
    assert on_disk - listed == set(), "package folders missing from pyproject's [tool.setuptools] packages"
    assert listed - on_disk == set(), "pyproject lists packages that have no folder"
