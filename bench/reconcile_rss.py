"""
``python -m bench.reconcile_rss``: peak RSS of ``damsync reconcile`` at 10,000 and 100,000 assets.

For each size the driver serves both simulators (the DAM with that many assets, the PIM with
the demo seed), syncs everything once (``damsync sync --once``, media_link mapping: every asset
in ``packshots``, no binary), so that the store, the DAM and the PIM each hold N assets; then a
probe process runs ``damsync reconcile --format json`` as its only child and reads the child's
peak RSS with ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` (the simulators and this driver
are not counted). Prints both figures and their ratio; the issue's bar is a ratio within 1.15.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.harness import DAMSYNC, serve_sims, upgrade_db, write_config

#: Allowed growth of the peak RSS from 10,000 to 100,000 assets.
LIMIT = 1.15


def probe(config: str) -> int:
    """Run the reconcile as this process's only child; print its peak RSS and exit code."""
    started = time.monotonic()
    command = [DAMSYNC, "reconcile", "--config", config, "--format", "json"]
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    seconds = time.monotonic() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
    figures = {"peak_rss_kib": peak_kib, "exit": done.returncode, "seconds": seconds}
    print(json.dumps({**figures, "stderr": tail}))
    return 0


@dataclass(frozen=True, slots=True)
class Measured:
    """One size: the reconcile's peak RSS, duration and exit code, and the sync before it."""

    assets: int
    peak_rss_kib: int
    exit: int
    seconds: float
    sync_seconds: float
    stderr: list[str]


def one_size(assets: int, workdir: Path) -> Measured:
    """Serve, sync N assets once, then measure one reconcile in a probe process."""
    workdir.mkdir(parents=True, exist_ok=True)
    database = f"sqlite:///{workdir / 'state.db'}"
    with serve_sims(workdir, assets=assets, pim_latency=0.0, dam_latency=0.0) as sims:
        config = write_config(
            workdir / "damsync.toml", sims, mode="link", database_url=database, log_level="warning"
        )
        upgrade_db(database)
        started = time.monotonic()
        synced = subprocess.run(
            [DAMSYNC, "sync", "--once", "--config", str(config)],
            capture_output=True,
            text=True,
            check=False,
        )
        if synced.returncode != 0:
            raise RuntimeError(f"sync --once failed: {synced.stdout}{synced.stderr}")
        sync_seconds = time.monotonic() - started
        answer = subprocess.run(
            [sys.executable, "-m", "bench.reconcile_rss", "--probe", str(config)],
            capture_output=True,
            text=True,
            check=True,
        )
    measured = json.loads(answer.stdout.strip().splitlines()[-1])
    return Measured(assets=assets, sync_seconds=round(sync_seconds, 1), **measured)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--probe", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs=2, default=[10_000, 100_000])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.probe:
        return probe(args.probe)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="damsync-bench-reconcile-"))
    small, large = (one_size(n, root / str(n)) for n in args.sizes)
    ratio = large.peak_rss_kib / small.peak_rss_kib
    for run in (small, large):
        print(
            f"{run.assets:>7} assets: peak RSS {run.peak_rss_kib / 1024:.1f} MiB, "
            f"reconcile {run.seconds:.1f} s (exit {run.exit}), sync {run.sync_seconds} s"
        )
    verdict = "within" if ratio <= LIMIT else "OVER"
    print(f"ratio {ratio:.3f} ({verdict} the {LIMIT:.2f} bar)")
    print(json.dumps({"small": asdict(small), "large": asdict(large), "ratio": round(ratio, 4)}))
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
