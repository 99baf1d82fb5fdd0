"""
``python -m bench.soak``: the memory soak (minutes, not hours).

The driver serves both simulators (the DAM ticking: assets change, appear and disappear all the
time), then runs a worker process that builds the daemon exactly as ``damsync run`` does
(``Services`` + ``SyncApp``) and runs pass after pass plus the failure retries, as the scheduler
would, sampling after each pass: RSS, tracemalloc's traced bytes, threads, open file
descriptors and database connections. The driver fits a line to the samples after warm-up and
writes the result JSON (docs/benchmarks.md explains the reading).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import psutil
import structlog
from prometheus_client import CollectorRegistry

from bench.harness import (
    ROOT,
    delta,
    load_average,
    request_counts,
    serve_sims,
    sim_stats,
    upgrade_db,
    write_config,
)

RESULTS = ROOT / "bench/results"


def _db_connections(proc: psutil.Process, database_url: str) -> int:
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        return sum(1 for f in proc.open_files() if f.path.startswith(path))
    port = 5432
    return sum(
        1
        for c in proc.net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


async def _work(config: Path, database_url: str, seconds: float, pause: float, out: Path) -> None:
    from daemon.service.wiring import Services, SyncApp
    from daemon.settings.root import load_settings

    settings = load_settings(config, {})
    services = Services.create(settings, registry=CollectorRegistry())
    app = SyncApp.build(settings, services)
    proc = psutil.Process()
    tracemalloc.start()
    deadline = time.monotonic() + seconds
    passes = 0
    try:
        await app.start()
        runner = app.runners[0]
        with out.open("w", encoding="utf-8") as sink:
            while time.monotonic() < deadline:
                result = await runner.run_once()
                await runner.retry_due()
                passes += 1
                gc.collect()
                traced, _peak = tracemalloc.get_traced_memory()
                sample = {
                    "t": round(time.monotonic(), 3),
                    "pass": passes,
                    "status": result.status,
                    "read": result.read,
                    "written": result.written,
                    "deleted": result.deleted,
                    "failed": result.failed,
                    "rss": proc.memory_info().rss,
                    "traced": traced,
                    "threads": proc.num_threads(),
                    "py_threads": threading.active_count(),
                    "fds": proc.num_fds(),
                    "db_connections": _db_connections(proc, database_url),
                    "load": load_average(),
                }
                sink.write(json.dumps(sample) + "\n")
                sink.flush()
                await asyncio.sleep(pause)
    finally:
        await app.aclose()
        services.store.dispose()


def _slope(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope of ys over xs, and the standard deviation of the residuals."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    residuals = [y - (my + slope * (x - mx)) for x, y in zip(xs, ys, strict=True)]
    return slope, statistics.pstdev(residuals)


def analyse(
    samples: list[dict[str, Any]], warmup: float, warmup_seconds: float = 0.0
) -> dict[str, Any]:
    """
    Fit RSS and traced memory against time after the warm-up share of the samples.

    Args:
        samples: The worker's samples, in order.
        warmup: Share of the samples (by count) left out at the start.
        warmup_seconds: When positive, leave out the samples of the first this many seconds
            instead, counted from the first sample (the end of the first, full pass). Use
            at least the source's ``lookback``: until then, every pass re-reads more of the
            ticking DAM's history, so the workload itself still grows.

    Returns:
        Slopes (bytes per minute), residual noise, the drift over the measured span against
        that noise, and the ranges of threads, file descriptors and database connections.
    """
    if warmup_seconds > 0:
        start = samples[0]["t"] + warmup_seconds
        steady = [s for s in samples if s["t"] >= start] or samples[-2:]
    else:
        steady = samples[int(len(samples) * warmup) :]
    t0 = steady[0]["t"]
    minutes = [(s["t"] - t0) / 60 for s in steady]
    span = minutes[-1] - minutes[0]
    out: dict[str, Any] = {
        "passes": len(samples),
        "warmup": f"{warmup_seconds:g} s" if warmup_seconds > 0 else f"{warmup:g} of samples",
        "measured_passes": len(steady),
        "measured_minutes": round(span, 2),
    }
    for key in ("rss", "traced"):
        slope, noise = _slope(minutes, [float(s[key]) for s in steady])
        out[key] = {
            "first_mb": round(steady[0][key] / 2**20, 2),
            "last_mb": round(steady[-1][key] / 2**20, 2),
            "slope_kb_per_min": round(slope / 1024, 2),
            "noise_kb": round(noise / 1024, 2),
            "drift_over_span_kb": round(slope * span / 1024, 1),
            "flat": abs(slope * span) <= 2 * noise + 256 * 1024,
        }
    for key in ("threads", "py_threads", "fds", "db_connections"):
        values = [s[key] for s in steady]
        out[key] = {"min": min(values), "max": max(values), "constant": min(values) == max(values)}
    out["written"] = sum(s["written"] for s in samples)
    out["deleted"] = sum(s["deleted"] for s in samples)
    out["failed_passes"] = sum(1 for s in samples if s["status"] not in ("succeeded", "partial"))
    return out


def main(argv: list[str] | None = None) -> int:
    """
    Run the soak and write its result.

    Returns:
        The exit code: 0 when memory is flat and threads, descriptors and connections constant.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0, help="soak duration")
    parser.add_argument("--assets", type=int, default=2000, help="DAM assets at start")
    parser.add_argument("--tick", type=float, default=1.0, help="seconds between DAM ticks")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between passes")
    parser.add_argument("--latency", type=float, default=0.005, help="seconds per request")
    parser.add_argument("--mode", choices=("link", "media"), default="media")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--warmup", type=float, default=0.25, help="share of samples skipped")
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=0.0,
        help="leave out the first seconds instead of a share (use >= the lookback, 300)",
    )
    parser.add_argument(
        "--analyse", type=Path, help="only re-analyse the samples of this result JSON"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        config, url, seconds, out = args.worker
        asyncio.run(_work(Path(config), url, float(seconds), args.pause, Path(out)))
        return 0
    if args.analyse:
        stored = json.loads(args.analyse.read_text(encoding="utf-8"))
        print(json.dumps(analyse(stored["samples"], args.warmup, args.warmup_seconds), indent=2))
        return 0
    with tempfile.TemporaryDirectory(prefix="damsync-soak-") as tmp:
        work = Path(tmp)
        url = args.database_url or f"sqlite:///{work / 'state.db'}"
        upgrade_db(url)
        with serve_sims(
            work,
            assets=args.assets,
            pim_latency=args.latency,
            dam_latency=args.latency,
            tick=args.tick,
        ) as sims:
            config = write_config(
                work / "damsync.toml", sims, mode=args.mode, database_url=url, log_level="warning"
            )
            samples_path = work / "samples.jsonl"
            pim_before = request_counts(sim_stats(sims.pim_url))
            worker = [sys.executable, "-m", "bench.soak", "--pause", str(args.pause), "--worker"]
            worker += [str(config), url, str(args.minutes * 60), str(samples_path)]
            subprocess.run(worker, check=True, cwd=ROOT)
            pim = delta(request_counts(sim_stats(sims.pim_url)), pim_before)
            dam_ticks = sim_stats(sims.dam_url).get("ticks")
            lines = samples_path.read_text(encoding="utf-8").splitlines()
            samples = [json.loads(line) for line in lines]
    analysis = analyse(samples, args.warmup, args.warmup_seconds)
    result = {
        "command": "python -m bench.soak " + " ".join(argv if argv is not None else sys.argv[1:]),
        "options": {k: str(v) for k, v in vars(args).items() if k != "worker"},
        "analysis": analysis,
        "pim_requests": sum(pim.values()),
        "dam_ticks": dam_ticks,
        "samples": samples,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(analysis, indent=2))
    ok = analysis["rss"]["flat"] and all(
        analysis[k]["constant"] for k in ("threads", "fds", "db_connections")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    sys.exit(main())
