"""
``python -m bench.pam_migration --assets 10000``: a legacy PAM migrated into the Asset Manager.

The legacy-PAM simulator (API mode, ``damsync sim pam``) and the PIM simulator (``damsync sim
pim``) are served as their own processes on loopback; ``damsync migrate-pam --from-api`` runs as
a child process into a fresh SQLite state database. Its peak RSS is the child's own
``ru_maxrss`` (``os.wait4``: the simulators and this process are not counted), checked against
a psutil sample every 0.2 s. The simulators' ``/_sim/stats`` give the requests.

Throughput is set against the fair-use ceiling: the minimum a migration must send is one upload
per distinct content plus one PATCH per 100 assets (downloads go to the legacy PIM, another
server); with ``max_in_flight = 4`` requests of ``L`` seconds each that takes
``minimum * L / 4`` seconds. The run uses the ``--latency`` given (0: loopback speed), the
ceiling is stated at ``--ceiling-latency`` (50 ms, as ``docs/benchmarks.md``).

Issue 18's target: the peak RSS of 100,000 assets within 15 % of 10,000 (``--assets 10000`` and
``--assets 100000``, or ``--assets 10000 100000`` in one call: the ratio is printed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.harness import DAMSYNC, _spawn, _stop, _wait_ready, free_port, load_average, upgrade_db

SEED = {
    "users": [{"client_id": "c", "secret": "s", "username": "u", "password": "p"}],
    "locales": ["de_DE", "en_US", "fr_FR"],
    "channels": [
        {"code": "ecommerce", "locales": ["de_DE", "en_US", "fr_FR"]},
        {"code": "mobile", "locales": ["en_US"]},
        {"code": "print", "locales": ["en_US", "fr_FR"]},
    ],
    "asset_families": [],
}
#: The PAM simulator's own demo credentials (``damsync sim pam`` prints them).
PAM_ENV = {
    "DAMSYNC_PAM_CLIENT_ID": "pam_client",
    "DAMSYNC_PAM_SECRET": "pam_secret",
    "DAMSYNC_PAM_USERNAME": "admin",
    "DAMSYNC_PAM_PASSWORD": "admin",
}
IN_FLIGHT = 4
BATCH = 100
#: Seconds between two lines of ``--timeline``.
TIMELINE_EVERY = 10.0


@dataclass(frozen=True, slots=True)
class MigrationRun:
    """One ``damsync migrate-pam`` over ``assets`` legacy assets."""

    assets: int
    written: int
    exit_code: int
    wall_s: float
    peak_rss_mib: float
    sampled_rss_mib: float
    uploads: int
    distinct_downloads: int
    downloads: int
    pim_requests: int
    pam_requests: int
    minimum_requests: int
    load: float

    @property
    def assets_per_s(self) -> float:
        return self.written / self.wall_s if self.wall_s else 0.0

    def ceiling(self, latency: float) -> float:
        """Fair-use ceiling in assets/s at ``latency`` s per request, IN_FLIGHT at once."""
        return self.written / (self.minimum_requests * latency / IN_FLIGHT)


def _stats(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/_sim/stats", timeout=30.0)
    response.raise_for_status()
    stats: dict[str, Any] = response.json()
    return stats


def _count(requests: Any) -> int:
    """Requests of a ``/_sim/stats`` document (per route and status, or a flat count)."""
    if isinstance(requests, int):
        return requests
    if isinstance(requests, dict):
        return sum(_count(value) for value in requests.values())
    return 0


def _child(
    cmd: list[str], env: dict[str, str], cwd: Path, log: Path, timeline: Path | None = None
) -> tuple[int, float, float]:
    """
    Run ``cmd``; its exit code, peak RSS (wait4) and psutil-sampled peak RSS, in MiB.

    ``timeline``: also append ``seconds<TAB>RSS MiB`` every :data:`TIMELINE_EVERY` seconds (the
    child's ``pam.progress`` log lines give the assets done at the same times).
    """
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    sampled = 0
    watched = psutil.Process(proc.pid)
    started = last = time.monotonic()
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        try:
            rss = watched.memory_info().rss
        except psutil.NoSuchProcess:
            rss = 0
        sampled = max(sampled, rss)
        now = time.monotonic()
        if timeline is not None and now - last >= TIMELINE_EVERY:
            last = now
            with timeline.open("a", encoding="utf-8") as handle:
                handle.write(f"{now - started:.0f}\t{rss / 2**20:.1f}\n")
        time.sleep(0.2)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024, sampled / 2**20


def run_once(
    assets: int,
    *,
    latency: float,
    products: int,
    workdir: Path,
    launcher: list[str] | None = None,
    timeline: Path | None = None,
) -> MigrationRun:
    """Serve both simulators, migrate ``assets`` assets, read the figures (``launcher``: what
    runs ``damsync``, e.g. ``bench.pam_memtrace``'s traced child)."""
    seed = workdir / "pim-seed.json"
    seed.write_text(json.dumps(SEED), encoding="utf-8")
    pam_port, pim_port = free_port(), free_port()
    pam_url, pim_url = f"http://127.0.0.1:{pam_port}", f"http://127.0.0.1:{pim_port}"
    pam_cmd = [DAMSYNC, "sim", "pam", "--port", str(pam_port), "--assets", str(assets)]
    pam_cmd += ["--products", str(products)]
    pim_cmd = [DAMSYNC, "sim", "pim", "--port", str(pim_port), "--seed", str(seed)]
    pim_cmd += ["--latency", str(latency)]
    procs: list[subprocess.Popen[bytes]] = []
    database = f"sqlite:///{workdir / 'state.db'}"
    upgrade_db(database)
    config = workdir / "damsync.toml"
    config.write_text(
        f'[pim]\nbase_url = "{pim_url}"\nclient_id = "c"\nsecret = "s"\nusername = "u"\n'
        f'password = "p"\n\n[store]\nurl = "{database}"\n',
        encoding="utf-8",
    )
    try:
        procs.append(_spawn(workdir / "sim-pam.log", pam_cmd))
        procs.append(_spawn(workdir / "sim-pim.log", pim_cmd))
        _wait_ready(pam_url, procs[0])
        _wait_ready(pim_url, procs[1])
        cmd = [*(launcher or [DAMSYNC]), "migrate-pam", "--from-api", pam_url]
        cmd += ["--config", str(config)]
        cmd += ["--report", str(workdir / "report.csv")]
        env = {**os.environ, **PAM_ENV}
        started = time.monotonic()
        code, peak, sampled = _child(cmd, env, workdir, workdir / "migrate.log", timeline)
        wall = time.monotonic() - started
        pam, pim = _stats(pam_url), _stats(pim_url)
    finally:
        _stop(procs)
    output = (workdir / "migrate.log").read_text(encoding="utf-8", errors="replace")
    found = re.search(r"written: (\d+) created, (\d+) updated", output)
    written = int(found[1]) + int(found[2]) if found else 0
    uploads = int(pim.get("uploads", 0))
    downloads = pam.get("downloads", {})
    return MigrationRun(
        assets=assets,
        written=written,
        exit_code=code,
        wall_s=round(wall, 1),
        peak_rss_mib=round(peak, 1),
        sampled_rss_mib=round(sampled, 1),
        uploads=uploads,
        distinct_downloads=sum(1 for n in downloads.values() if n),
        downloads=sum(downloads.values()),
        pim_requests=_count(pim.get("requests", {})),
        pam_requests=_count(pam.get("requests", {})),
        minimum_requests=uploads + math.ceil(written / BATCH),
        load=load_average(),
    )


def table(runs: list[MigrationRun], ceiling_latency: float) -> str:
    """The figures, one row per run, and the peak RSS ratio of the largest to the smallest."""
    ms = int(ceiling_latency * 1000)
    headers = (
        "assets",
        "written",
        "wall s",
        "assets/s",
        f"ceiling/s @{ms}ms",
        "uploads",
        "distinct files",
        "minimum req",
        "PIM req",
        "peak RSS MiB",
        "sampled MiB",
        "load",
    )
    rows = [
        (
            f"{r.assets:,}",
            f"{r.written:,}",
            f"{r.wall_s:.1f}",
            f"{r.assets_per_s:.1f}",
            f"{r.ceiling(ceiling_latency):.1f}" if r.minimum_requests else "-",
            f"{r.uploads:,}",
            f"{r.distinct_downloads:,}",
            f"{r.minimum_requests:,}",
            f"{r.pim_requests:,}",
            f"{r.peak_rss_mib:.1f}",
            f"{r.sampled_rss_mib:.1f}",
            f"{r.load:.1f}",
        )
        for r in runs
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    if len(runs) > 1:
        small, large = min(runs, key=lambda r: r.assets), max(runs, key=lambda r: r.assets)
        ratio = large.peak_rss_mib / small.peak_rss_mib
        verdict = "met" if ratio <= 1.15 else "MISSED"
        lines.append(
            f"peak RSS {large.assets:,} / {small.assets:,} = {ratio:.3f} "
            f"(target <= 1.15: {verdict})"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, nargs="+", default=[10_000])
    parser.add_argument("--latency", type=float, default=0.0, help="PIM seconds per request")
    parser.add_argument("--ceiling-latency", type=float, default=0.05)
    parser.add_argument("--products", type=int, default=0, help="legacy products (links pass)")
    parser.add_argument("--json", type=Path, help="Also write the runs here.")
    parser.add_argument(
        "--keep", type=Path, help="Keep each run's directory (logs, report, RSS timeline) here."
    )
    args = parser.parse_args()
    runs = []
    for assets in args.assets:
        with tempfile.TemporaryDirectory(prefix="pam-bench-") as tmp:
            workdir = Path(tmp)
            if args.keep is not None:
                workdir = args.keep / f"assets-{assets}"
                workdir.mkdir(parents=True, exist_ok=True)
            run = run_once(
                assets,
                latency=args.latency,
                products=args.products,
                workdir=workdir,
                timeline=workdir / "rss-timeline.tsv",
            )
            if run.exit_code != 0:
                log = (workdir / "migrate.log").read_text(encoding="utf-8", errors="replace")
                raise SystemExit(f"migrate-pam exited {run.exit_code}:\n{log[-3000:]}")
        runs.append(run)
        print(table([run], args.ceiling_latency), flush=True)
    print(table(runs, args.ceiling_latency))
    if args.json:
        figures = [{**asdict(r), "assets_per_s": r.assets_per_s} for r in runs]
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
