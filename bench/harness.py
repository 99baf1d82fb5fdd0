"""
Bench plumbing: serve the simulators as separate processes on free loopback ports, write the
daemon configuration of a workload, and read the simulators' request statistics.

Nothing here measures; ``bench.e2e`` and ``bench.soak`` do.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DAMSYNC = str(BIN / "damsync")
SEED = ROOT / "config/sim/pim-seed.json"
EXAMPLE = ROOT / "config/damsync.example.toml"

Mode = Literal["link", "media"]

# media_link only: every asset goes to `packshots`, the DAM URL is a media_link, no binary.
LINK_MAPPING = """
[sources.mapping]
unmatched = "skip"
create_missing_options = true

[[sources.mapping.families]]
family = "packshots"
code = "{id}"
[sources.mapping.families.attributes]
title = { path = "metadata.title", transform = ["strip"] }
description = { path = "metadata.description" }
tags = { path = "metadata.tags", transform = ["lower"] }
colour = { path = "metadata.colour" }
product_ref = "metadata.sku"
width = { path = "metadata.width" }
dam_url = { path = "binary.url" }
published = { path = "metadata.published", transform = [{ default = false }] }
"""


def free_port() -> int:
    """
    Returns:
        A TCP port free on loopback right now (the OS picks it).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Sims:
    """The two simulators, served by uvicorn in their own processes (ids for their CPU time)."""

    pim_url: str
    dam_url: str
    pim_pid: int | None = None
    dam_pid: int | None = None


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited with {proc.returncode}: {proc.args!r}")
        try:
            if httpx.get(f"{url}/_sim/stats", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"simulator at {url} not ready after {timeout} s")


@contextmanager
def serve_sims(
    workdir: Path,
    *,
    assets: int,
    pim_latency: float,
    dam_latency: float,
    tick: float | None = None,
) -> Iterator[Sims]:
    """
    Serve the PIM and DAM simulators on free loopback ports for the duration of the block.

    Args:
        workdir: Where their logs go.
        assets: Assets the DAM starts with (all of them are "changed" for a new checkpoint).
        pim_latency: Seconds every PIM API request takes.
        dam_latency: Seconds every DAM API request (listing, download) takes.
        tick: Seconds between DAM mutation ticks; ``None`` for a still DAM.

    Yields:
        The base URLs.
    """
    pim_port, dam_port = free_port(), free_port()
    dam_cmd = [DAMSYNC, "sim", "dam", "--port", str(dam_port), "--assets", str(assets)]
    dam_cmd += ["--latency", str(dam_latency)]
    if tick is not None:
        dam_cmd += ["--tick", str(tick)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(_spawn(workdir / "sim-pim.log", _pim_cmd(pim_port, pim_latency)))
        procs.append(_spawn(workdir / "sim-dam.log", dam_cmd))
        sims = Sims(
            f"http://127.0.0.1:{pim_port}", f"http://127.0.0.1:{dam_port}", *(p.pid for p in procs)
        )
        _wait_ready(sims.pim_url, procs[0])
        # The DAM builds its dataset first: ~1 min for 999,999 assets on a loaded 2-core machine.
        _wait_ready(sims.dam_url, procs[1], timeout=max(60.0, assets / 2500))
        yield sims
    finally:
        _stop(procs)


@contextmanager
def serve_pim(workdir: Path, *, latency: float, name: str = "pim") -> Iterator[tuple[str, int]]:
    """
    Serve one more PIM simulator (the bench seed, no asset yet) for the duration of the block.

    Args:
        workdir: Where its log goes (``sim-<name>.log``).
        latency: Seconds every PIM API request takes.
        name: Its name in the log file's name.

    Yields:
        Its base URL and process id.
    """
    port = free_port()
    procs = [_spawn(workdir / f"sim-{name}.log", _pim_cmd(port, latency))]
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, procs[0])
        yield url, procs[0].pid
    finally:
        _stop(procs)


def _pim_cmd(port: int, latency: float) -> list[str]:
    cmd = [DAMSYNC, "sim", "pim", "--port", str(port), "--seed", str(SEED)]
    return [*cmd, "--latency", str(latency)]


def _spawn(log: Path, cmd: list[str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sim_cpu(sims: Sims) -> dict[str, float]:
    """
    Args:
        sims: Simulators whose process ids are known.

    Returns:
        CPU seconds (user + system) each has used so far, by ``pim``/``dam`` (Linux).
    """
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for name, pid in (("pim", sims.pim_pid), ("dam", sims.dam_pid)):
        if pid is not None:  # /proc/<pid>/stat: utime and stime are fields 14 and 15
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) / tick
    return out


def write_config(
    path: Path,
    sims: Sims,
    *,
    mode: Mode,
    database_url: str,
    interval: float = 10.0,
    log_level: str = "info",
    page_size: int | None = None,
) -> Path:
    """
    Write the daemon configuration of one workload, derived from the example configuration.

    Args:
        path: The TOML file to write.
        sims: Where the simulators listen.
        mode: ``link`` (media_link only, no binary) or ``media`` (the example mapping: images
            and PDFs bring a small binary each).
        database_url: The state store.
        interval: Seconds between passes (``damsync run`` and the soak).
        log_level: The daemon's log level.
        page_size: DAM items per listing page (``None``: the example's 100).

    Returns:
        ``path``.
    """
    text = EXAMPLE.read_text(encoding="utf-8")
    if page_size is not None:
        text = text.replace("page_size = 100", f"page_size = {page_size}", 1)
    text = text.replace("http://127.0.0.1:8081", sims.pim_url)
    text = text.replace("http://127.0.0.1:8082", sims.dam_url)
    text = text.replace('url = "sqlite:///damsync.db"', f'url = "{database_url}"')
    text = text.replace('log_level = "info"', f'log_level = "{log_level}"')
    text = text.replace('log_format = "auto"', 'log_format = "json"')
    text = text.replace("enabled = true", "enabled = false", 1)
    text = text.replace("interval = 10 ", f"interval = {interval} ", 1)
    text = text.replace("jitter = 1", "jitter = 0", 1)
    if mode == "link":
        text = text[: text.index("[sources.mapping]")] + LINK_MAPPING
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def zero_latency_pass(
    prefix: str, *, assets: int, mode: Mode, page_size: int | None = None
) -> Iterator[tuple[Path, Path]]:
    """
    A fresh SQLite store and both simulators with no latency, for one CPU-bound pass of
    ``assets`` changed assets: yields the work directory and the configuration to run with
    (``page_size``: the DAM items per page, default the configuration's).
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        url = f"sqlite:///{work / 'state.db'}"
        upgrade_db(url)
        with serve_sims(work, assets=assets, pim_latency=0.0, dam_latency=0.0) as sims:
            config = write_config(work / "damsync.toml", sims, mode=mode, database_url=url)
            if page_size is not None:
                text = config.read_text(encoding="utf-8")
                text = re.sub(r"(?m)^page_size = \d+", f"page_size = {page_size}", text)
                config.write_text(text, encoding="utf-8")
            yield work, config


def upgrade_db(database_url: str) -> None:
    """
    Args:
        database_url: Bring this state store to the schema head (``damsync db upgrade``).
    """
    subprocess.run(
        [DAMSYNC, "db", "upgrade", "--database-url", database_url],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def sim_stats(base_url: str) -> dict[str, Any]:
    """
    Args:
        base_url: A simulator.

    Returns:
        Its ``/_sim/stats`` document.
    """
    body: dict[str, Any] = httpx.get(f"{base_url}/_sim/stats", timeout=30.0).json()
    return body


def reset_pim_stats(pim_url: str) -> None:
    """
    Args:
        pim_url: The PIM simulator whose counters start again from zero.
    """
    httpx.post(f"{pim_url}/_sim/reset-stats", timeout=30.0).raise_for_status()


def request_counts(stats: dict[str, Any]) -> dict[str, int]:
    """
    Args:
        stats: A simulator's statistics.

    Returns:
        Requests by route (all statuses added up).
    """
    return {
        route: sum(int(n) for n in by_status.values())
        for route, by_status in stats.get("requests", {}).items()
    }


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """
    Returns:
        Per-route request counts of ``after`` minus ``before``, zero routes left out.
    """
    out = {k: v - before.get(k, 0) for k, v in after.items()}
    return {k: v for k, v in out.items() if v}


def interpreter() -> dict[str, Any]:
    """
    The Python running the bench (and the daemon and simulators it starts). Builds differ:
    Debian's optimised python3 (the one the container image is tested on) ran the mapping
    micro-benchmark about 15 % faster than pyenv's default build (no profile-guided
    optimisation, the executable calling into a shared libpython); see docs/benchmarks.md,
    "The interpreter". Figures from two interpreters are not comparable.

    Returns:
        Its version, executable, whether the process maps a shared ``libpython`` and the
        optimisation options ``configure`` was given (Debian's package optimises through its
        own build rules, so none show there: its executable links libpython statically).
    """
    with open("/proc/self/maps", encoding="utf-8") as maps:
        shared = any("libpython" in line for line in maps)
    args = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    return {
        "version": sys.version.split()[0],
        "executable": os.path.realpath(sys.executable),
        "shared_libpython": shared,
        "configure_optimisations": [
            flag for flag in ("--enable-optimizations", "--with-lto") if flag in args
        ],
    }


def load_average() -> float:
    """
    Returns:
        The 1-minute load average of the machine (2 cores, shared).
    """
    return round(os.getloadavg()[0], 2)
