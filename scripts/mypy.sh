#!/usr/bin/env bash
# mypy cannot follow setuptools' package-dir mapping through an editable install, so we lay the
# five folders out as the package `swe_dagger` with symlinks in .typecheck/ and check that.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .typecheck && mkdir -p .typecheck/swe_dagger
for d in envs agents dagger teachers sandbox; do ln -s "../../$d" ".typecheck/swe_dagger/$d"; done
: > .typecheck/swe_dagger/__init__.py
cd .typecheck && python3 -m mypy --config-file ../pyproject.toml -p swe_dagger
