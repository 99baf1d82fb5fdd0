"""
``python -m bench.run``: every benchmark in one run, results to JSON and docs/benchmarks.md.

For each mode (``link``: media_link only; ``media``: a small binary per asset) and each size N,
fresh simulators are served on loopback (uvicorn, own processes) with the chosen per-request
latency, a fresh SQLite state store is created, ``damsync sync --once`` syncs the N changed
assets, an idle pass is counted, and the naive baseline runs over the first assets of the same
workload. The mapping micro-benchmark (bench/mapping_bench.py) runs first.

Issue 16 adds to each workload: a second ``damsync sync --once`` with nothing changed (a new
process, as cron starts it: target 1 DAM request, 0 PIM), the state database's size per asset,
the simulators' CPU time, and the floor client (bench/floor.py) against the same DAM and a fresh
PIM simulator with the same latency, so each rate is also a share of what the machine can do at
all. ``--huge`` adds the million-asset link backfill (999,999 assets, the DAM simulator's
largest dataset: peak RSS, database size per asset). ``--httpx-floor`` adds, in media mode, the
same transfers through tuned httpx alone (bench/httpx_floor.py) and the daemon's CPU per asset
over theirs (``cpu_over_httpx``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import structlog

from bench.e2e import as_dict, idle_once, idle_pass, run_daemon, run_naive
from bench.floor import PAGE_SIZE, FloorRun, run_floor
from bench.floor import as_dict as floor_dict
from bench.harness import (
    ROOT,
    Mode,
    Sims,
    interpreter,
    load_average,
    serve_pim,
    serve_sims,
    sim_cpu,
    upgrade_db,
    write_config,
)
from bench.httpx_floor import HttpxRun, run_httpx

RESULTS = ROOT / "bench/results"


def machine() -> dict[str, Any]:
    """
    Returns:
        What the figures were measured on.
    """
    import psutil  # the bench extra: `make bench` installs it, `make test` does not

    return {
        "python": platform.python_version(),
        "interpreter": interpreter(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cores": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def mapping_bench() -> dict[str, Any]:
    """
    Returns:
        The mapping micro-benchmark's output line and the load average next to it.
    """
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench/mapping_bench.py")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {"line": out, "load": load_average()}


def engine_settings(config: Path) -> dict[str, Any]:
    """
    Args:
        config: A workload's daemon configuration.

    Returns:
        The engine settings the daemon runs with, and whether each equals the engine's default
        (``EngineSettings``), so the figures can be read against the defaults.
    """
    from daemon.settings.root import EngineSettings, load_settings

    settings = load_settings(config, {})
    entry = settings.sources[0]
    defaults = EngineSettings()
    keys = ("pipeline_depth", "media_concurrency", "batch_size", "batch_bytes")
    out: dict[str, Any] = {
        key: {"value": getattr(entry.sync, key), "default": getattr(defaults, key)} for key in keys
    }
    out["pim_max_in_flight"] = settings.pim.http.max_in_flight
    out["dam_max_in_flight"] = entry.http.max_in_flight
    return out


def state_db(path: Path, assets: int) -> dict[str, Any]:
    """
    Args:
        path: The SQLite state store (its ``-wal`` and ``-shm`` files are added when present).
        assets: Assets synced into it.

    Returns:
        Its size in bytes and per asset.
    """
    size = sum(f.stat().st_size for f in path.parent.glob(path.name + "*") if f.is_file())
    return {"bytes": size, "bytes_per_asset": round(size / assets, 1) if assets else None}


def run_floor_beside(work: Path, sims: Sims, mode: Mode, args: argparse.Namespace) -> FloorRun:
    """
    Args:
        work: The workload's directory.
        sims: The workload's simulators: the floor reads the same DAM.
        mode: ``link`` or ``media``.
        args: The command line.

    Returns:
        The floor client's run against a fresh PIM simulator with the same latency.
    """
    with _fresh_pim(work, sims, "floor", mode, args) as (config, floor_sims):
        page_size = args.floor_page_size or args.page_size
        return asyncio.run(run_floor(config, floor_sims, mode=mode, page_size=page_size))


def run_httpx_beside(work: Path, sims: Sims, transfers: int, args: argparse.Namespace) -> HttpxRun:
    """
    Args:
        work: The workload's directory.
        sims: The workload's simulators: the transfers read the same DAM.
        transfers: Assets in transfer at once (the daemon's ``media_concurrency``).
        args: The command line.

    Returns:
        The media transfers through tuned httpx alone (bench/httpx_floor.py), against a fresh
        PIM simulator with the same latency.
    """
    with _fresh_pim(work, sims, "httpx", "media", args) as (config, httpx_sims):
        return asyncio.run(run_httpx(config, httpx_sims, transfers=transfers, tuned=True))


@contextmanager
def _fresh_pim(
    work: Path, sims: Sims, name: str, mode: Mode, args: argparse.Namespace
) -> Iterator[tuple[Path, Sims]]:
    """A fresh PIM simulator with the workload's latency beside its DAM, and a config for both."""
    with serve_pim(work, latency=args.latency, name=f"pim-{name}") as (pim_url, pim_pid):
        fresh = Sims(pim_url, sims.dam_url, pim_pid, sims.dam_pid)
        config = write_config(
            work / f"{name}.toml", fresh, mode=mode, database_url="sqlite:///unused.db"
        )
        yield config, fresh


def daemon_env(args: argparse.Namespace) -> dict[str, str]:
    """
    Returns:
        ``--daemon-env NAME=VALUE`` pairs: added to the measured daemon's environment only.
    """
    return dict(item.split("=", 1) for item in args.daemon_env)


def one_workload(mode: Mode, size: int, args: argparse.Namespace) -> dict[str, Any]:
    """
    Args:
        mode: ``link`` or ``media``.
        size: Changed assets.
        args: The command line.

    Returns:
        The daemon run, its idle passes, its state database, the naive baseline and the floor
        client of this workload.
    """
    with tempfile.TemporaryDirectory(prefix="damsync-bench-") as tmp:
        work = Path(tmp)
        url = f"sqlite:///{work / 'state.db'}"
        upgrade_db(url)
        with serve_sims(
            work, assets=size, pim_latency=args.latency, dam_latency=args.dam_latency
        ) as sims:
            config = write_config(
                work / "damsync.toml", sims, mode=mode, database_url=url, page_size=args.page_size
            )
            engine = engine_settings(config)
            print(json.dumps({"engine": engine}), flush=True)
            sims_before = sim_cpu(sims)
            daemon = run_daemon(
                config, sims, mode=mode, assets=size, workdir=work, env=daemon_env(args)
            )
            sims_cpu = {k: round(v - sims_before[k], 2) for k, v in sim_cpu(sims).items()}
            print(json.dumps({**as_dict(daemon), "sims_cpu_s": sims_cpu}), flush=True)
            if daemon.exit_code != 0:
                log = (work / f"daemon-{mode}-{size}.log").read_text(errors="replace")
                print(log[-3000:], file=sys.stderr)
            database = state_db(work / "state.db", daemon.written)
            once = idle_once(config, sims, workdir=work)
            print(json.dumps({"idle_once": as_dict(once), "state_db": database}), flush=True)
            idle = asyncio.run(idle_pass(config, sims))
            print(json.dumps(as_dict(idle)), flush=True)
            naive = None
            if args.naive_limit > 0:
                limit = min(size, args.naive_limit)
                naive = asyncio.run(run_naive(config, sims, mode=mode, limit=limit))
                print(json.dumps(as_dict(naive)), flush=True)
            floor = None
            if args.floor and size <= args.floor_max:
                floor = run_floor_beside(work, sims, mode, args)
                print(json.dumps({"floor": floor_dict(floor)}), flush=True)
            transfers = None
            if args.httpx_floor and mode == "media" and size <= args.floor_max:
                concurrency = int(engine["media_concurrency"]["value"])
                transfers = run_httpx_beside(work, sims, concurrency, args)
                print(json.dumps({"httpx_floor": asdict(transfers)}), flush=True)
    ratio = (
        round(daemon.assets_per_s / naive.assets_per_s, 1)
        if naive is not None and naive.assets_per_s
        else None
    )
    share = (
        round(daemon.assets_per_s / floor.assets_per_s, 3)
        if floor is not None and floor.assets_per_s
        else None
    )
    # The daemon's CPU per asset over what httpx alone takes for the same transfers.
    over_httpx = (
        round(daemon.cpu_us_per_asset / transfers.cpu_us_per_asset, 2)
        if transfers is not None and transfers.cpu_us_per_asset
        else None
    )
    return {
        "engine": engine,
        "daemon": as_dict(daemon),
        "sims_cpu_s": sims_cpu,
        "state_db": database,
        "idle": as_dict(idle),
        "idle_once": as_dict(once),
        "naive": as_dict(naive) if naive is not None else None,
        "speedup": ratio,
        "floor": floor_dict(floor) if floor is not None else None,
        "share_of_floor": share,
        "httpx_floor": asdict(transfers) if transfers is not None else None,
        "cpu_over_httpx": over_httpx,
    }


def main(argv: list[str] | None = None) -> int:
    """
    Run the benchmarks and write the results.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated N")
    parser.add_argument("--big", action="store_true", help="add N=100000 (link mode only)")
    parser.add_argument(
        "--huge",
        action="store_true",
        help="add N=999999, the DAM simulator's largest (link mode only)",
    )
    parser.add_argument("--modes", default="link,media", help="link, media or both")
    parser.add_argument("--media-max", type=int, default=10000, help="largest N in media mode")
    parser.add_argument("--latency", type=float, default=0.05, help="PIM seconds per request")
    parser.add_argument("--dam-latency", type=float, default=0.05, help="DAM s per request")
    parser.add_argument("--naive-limit", type=int, default=200, help="assets the baseline syncs")
    parser.add_argument(
        "--floor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the floor client beside each workload (bench/floor.py)",
    )
    parser.add_argument(
        "--floor-max", type=int, default=100_000, help="largest N the floor client runs at"
    )
    parser.add_argument(
        "--httpx-floor",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="media mode: also run the transfers through tuned httpx alone (bench/httpx_floor.py)"
        " beside each workload, up to --floor-max",
    )
    parser.add_argument(
        "--page-size",
        type=int,
        default=PAGE_SIZE,
        help="DAM items per listing page, for damsync and the floor alike (the simulator's max)",
    )
    parser.add_argument(
        "--floor-page-size", type=int, default=None, help="the floor's alone (default: --page-size)"
    )
    parser.add_argument(
        "--daemon-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set in the measured `damsync sync --once` only (e.g. MALLOC_MMAP_THRESHOLD_)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--no-report", action="store_true", help="skip docs and plot")
    args = parser.parse_args(argv)
    # The idle pass and the baseline run in this process: keep their logs to warnings.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.big:
        sizes.append(100_000)
    if args.huge:
        sizes.append(999_999)  # the DAM simulator's largest dataset (6-digit ids)
    results: dict[str, Any] = {
        "command": "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "latency": args.latency,
        "dam_latency": args.dam_latency,
        "mapping": mapping_bench(),
        "workloads": [],
    }
    print(results["mapping"]["line"], flush=True)
    for mode in args.modes.split(","):
        for size in sizes:
            if mode == "media" and size > args.media_max:
                continue
            entry = one_workload(cast(Mode, mode), size, args)
            results["workloads"].append({"mode": mode, "size": size, **entry})
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if not args.no_report:
        from bench.report import write_report

        write_report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
