#!/usr/bin/env bash
# Build a small local image that mimics an official SWE-bench eval image, for tests that cannot pull the real ones.
#
# The fake instance swe-dagger__tinymath-1 (repo swe-dagger/tinymath, version 0.1): a tiny Python package with a real
# pytest suite, at /testbed in an image tagged with the official naming
#   swebench/sweb.eval.x86_64.swe-dagger_1776_tinymath-1:latest
# Like the real images: the repo is "installed" (a .pth entry, as `pip install -e .` leaves), HEAD is an empty
# "SWE-bench" commit on top of the base commit, `source /opt/miniconda3/bin/activate; conda activate testbed` works
# (a stub: python3 and pytest are system-wide here). Unlike a clean image, the history still holds a FUTURE commit
# (branch future-fix, the fix itself): the SWE-bench#465 exploit the sandbox must scrub before the agent runs.
#
# Writes to OUT (default $SWE_DAGGER_CACHE/mimic or ~/.cache/swe-dagger/mimic):
#   OUT/instance.jsonl            the instance row (gold patch, test_patch, FAIL_TO_PASS, PASS_TO_PASS, ...)
#   OUT/repo_specs.json           the swebench install/test spec of swe-dagger/tinymath (register it before use)
#   OUT/upstream/swe-dagger/tinymath   the git repo (stands in for the GitHub clone in local mode)
# Usage: build_mimic_image.sh [--repo-only] [OUT]   (--repo-only: no Docker; the repo and rows only)
# Idempotent and fast: commits have fixed dates (same hashes every time); the image is rebuilt only when missing or
# built by another version of this script (label swe-dagger.mimic = this script's sha256).
set -euo pipefail

REPO_ONLY=0
if [ "${1:-}" = "--repo-only" ]; then REPO_ONLY=1; shift; fi
OUT="${1:-${SWE_DAGGER_CACHE:-$HOME/.cache/swe-dagger}/mimic}"
BASE_IMAGE="${SWE_DAGGER_TEST_IMAGE:-swe-dagger-test:bookworm}"
IID="swe-dagger__tinymath-1"
TAG="swebench/sweb.eval.x86_64.swe-dagger_1776_tinymath-1:latest"
HASH="$(sha256sum "$0" | cut -c1-16)"

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
REPO="$OUT/upstream/swe-dagger/tinymath"
export GIT_AUTHOR_NAME=tinymath GIT_AUTHOR_EMAIL=dev@tinymath.invalid
export GIT_COMMITTER_NAME=tinymath GIT_COMMITTER_EMAIL=dev@tinymath.invalid
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
commit() { GIT_AUTHOR_DATE="$1" GIT_COMMITTER_DATE="$1" git -C "$REPO" commit -q --allow-empty -m "$2"; }

rm -rf "$REPO"
mkdir -p "$REPO/tinymath" "$REPO/tests"
git -C "$REPO" init -q -b main
printf '"""Tiny math helpers (the fake SWE-bench repo of swe-dagger tests)."""\n' > "$REPO/tinymath/__init__.py"
cat > "$REPO/tinymath/ops.py" <<'EOF'
"""Arithmetic helpers."""


def add(a, b):
    return a + b


def mean(values):
    return sum(values) / len(values)
EOF
cat > "$REPO/tests/test_ops.py" <<'EOF'
from tinymath.ops import add, mean


def test_add():
    assert add(2, 3) == 5


def test_mean():
    assert mean([1, 2, 3]) == 2
EOF
printf 'tinymath: tiny math helpers\n' > "$REPO/README"
git -C "$REPO" add -A && commit "2020-01-01T00:00:00+0000" "tinymath: add and mean"
cat >> "$REPO/tinymath/ops.py" <<'EOF'


def clamp(x, lo, hi):
    """x limited to [lo, hi]."""
    if x < lo:
        return lo
    if x > hi:
        return x
    return x
EOF
git -C "$REPO" add -A && commit "2020-02-01T00:00:00+0000" "ops: clamp"
BASE="$(git -C "$REPO" rev-parse HEAD)"

# The future: the fix and its test, on a branch the agent must never see.
git -C "$REPO" checkout -q -b future-fix
python3 - "$REPO/tinymath/ops.py" <<'EOF'
import sys
path = sys.argv[1]
text = open(path).read()
open(path, "w").write(text.replace("    if x > hi:\n        return x\n", "    if x > hi:\n        return hi\n"))
EOF
cat >> "$REPO/tests/test_ops.py" <<'EOF'


def test_clamp():
    assert clamp(5, 0, 10) == 5
    assert clamp(-1, 0, 10) == 0
    assert clamp(11, 0, 10) == 10
EOF
sed -i 's/^from tinymath.ops import add, mean$/from tinymath.ops import add, clamp, mean/' "$REPO/tests/test_ops.py"
git -C "$REPO" add -A && commit "2020-03-01T00:00:00+0000" "fix clamp above the range"
FUTURE="$(git -C "$REPO" rev-parse HEAD)"
git -C "$REPO" checkout -q main

python3 - "$REPO" "$BASE" "$FUTURE" "$IID" "$OUT" <<'EOF'
import json, subprocess, sys
repo, base, future, iid, out = sys.argv[1:]
diff = lambda *paths: subprocess.run(["git", "-C", repo, "diff", base, future, "--", *paths], check=True,
                                     capture_output=True, text=True).stdout
row = {
    "instance_id": iid, "repo": "swe-dagger/tinymath", "version": "0.1", "base_commit": base,
    "environment_setup_commit": base, "created_at": "2020-02-15T00:00:00Z", "hints_text": "",
    "problem_statement": "clamp(x, lo, hi) returns x when x is above hi; it should return hi.\n",
    "patch": diff("tinymath"), "test_patch": diff("tests"),
    "FAIL_TO_PASS": json.dumps(["tests/test_ops.py::test_clamp"]),
    "PASS_TO_PASS": json.dumps(["tests/test_ops.py::test_add", "tests/test_ops.py::test_mean"]),
    "future_commit": future,
}
open(f"{out}/instance.jsonl", "w").write(json.dumps(row) + "\n")
spec = {"python": "3.11", "packages": "pytest", "pip_packages": ["pytest"], "test_cmd": "pytest -rA"}
open(f"{out}/repo_specs.json", "w").write(json.dumps({"swe-dagger/tinymath": {"0.1": spec}}, indent=1) + "\n")
EOF

if [ "$REPO_ONLY" = 1 ]; then echo "$OUT"; exit 0; fi
if ! docker info >/dev/null 2>&1; then
  echo "[build_mimic_image] no Docker daemon; run 'bash scripts/setup.sh' first" >&2; exit 1
fi
if [ "$(docker image inspect -f '{{index .Config.Labels "swe-dagger.mimic"}}' "$TAG" 2>/dev/null)" = "$HASH" ]; then
  echo "$OUT"; exit 0
fi
docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || {
  echo "[build_mimic_image] base image $BASE_IMAGE missing; run 'bash scripts/build_test_image.sh'" >&2; exit 1; }

CTX="$OUT/context"
rm -rf "$CTX" && mkdir -p "$CTX/opt/miniconda3/bin" "$CTX/site"
git clone -q "$REPO" "$CTX/testbed"
git -C "$CTX/testbed" branch -q future-fix origin/future-fix
git -C "$CTX/testbed" remote remove origin
git -C "$CTX/testbed" -c user.name=SWE-bench -c user.email=setup@swebench.config commit -q --allow-empty -m SWE-bench
printf '# stand-in for miniconda: python3 and pytest are system-wide in this image\nconda() { return 0; }\n' \
  > "$CTX/opt/miniconda3/bin/activate"
printf '/testbed\n' > "$CTX/site/tinymath-testbed.pth"
cat > "$CTX/Dockerfile" <<EOF
FROM $BASE_IMAGE
COPY testbed /testbed
COPY opt /opt
COPY site/tinymath-testbed.pth /usr/local/lib/python3.11/dist-packages/
LABEL swe-dagger.mimic=$HASH
WORKDIR /testbed
EOF
docker build -q --network=none -t "$TAG" "$CTX" >/dev/null
rm -rf "$CTX"
echo "$OUT"
