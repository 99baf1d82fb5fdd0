"""
``python -m bench.pam_memtrace --assets 12000 --every 3000 --out DIR``: where a PAM migration's
memory goes.

The same rig as :mod:`bench.pam_migration` (both simulators in their own processes), but the
migrating child is instrumented: every ``--every`` assets of the survey pass (marks ``-1``,
``-2001``, ...: negative) and of the write pass (``0``, ``2000``, ...) it writes to
``DIR/rss.tsv`` its RSS, anonymous and file-backed pages (``/proc/self/smaps_rollup``), the
objects by type grown since the last mark, the allocated blocks and the largest containers,
after a full ``gc.collect()``. With ``PAM_MEMTRACE_MODE=trace`` it also runs :mod:`tracemalloc`
and dumps a snapshot per mark (``snap-<n>.pickle``); ``--compare A B`` prints the top growth
between two, by traceback (slow: several times slower than the plain run).

Mind the ``gc.collect()`` at each mark: it frees what only a full collection frees, which is
what hid issue 18's growth (page bodies kept by httpx's reference cycles) from these figures;
compare with ``bench.pam_migration``'s RSS timeline, which does not touch the child.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

FRAMES = 12


def _rollup() -> dict[str, int]:
    """kB figures of this process: Rss, Anonymous, and the file-backed rest."""
    figures: dict[str, int] = {}
    with open("/proc/self/smaps_rollup", encoding="ascii") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == "kB":
                figures[parts[0].rstrip(":")] = int(parts[1])
    return figures


def _child(out: Path, every: int, argv: list[str]) -> None:
    import gc
    from collections import Counter, deque

    trace = os.environ.get("PAM_MEMTRACE_MODE", "gc") == "trace"
    if trace:
        tracemalloc.start(FRAMES)
    before: Counter[str] | None = None
    from daemon.cli import main
    from daemon.engine import pam_write

    seen = 0
    add = pam_write.PamWriter.add
    rss = (out / "rss.tsv").open("w", encoding="utf-8")
    rss.write("assets\tRss_kB\tAnonymous_kB\tfile_kB\ttraced_kB\n")

    def mark(count: int) -> None:
        figures = _rollup()
        current, _ = tracemalloc.get_traced_memory()
        anon = figures.get("Anonymous", 0)
        rss.write(f"{count}\t{figures['Rss']}\t{anon}\t{figures['Rss'] - anon}\t{current >> 10}\n")
        nonlocal before
        gc.collect()
        types = Counter(type(o).__name__ for o in gc.get_objects())
        if before is not None:
            rss.write(f"  objects grown: {(types - before).most_common(10)}\n")
        before = types
        big = sorted(
            (sys.getsizeof(o), type(o).__name__, len(o), id(o))
            for o in gc.get_objects()
            if isinstance(o, (dict, list, set, deque))
        )[-6:]
        rss.write(f"  blocks {sys.getallocatedblocks()} largest containers: {big}\n")
        rss.flush()
        if trace:
            tracemalloc.take_snapshot().dump(str(out / f"snap-{count}.pickle"))

    async def traced_add(self: Any, asset: Any) -> None:
        nonlocal seen
        if seen % every == 0:
            mark(seen)
        seen += 1
        await add(self, asset)

    pam_write.PamWriter.add = traced_add  # type: ignore[method-assign]
    from daemon.engine import pam_survey

    surveyed = 0
    survey_add = pam_survey.PamSurvey.add

    def traced_survey_add(self: Any, family: str | None, asset: Any) -> None:
        nonlocal surveyed
        if surveyed % every == 0:
            mark(-surveyed - 1)  # negative: the survey pass
        surveyed += 1
        survey_add(self, family, asset)

    pam_survey.PamSurvey.add = traced_survey_add  # type: ignore[method-assign]
    sys.argv = ["damsync", *argv]
    try:
        main()
    finally:
        mark(seen)
        rss.close()


def compare(out: Path, first: int, second: int, top: int = 15) -> None:
    """The top growth between two snapshots, by traceback."""
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    old = tracemalloc.Snapshot.load(str(out / f"snap-{first}.pickle")).filter_traces(ignore)
    new = tracemalloc.Snapshot.load(str(out / f"snap-{second}.pickle")).filter_traces(ignore)
    stats = new.compare_to(old, "traceback")
    total = sum(s.size_diff for s in stats)
    print(f"traced growth {first} -> {second}: {total / 1024:.0f} KiB")
    for stat in stats[:top]:
        print(f"\n{stat.size_diff / 1024:+.1f} KiB, {stat.count_diff:+d} blocks")
        for line in stat.traceback.format()[-FRAMES * 2 :]:
            print("   ", line)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        out, every = Path(sys.argv[2]), int(sys.argv[3])
        _child(out, every, sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=12_000)
    parser.add_argument("--every", type=int, default=3_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--compare", type=int, nargs=2)
    args = parser.parse_args()
    if args.compare:
        compare(args.out, *args.compare)
        return
    from bench.pam_migration import run_once

    args.out.mkdir(parents=True, exist_ok=True)
    launcher = [sys.executable, "-m", "bench.pam_memtrace", "--child", str(args.out)]
    launcher.append(str(args.every))
    with tempfile.TemporaryDirectory(prefix="pam-trace-") as tmp:
        run = run_once(
            args.assets, latency=args.latency, products=0, workdir=Path(tmp), launcher=launcher
        )
        print(run)
        print((Path(tmp) / "migrate.log").read_text(encoding="utf-8")[-2000:])
    print((args.out / "rss.tsv").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
