#!/usr/bin/env bash
# mypy cannot follow setuptools' package-dir mapping through an editable install, so we lay the
# seven folders out as the package `swe_dagger` with symlinks in a private temp dir and check that.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/swe_dagger"
for d in envs agents dagger teachers sandbox durable typed; do ln -s "$root/$d" "$tmp/swe_dagger/$d"; done
: > "$tmp/swe_dagger/__init__.py"
cd "$tmp" && python3 -m mypy --config-file "$root/pyproject.toml" --cache-dir "$root/.mypy_cache" -p swe_dagger
