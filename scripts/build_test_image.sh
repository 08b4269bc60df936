#!/usr/bin/env bash
# Build the small local Docker image the sandbox tests run in: Debian bookworm (minbase) with python3, pytest, git.
# No registry is reachable here, so the rootfs comes from debootstrap and enters Docker through `docker import`.
# Idempotent: exits at once when the image already exists. Needs a running dockerd (scripts/setup.sh starts one).
set -euo pipefail

TAG="${SWE_DAGGER_TEST_IMAGE:-swe-dagger-test:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if ! docker info >/dev/null 2>&1; then
  echo "[build_test_image] no Docker daemon; run 'bash scripts/setup.sh' first" >&2
  exit 1
fi
if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "[build_test_image] $TAG already present"
  exit 0
fi

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/swe-dagger-rootfs.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT

echo "[build_test_image] debootstrap bookworm into $rootfs (a few minutes)"
debootstrap --variant=minbase --include=python3,python3-pytest,python3-venv,git,ca-certificates \
  bookworm "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 || { tail -30 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

# Slim it: package caches and docs are dead weight in a test image.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*

echo "[build_test_image] docker import -> $TAG"
tar -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  - "$TAG" >/dev/null
echo "[build_test_image] built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG") bytes)"
