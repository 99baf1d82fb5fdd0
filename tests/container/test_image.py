"""
The real image, built from our Dockerfile with buildah, runs the daemon against the simulators.

The simulators run on the host's loopback: buildah's chroot isolation shares the host's network
(so the daemon in the container reaches them, and the host reaches the daemon's port) and its
process namespace (so the test signals the daemon itself, as ``docker stop`` signals PID 1;
``buildah run`` would kill its child instead of forwarding SIGTERM).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.container.conftest import ROOT, buildah

pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(1800)]

UID = 10001
GRACE = 8.0


def free_port() -> int:
    """A TCP port free on the loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, *, timeout: float, status: int = 200) -> httpx.Response:
    """Poll ``url`` until it answers ``status``; fail with the last answer otherwise."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == status:
                return response
            last = f"{response.status_code} {response.text[:300]}"
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer {status} within {timeout} s: {last}")


@pytest.fixture(name="workdir")
def fixture_workdir() -> Iterator[Path]:
    """
    A private directory for config, state and logs.

    Not pytest's ``workdir``: other pytest runs on this machine prune old base temp dirs under
    the same user, and this test runs for minutes.
    """
    with tempfile.TemporaryDirectory(prefix="damsync-container-") as name:
        yield Path(name)


@pytest.fixture(name="simulators")
def fixture_simulators(workdir: Path) -> Iterator[dict[str, int]]:
    """The PIM and DAM simulators served on free loopback ports."""
    ports = {"pim": free_port(), "dam": free_port()}
    commands = {
        "pim": ["pim", "--seed", str(ROOT / "config/sim/pim-seed.json")],
        "dam": ["dam", "--assets", "40", "--tick", "2"],
    }
    procs = []
    for name, args in commands.items():
        log = (workdir / f"{name}.log").open("w")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "daemon", "sim", *args, "--port", str(ports[name])],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()
    try:
        for port in ports.values():
            wait_for(f"http://127.0.0.1:{port}/_sim/stats", timeout=30)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


def daemon_pid(parent: int) -> int | None:
    """The ``damsync run`` process below ``parent`` (chroot isolation shares the pid space)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo = list(children.get(parent, []))
    while todo:
        pid = todo.pop()
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"python" in cmdline and b"damsync\x00run" in cmdline:
            return pid
        todo.extend(children.get(pid, []))
    return None


def image_config(image: str) -> dict[str, Any]:
    """The image's Docker config (Entrypoint, Cmd, User, Healthcheck, ...)."""
    data = json.loads(buildah("inspect", "--type", "image", image).stdout)
    config: dict[str, Any] = data["Docker"]["config"]
    return config


def run_in(container: str, mounts: list[str], *command: str) -> subprocess.CompletedProcess[str]:
    """``buildah run`` one command in the container; never raises on its exit code."""
    volumes = [f"--volume={m}" for m in mounts]
    return subprocess.run(
        ["buildah", "run", "--isolation=chroot", *volumes, container, "--", *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_image_metadata(image):
    """The image runs `damsync run` in exec form as uid 10001 with a /healthz HEALTHCHECK."""
    config = image_config(image)
    env = dict(item.split("=", 1) for item in config["Env"])
    assert ["damsync"] == config["Entrypoint"]
    assert ["run"] == config["Cmd"]
    assert f"{UID}:{UID}" == config["User"]
    assert "/etc/damsync/damsync.toml" == env["DAMSYNC_CONFIG"]
    assert "0.0.0.0" == env["DAMSYNC_SERVER__HOST"]
    assert "/var/lib/damsync" == config["WorkingDir"]
    assert not config.get("Volumes")  # buildah would mount an anonymous one over ours
    assert "CMD" == config["Healthcheck"]["Test"][0]
    assert "/healthz" in config["Healthcheck"]["Test"][-1]


def check_daemon(
    daemon: subprocess.Popen[bytes],
    container: str,
    healthcheck: list[str],
    state: Path,
    ports: dict[str, int],
) -> None:
    """Check the running daemon from outside and inside, then stop it with SIGTERM."""
    base = f"http://127.0.0.1:{ports['daemon']}"
    assert {"status": "ok"} == wait_for(f"{base}/healthz", timeout=60).json()
    # Ready means a pass against the simulators succeeded from inside the container.
    wait_for(f"{base}/readyz", timeout=90)
    stats = httpx.get(f"http://127.0.0.1:{ports['pim']}/_sim/stats").json()
    assert 0 < stats["requests"]["PATCH /api/rest/v1/asset-families/{family}/assets"]["200"]

    pid = int((state / "damsync.pid").read_text(encoding="utf-8"))
    assert daemon_pid(daemon.pid) == pid
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert [str(UID)] * 4 == uids
    assert b"damsync\x00run" in Path(f"/proc/{pid}/cmdline").read_bytes()

    check = run_in(container, [], *healthcheck)
    assert 0 == check.returncode, check.stderr

    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    code = daemon.wait(timeout=GRACE + 10)
    elapsed = time.monotonic() - started
    assert 0 == code
    assert elapsed < GRACE + 5, f"stopped after {elapsed:.1f} s"
    assert not (state / "damsync.pid").exists()

    # The same healthcheck fails once the daemon is gone: it does check something.
    assert 0 != run_in(container, [], *healthcheck).returncode


def test_daemon_runs_serves_health_and_stops_on_sigterm(image, container, simulators, workdir):
    """The daemon syncs the simulators as uid 10001, passes its healthcheck, exits 0 on SIGTERM."""
    config = image_config(image)
    ports = {**simulators, "daemon": free_port()}
    settings = (ROOT / "config/damsync.example.toml").read_text(encoding="utf-8")
    settings = settings.replace("127.0.0.1:8081", f"127.0.0.1:{ports['pim']}")
    settings = settings.replace("127.0.0.1:8082", f"127.0.0.1:{ports['dam']}")
    (workdir / "damsync.toml").write_text(settings, encoding="utf-8")
    state = workdir / "state"
    state.mkdir()
    os.chown(state, UID, UID)
    mounts = [
        f"{workdir / 'damsync.toml'}:/etc/damsync/damsync.toml:ro",
        f"{state}:/var/lib/damsync",
    ]
    buildah(
        "config",
        f"--env=DAMSYNC_SERVER__PORT={ports['daemon']}",
        "--env=DAMSYNC_RUNTIME__PID_FILE=/var/lib/damsync/damsync.pid",
        container,
    )
    upgrade = run_in(container, mounts, "damsync", "db", "upgrade")
    assert 0 == upgrade.returncode, upgrade.stderr

    log_path = workdir / "daemon.log"
    with log_path.open("w") as log:
        daemon = subprocess.Popen(
            ["buildah", "run", "--isolation=chroot", *[f"--volume={m}" for m in mounts]]
            + [container, "--", *config["Entrypoint"], *config["Cmd"]],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        check_daemon(daemon, container, config["Healthcheck"]["Test"][1:], state, ports)
    except (AssertionError, OSError, KeyError) as exc:
        output = log_path.read_text(encoding="utf-8")[-4000:]
        files = sorted(p.name for p in state.iterdir())
        raise AssertionError(f"{exc!r}\nstate: {files}\ndaemon log:\n{output}") from exc
    finally:
        if daemon.poll() is None:
            # Killing buildah alone would leave the daemon running.
            orphan = daemon_pid(daemon.pid)
            if orphan is not None:
                os.kill(orphan, signal.SIGKILL)
            daemon.kill()
            daemon.wait(timeout=30)
