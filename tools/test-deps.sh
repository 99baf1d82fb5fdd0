#!/usr/bin/env bash
# Install what the whole test suite needs beyond Python packages, on a fresh Debian machine:
# promtool and Prometheus (alert-rule and scrape tests) and a local buildah base image (the
# container tests). Needs root for apt-get and buildah; idempotent. `make test-deps` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "test-deps: needs root (apt-get, buildah); the promtool, Prometheus and container tests need them" >&2
  exit 1
fi
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi
bash tools/container-base.sh >/dev/null
