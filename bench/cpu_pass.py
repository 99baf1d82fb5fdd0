"""
``python -m bench.cpu_pass``: the daemon's own cost of one pass, without a profiler in the way.

Serves the simulators with no latency (the pass is CPU-bound), runs one ``damsync sync --once``
over N changed assets as a child process and prints its CPU time (user + system, threads
included), CPU per asset, minor page faults and peak RSS, all from ``os.wait4``. Run it a few
times, alternating two trees (``PYTHONPATH=TREE``), to compare changes on a shared machine:
``bench.run`` gives the figures at 50 ms, this one the CPU alone, in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import cast

from bench.harness import ROOT, Mode, zero_latency_pass


def main(argv: list[str] | None = None) -> int:
    """
    Run the pass and print one JSON line.

    Returns:
        The daemon's exit code.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_pass", description=__doc__)
    parser.add_argument("--assets", type=int, default=3000)
    parser.add_argument("--mode", choices=("link", "media"), default="link")
    parser.add_argument(
        "--daemon-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set in the measured `damsync sync --once` only (e.g. MALLOC_TRIM_THRESHOLD_)",
    )
    args = parser.parse_args(argv)
    env = dict(os.environ)
    env.update(pair.split("=", 1) for pair in args.daemon_env)
    mode = cast(Mode, args.mode)
    with zero_latency_pass("damsync-cpu-", assets=args.assets, mode=mode) as (work, config):
        cmd = [sys.executable, "-m", "daemon", "sync", "--once", "--config", str(config)]
        started = time.perf_counter()
        with (work / "daemon.log").open("wb") as out:
            child = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=out)
            _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        child.returncode = code  # reaped by wait4: Popen must not wait for it again
        if code != 0:
            sys.stderr.write((work / "daemon.log").read_text(errors="replace")[-3000:])
    cpu = usage.ru_utime + usage.ru_stime
    print(
        json.dumps(
            {
                "mode": args.mode,
                "assets": args.assets,
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "cpu_us_per_asset": round(cpu / args.assets * 1e6),
                "minor_faults": usage.ru_minflt,
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                "load": round(os.getloadavg()[0], 2),
                "exit_code": code,
            }
        )
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
