#!/usr/bin/env bash
# Make container builds testable on machines without a Docker engine or registry access.
#
# Installs buildah and debootstrap (Debian packages) if missing, builds a local Debian bookworm
# base image with python3 + venv + pip from Debian's own archive, tags it, and prints its name.
# Idempotent: an existing image is reused. Then build and run a Dockerfile with buildah:
#
#   base=$(tools/container-base.sh)
#   buildah bud --format docker --isolation chroot --build-arg PYTHON_IMAGE="$base" \
#     -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro -t damsync:test .
#   c=$(buildah from damsync:test); buildah run --isolation chroot "$c" -- damsync --help; buildah rm "$c"
#
# The CA bundle mount lets pip inside the build trust the same certificates as this machine.
# chroot isolation shares the host's network, so a server started in the container listens on
# the host's loopback. Needs root.
set -euo pipefail
IMAGE=${CONTAINER_BASE_IMAGE:-localhost/python-base:bookworm}
export BUILDAH_ISOLATION=chroot
if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then
  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q buildah debootstrap) >&2
fi
if buildah images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep -qx "$IMAGE"; then
  echo "$IMAGE"; exit 0
fi
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates,curl \
  bookworm "$rootfs" >&2
ctr=$(buildah from scratch)
mnt=$(buildah mount "$ctr")
cp -a "$rootfs"/. "$mnt"/
buildah umount "$ctr" >/dev/null
buildah config --env LANG=C.UTF-8 --cmd '["python3"]' "$ctr"
buildah commit -q "$ctr" "$IMAGE" >/dev/null
buildah rm "$ctr" >/dev/null
echo "$IMAGE"
