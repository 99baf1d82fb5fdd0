"""
``python -m bench.profile_pass``: where the daemon's CPU goes in one pass.

Serves the simulators with no latency (so the pass is CPU-bound), runs
``python -m cProfile -m daemon sync --once`` over N changed assets and prints the functions
with the most own time, as ``file:line``. docs/benchmarks.md quotes its output.
"""

from __future__ import annotations

import argparse
import pstats
import shutil
import subprocess
import sys
from pathlib import Path
from typing import cast

from bench.harness import ROOT, Mode, zero_latency_pass


def main(argv: list[str] | None = None) -> int:
    """
    Profile one pass and print the hot spots.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.profile_pass", description=__doc__)
    parser.add_argument("--assets", type=int, default=3000)
    parser.add_argument("--mode", choices=("link", "media"), default="link")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--page-size", type=int, default=None, help="DAM items per page (default: the config's)"
    )
    parser.add_argument("--save", type=Path, default=None, help="keep the cProfile output here")
    parser.add_argument(
        "--own",
        action="append",
        default=[],
        metavar="PATH",
        help="also print the total own time of the functions in these files or folders "
        "(repeatable, relative to the repository: daemon/mapping, daemon/core/records.py)",
    )
    args = parser.parse_args(argv)
    with zero_latency_pass(
        "damsync-prof-", assets=args.assets, mode=cast(Mode, args.mode), page_size=args.page_size
    ) as (work, config):
        prof = work / "pass.prof"
        cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "daemon"]
        cmd += ["sync", "--once", "--config", str(config)]
        with (work / "daemon.log").open("wb") as out:
            subprocess.run(cmd, check=True, cwd=ROOT, stdout=out, stderr=out)
        if args.save is not None:
            shutil.copyfile(prof, args.save)
        stats = pstats.Stats(str(prof))
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
        if args.own:
            print_own(stats, args.own)
    return 0


def print_own(stats: pstats.Stats, prefixes: list[str]) -> None:
    """Print the own time and calls of the functions under each prefix, and their sum."""
    table = cast(dict[tuple[str, int, str], tuple[int, int, float, float, object]], stats.stats)  # type: ignore[attr-defined]
    grand = 0.0
    for prefix in prefixes:
        base = str(ROOT / prefix)
        own = calls = 0.0
        for (filename, _line, _name), (_cc, nc, tt, _ct, _callers) in table.items():
            if filename.startswith(base):
                own += tt
                calls += nc
        grand += own
        print(f"own time {prefix}: {own:.3f} s in {int(calls)} calls")
    print(f"own time, all of them: {grand:.3f} s")


if __name__ == "__main__":
    sys.exit(main())
