"""
Fixtures for the container tests: buildah, the base image and the built damsync image.

buildah (with chroot isolation, which shares the host's network and process namespace) stands
in for a Docker engine. In CI (``CI=true``) a missing buildah or a failed build fails the
tests; elsewhere a missing buildah skips them.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The repository's tool that installs buildah and builds a local Debian base image.
BASE_TOOL = ROOT / "tools" / "container-base.sh"
IMAGE = "localhost/damsync:test"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BUILD_TIMEOUT = 1200.0


def in_ci() -> bool:
    """Whether this is a CI run, where nothing may be skipped."""
    return os.environ.get("CI") == "true"


def unavailable(reason: str) -> None:
    """Fail in CI, skip elsewhere."""
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason)


def buildah(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``buildah`` with chroot isolation; raise with its output when it fails."""
    env = {**os.environ, "BUILDAH_ISOLATION": "chroot"}
    done = subprocess.run(
        ["buildah", *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if done.returncode != 0:
        raise AssertionError(
            f"buildah {shlex.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


def _base_image() -> str:
    configured = os.environ.get("CONTAINER_BASE_IMAGE")
    if configured:
        return configured
    if not BASE_TOOL.exists():
        unavailable(f"no base image: {BASE_TOOL} is missing and CONTAINER_BASE_IMAGE is unset")
    done = subprocess.run(
        ["bash", str(BASE_TOOL)], capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    if done.returncode != 0:
        unavailable(f"{BASE_TOOL} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout.strip().splitlines()[-1]


def _image() -> str:
    if shutil.which("buildah") is None and BASE_TOOL.exists() and os.geteuid() == 0:
        # The tool installs buildah (from Debian) before it builds the base image.
        subprocess.run(["bash", str(BASE_TOOL)], capture_output=True, timeout=BUILD_TIMEOUT)
    if shutil.which("buildah") is None:
        unavailable("buildah is not installed (run: sudo make test-deps)")
    base = _base_image()
    args = [
        "bud",
        "--layers",
        "--format=docker",
        "--isolation=chroot",
        f"--build-arg=PYTHON_IMAGE={base}",
        "--tag",
        IMAGE,
    ]
    if Path(CA_BUNDLE).exists():
        # pip in the build trusts the same certificates as this machine.
        args += [f"--volume={CA_BUNDLE}:{CA_BUNDLE}:ro", f"--build-arg=PIP_CERT={CA_BUNDLE}"]
    args += shlex.split(os.environ.get("CONTAINER_BUILD_ARGS", ""))
    try:
        buildah(*args, str(ROOT), timeout=BUILD_TIMEOUT)
    except (AssertionError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"the image build failed: {str(exc)[-6000:]}")
    return IMAGE


@pytest.fixture(name="image", scope="session")
def fixture_image() -> str:
    """The damsync image built from our Dockerfile (layers cached between runs)."""
    return _image()


@pytest.fixture(name="container")
def fixture_container(image: str) -> Iterator[str]:
    """A working container of the image, removed afterwards."""
    name = buildah("from", image).stdout.strip()
    yield name
    subprocess.run(["buildah", "rm", name], capture_output=True, check=False)
