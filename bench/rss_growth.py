"""
``python -m bench.rss_growth``: where the memory of one ``damsync sync --once`` backfill goes.

Serves both simulators (the DAM with N assets), runs ``damsync sync --once`` (link mapping) as a
child process and samples it every ``--every`` seconds: RSS split into anonymous and file-backed
pages (``/proc/PID/smaps_rollup``; a memory-mapped SQLite file shows as file-backed), the peak
(``VmHWM``), threads, and the assets written so far (the PIM simulator's bulk PATCHes x 100).
A Python-side leak grows linearly with the assets written; allocator fragmentation grows the
anonymous pages without growing what Python holds.

With ``--inside`` the child is a wrapper around the ``damsync`` command line (``--child``) that
also writes, at every sample, what each allocator holds (``inside.jsonl`` in the work
directory): glibc's heap in use, free but kept, and mapped (``mallinfo2``), per arena
(``malloc_info``), SQLite's own count (``sqlite3_memory_used``), pymalloc's arenas and live
bytes (``sys._debugmallocstats``) and the objects the collector tracks. ``--trace`` adds
:mod:`tracemalloc` (the Python heap and the ten source lines that grew most since the first
sample; it slows the pass several-fold, so its RSS is not the daemon's); ``--trim`` calls
``malloc_trim(0)`` at each sample (what freeing the kept memory would give back);
``--mallopt-mmap-threshold`` sets glibc's mmap threshold before the command runs.

``--env NAME=VALUE`` sets an environment variable of the child (e.g.
``MALLOC_MMAP_THRESHOLD_=131072``, ``MALLOC_ARENA_MAX=2``).

What it found (issue 16, 2026-12-07): the RSS growth of a backfill is glibc heap kept free, not
Python objects. A 450 KB listing page (500 assets) is first served by its own mapping; once
that is freed, glibc's dynamic threshold rises and every later page body and its copies come
from the heap, between long-lived small blocks: the kept-free part grew 13 -> 23 MiB over
100,000 assets while Python's live bytes, pymalloc's arenas and the traced heap stayed flat.
A fixed threshold (``MALLOC_MMAP_THRESHOLD_=131072``) keeps it at 2-7 MiB.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.e2e import ASSET_PATCH
from bench.harness import DAMSYNC, request_counts, serve_sims, sim_stats, upgrade_db, write_config

ROLLUP_KEYS = ("Rss", "Anonymous", "Pss_File", "Pss_Anon")


def memory(pid: int) -> dict[str, float]:
    """
    Args:
        pid: A live process.

    Returns:
        MiB: ``rss``, ``anon`` (anonymous pages), ``file`` (file-backed pages, e.g. a mapped
        database), ``hwm`` (peak RSS so far); and ``threads``.
    """
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ROLLUP_KEYS:
            out[name] = int(rest.split()[0]) / 1024
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = {k: v.split() for k, _, v in (s.partition(":") for s in status)}
    return {
        "rss": round(out.get("Rss", 0.0), 1),
        "anon": round(out.get("Anonymous", 0.0), 1),
        "file": round(out.get("Rss", 0.0) - out.get("Anonymous", 0.0), 1),
        "hwm": round(int(fields["VmHWM"][0]) / 1024, 1),
        "threads": int(fields["Threads"][0]),
    }


#: ``struct mallinfo2`` (glibc >= 2.33), every field a ``size_t``.
_MALLINFO2 = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2.split()]


def allocators() -> dict[str, float]:
    """
    MiB held by the C allocators of this process: glibc's heap (all arenas: in use, free but
    kept), its mmapped blocks, and SQLite's own count (page caches, statements, schema).
    """
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    sqlite = ctypes.CDLL("libsqlite3.so.0")
    sqlite.sqlite3_memory_used.restype = ctypes.c_int64
    mib = 2**20
    return {
        "malloc_used_mib": round(info.uordblks / mib, 1),
        "malloc_free_mib": round(info.fordblks / mib, 1),
        "malloc_mmap_mib": round(info.hblkhd / mib, 1),
        "sqlite_mib": round(sqlite.sqlite3_memory_used() / mib, 1),
    }


_HEAP = re.compile(r'<heap nr="(\d+)">(.*?)</heap>', re.S)
_SIZE = re.compile(r'<(total|system) type="(fast|rest|current)"[^>]* size="(\d+)"')


def arenas() -> list[list[float]]:
    """
    glibc's arenas (``malloc_info``): MiB each holds from the system and MiB of it free (bins
    and top chunk). Arena 0 is the main thread's heap; the others belong to threads (the
    workers running SQLite). Free memory that only grows is fragmentation.
    """
    libc = ctypes.CDLL("libc.so.6")
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    with tempfile.NamedTemporaryFile() as scratch:
        handle = libc.fopen(scratch.name.encode(), b"w")
        libc.malloc_info(0, handle)
        libc.fclose(handle)
        text = Path(scratch.name).read_text(encoding="ascii", errors="replace")
    out: list[list[float]] = []
    for _nr, body in _HEAP.findall(text):
        sizes = {kind: int(size) for _tag, kind, size in _SIZE.findall(body)}
        free = sizes.get("fast", 0) + sizes.get("rest", 0)
        out.append([round(sizes.get("current", 0) / 2**20, 1), round(free / 2**20, 1)])
    return out


def pymalloc() -> dict[str, float]:
    """
    MiB of Python's small-object allocator: its arenas (1 MiB each, mapped apart from glibc's
    heap) and the bytes of live blocks in them, from ``sys._debugmallocstats`` (which writes to
    file descriptor 2: it is pointed at a scratch file for the call).
    """
    with tempfile.TemporaryFile() as scratch:
        saved = os.dup(2)
        try:
            os.dup2(scratch.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        scratch.seek(0)
        text = scratch.read().decode("ascii", "replace")
    figures: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition("=")
        number = value.strip().replace(",", "")
        if name.startswith("# arenas allocated current") and number.isdigit():
            figures["pymalloc_arenas_mib"] = int(number)  # 1 MiB each
        elif name.startswith("# bytes in allocated blocks") and number.isdigit():
            figures["pymalloc_used_mib"] = round(int(number) / 2**20, 1)
    return figures


def _sample_loop(path: Path, every: float, trace: bool, trim: bool) -> None:
    """The child's sampler: allocator figures; traced heap and the lines that grew most."""
    first: tracemalloc.Snapshot | None = None
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    started = time.monotonic()
    with path.open("a", encoding="utf-8") as out:
        while True:
            time.sleep(every)
            row: dict[str, Any] = {"t": round(time.monotonic() - started, 1), **allocators()}
            row.update(pymalloc())
            row["arenas"] = arenas()
            row["gc_objects"] = len(gc.get_objects())
            if trim:
                ctypes.CDLL("libc.so.6").malloc_trim(0)
                row["rss_after_trim_mib"] = round(
                    int(Path("/proc/self/statm").read_text().split()[1])
                    * os.sysconf("SC_PAGESIZE")
                    / 2**20,
                    1,
                )
            if trace:
                snap = tracemalloc.take_snapshot().filter_traces(filters)
                current, peak = tracemalloc.get_traced_memory()
                row["traced_mib"] = round(current / 2**20, 1)
                row["traced_peak_mib"] = round(peak / 2**20, 1)
                if first is None:
                    first = snap
                else:
                    top = snap.compare_to(first, "lineno")[:12]
                    row["grew"] = [
                        f"{s.size_diff / 1024:+.0f} KiB {s.count_diff:+d} "
                        f"{s.traceback[0].filename.rsplit('/', 3)[-1]}:{s.traceback[0].lineno}"
                        for s in top
                    ]
            out.write(json.dumps(row) + "\n")
            out.flush()


#: ``mallopt``'s parameter number of the mmap threshold (``M_MMAP_THRESHOLD`` in malloc.h).
M_MMAP_THRESHOLD = -3


def child(
    config: str, samples: Path, every: float, *, trace: bool, trim: bool, mmap_threshold: int
) -> int:
    """Run ``damsync sync --once`` in this process, sampled (under tracemalloc if asked)."""
    if mmap_threshold:
        # What the environment's MALLOC_MMAP_THRESHOLD_ does, made in code: a fixed threshold.
        if not ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, mmap_threshold):
            raise RuntimeError("mallopt(M_MMAP_THRESHOLD) refused")
    if trace:
        tracemalloc.start(1)
    threading.Thread(target=_sample_loop, args=(samples, every, trace, trim), daemon=True).start()
    from daemon.cli import main as damsync_main

    sys.argv = ["damsync", "sync", "--once", "--config", config]
    code = damsync_main()
    return int(code or 0)


def written(pim_url: str) -> int:
    """Assets written so far: the bulk PATCHes the PIM simulator answered, x 100 (at most)."""
    return 100 * request_counts(sim_stats(pim_url)).get(ASSET_PATCH, 0)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Serve, run the child, sample it; return the timeline."""
    work = Path(tempfile.mkdtemp(prefix="damsync-rss-"))
    url = f"sqlite:///{work / 'state.db'}"
    upgrade_db(url)
    env = dict(os.environ)
    env.update(dict(item.split("=", 1) for item in args.env))
    samples: list[dict[str, Any]] = []
    with serve_sims(
        work, assets=args.assets, pim_latency=args.latency, dam_latency=args.latency
    ) as sims:
        config = write_config(
            work / "damsync.toml", sims, mode="link", database_url=url, page_size=args.page_size
        )
        if args.inside:
            command = [sys.executable, "-m", "bench.rss_growth", "--child", str(config)]
            command += ["--samples", str(work / "inside.jsonl"), "--every", str(args.every)]
            command += ["--trace"] if args.trace else []
            command += ["--trim"] if args.trim else []
            command += ["--mallopt-mmap-threshold", str(args.mallopt_mmap_threshold)]
        else:
            command = [DAMSYNC, "sync", "--once", "--config", str(config)]
        started = time.monotonic()
        with (work / "daemon.log").open("wb") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=log, env=env, cwd=Path.cwd())
        while True:
            time.sleep(args.every)
            # Reaped here (not by Popen.poll) so that its rusage, the peak RSS, is ours to read.
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                sample = {"t": round(time.monotonic() - started, 1), **memory(proc.pid)}
            except (FileNotFoundError, ProcessLookupError, KeyError):
                continue
            sample["written"] = written(sims.pim_url)
            sample["db_mib"] = round(
                sum(f.stat().st_size for f in work.glob("state.db*")) / 2**20, 1
            )
            samples.append(sample)
            print(json.dumps(sample), flush=True)
        proc.returncode = os.waitstatus_to_exitcode(status)
        final_written = written(sims.pim_url)
    result = {
        "assets": args.assets,
        "env": args.env,
        "inside": args.inside,
        "trace": args.trace,
        "trim": args.trim,
        "mallopt_mmap_threshold": args.mallopt_mmap_threshold,
        "written": final_written,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "wall_s": round(time.monotonic() - started, 1),
        "exit": proc.returncode,
        "workdir": str(work),
        "samples": samples,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.05, help="both simulators, s/request")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument(
        "--inside",
        action="store_true",
        help="sample the child from inside too (glibc heap, SQLite memory): inside.jsonl",
    )
    parser.add_argument("--trace", action="store_true", help="with --inside: under tracemalloc")
    parser.add_argument(
        "--trim", action="store_true", help="with --inside: malloc_trim(0) at every sample"
    )
    parser.add_argument(
        "--mallopt-mmap-threshold",
        type=int,
        default=0,
        metavar="BYTES",
        help="with --inside: mallopt(M_MMAP_THRESHOLD, BYTES) in the child before damsync runs",
    )
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--out", type=Path, default=None, help="write the timeline as JSON")
    parser.add_argument("--child", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(
            args.child,
            args.samples,
            args.every,
            trace=args.trace,
            trim=args.trim,
            mmap_threshold=args.mallopt_mmap_threshold,
        )
    result = run(args)
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary), flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
