"""Which project layouts ``tasks synthesize`` reads: tests named after modules, else tests that import the modules
(a root ``test.py`` as in python-slugify's repository, ``tests/test_basic.py`` over ``src/``); a project it cannot
read is one error naming the supported layouts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from swe_dagger.envs.synth.import_pairing import LAYOUTS
from swe_dagger.envs.synth.project import SourceError, discover_modules, load_project


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


SLUGIFY_LIKE = {  # python-slugify's repository: one package re-exporting its modules, one test.py at the root
    "slugify/__init__.py": "from .special import *\nfrom .slugify import *\nfrom .__version__ import __version__\n",
    "slugify/slugify.py": "def slugify(text):\n    return text.lower().replace(' ', '-')\n",
    "slugify/special.py": "PRE_TRANSLATIONS = [('Ю', 'U')]\n\ndef add_uppercase_char(pairs):\n    return pairs\n",
    "slugify/__main__.py": "from .slugify import slugify\n",
    "slugify/__version__.py": "__version__ = '1'\n",
    "test.py": "import unittest\nfrom slugify import slugify\n\nclass T(unittest.TestCase):\n"
               "    def test_slugify(self):\n        self.assertEqual(slugify('A b'), 'a-b')\n",
    "setup.py": "from setuptools import setup\nsetup()\n",
}


def test_a_root_test_file_pairs_with_the_modules_it_imports_through_the_package(tmp_path: Path) -> None:
    modules, pythonpath = discover_modules(write(tmp_path, SLUGIFY_LIKE))
    paired = {m.module: m.tests for m in modules}
    assert paired["slugify/slugify.py"] == ("test.py",) and paired["slugify/special.py"] == ("test.py",)
    assert "slugify/__main__.py" not in paired and pythonpath == ""


def test_tests_dir_over_src_and_direct_imports(tmp_path: Path) -> None:
    write(tmp_path, {
        "src/pkg/__init__.py": "", "src/pkg/core.py": "def f(x):\n    return x + 1\n",
        "src/pkg/util.py": "def g(x):\n    return x\n", "src/pkg/extra.py": "def h():\n    return 1\n",
        "tests/test_basic.py": "from pkg.core import f\n\ndef test_f():\n    assert f(1) == 2\n",
        "tests/check_more.py": "import pkg.util\n", "tests/conftest.py": "import pkg.extra\n",
    })
    modules, pythonpath = discover_modules(tmp_path)
    assert {m.module: m.tests for m in modules} == {"src/pkg/core.py": ("tests/test_basic.py",),
                                                    "src/pkg/util.py": ("tests/check_more.py",)}
    assert pythonpath == "src"  # conftest.py is not a test file


def test_name_pairing_comes_first(tmp_path: Path) -> None:
    write(tmp_path, {
        "pkg/__init__.py": "", "pkg/core.py": "def f():\n    return 1\n", "pkg/util.py": "def g():\n    return 2\n",
        "tests/test_core.py": "from pkg.core import f\n", "tests/test_misc.py": "from pkg.util import g\n",
    })
    modules, _ = discover_modules(tmp_path)  # as before: projects that pair by name keep the suites they had
    assert [(m.module, m.tests) for m in modules] == [("pkg/core.py", ("tests/test_core.py",))]


def test_unreadable_projects_name_the_supported_layouts(tmp_path: Path) -> None:
    bare = write(tmp_path / "bare", {"pkg/__init__.py": "", "pkg/core.py": "def f():\n    return 1\n"})
    with pytest.raises(SourceError, match=r"it has no test files .*checkout of the repository") as info:
        load_project(str(bare), tmp_path / "work")
    assert LAYOUTS in str(info.value)
    unrelated = write(tmp_path / "unrelated", {"pkg/__init__.py": "", "pkg/core.py": "def f():\n    return 1\n",
                                               "tests/test_other.py": "import json\n"})
    with pytest.raises(SourceError, match="its 1 test files import none of its package modules"):
        load_project(str(unrelated), tmp_path / "work")
    out = subprocess.run([sys.executable, "-m", "swe_dagger.dagger.cli", "tasks", "synthesize", str(bare), "--out",
                          str(tmp_path / "t.jsonl")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.startswith("error: ") and "Supported layouts" in out.stderr
    assert not (tmp_path / "t.jsonl").exists()
    help_text = subprocess.run([sys.executable, "-m", "swe_dagger.dagger.cli", "tasks", "synthesize", "--help"],
                               capture_output=True, text=True, timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin"})
    assert "test_<module>.py" in help_text.stdout and "src/" in help_text.stdout
