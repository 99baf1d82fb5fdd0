"""
``python -m bench.cpu_split``: where one pass's CPU goes, by part, without a profiler's overhead.

Serves the simulators with no latency and runs two ``damsync sync --once`` child processes on a
fresh SQLite store: the pass over N changed assets, then an idle pass (start-up, one DAM
request, nothing to write). Each child runs the daemon's own command line with every public
:class:`~daemon.store.Store` method wrapped in a thread CPU clock (``time.thread_time``, the
outermost call only), so the store's share is the CPU of the threads running SQLite and its
SQLAlchemy glue. Prints, per asset: the whole (``os.wait4``), the fixed cost (the idle pass:
interpreter, imports, configuration, clients), the store by method, and the rest (mapping,
HTTP, event loop, kernel network stack).

The wrappers cost about a microsecond per store call (a handful per batch): negligible here.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from bench.harness import Mode

#: The child writes its store figures here (a JSON object: method -> [calls, seconds]).
SPLIT_FILE = "DAMSYNC_BENCH_SPLIT_FILE"


def _child(argv: list[str]) -> None:
    """Run the daemon's command line with the store's methods timed; write the figures."""
    from daemon.cli.main import main as damsync
    from daemon.store import Store

    seconds: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    depth = threading.local()

    def timed(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            outer = not getattr(depth, "n", 0)
            depth.n = getattr(depth, "n", 0) + 1
            started = time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                depth.n -= 1
                if outer:
                    seconds[name] += time.thread_time() - started
                    calls[name] += 1

        return wrapper

    for name, member in inspect.getmembers(Store, inspect.isfunction):
        if not name.startswith("_"):
            setattr(Store, name, timed(name, member))
    try:
        damsync.main(args=argv, prog_name="damsync")
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    figures = {name: [calls[name], seconds[name]] for name in seconds}
    Path(os.environ[SPLIT_FILE]).write_text(json.dumps(figures), encoding="utf-8")
    sys.exit(code)


def _run(
    root: Path, work: Path, config: Path, name: str
) -> tuple[float, dict[str, list[float]], int]:
    """One ``sync --once`` child run from ``root``: its CPU seconds, store figures, exit code."""
    split = work / f"{name}.json"
    env = {**os.environ, SPLIT_FILE: str(split)}
    cmd = [sys.executable, "-m", "bench.cpu_split", "--child", "sync", "--once"]
    with (work / f"{name}.log").open("wb") as out:
        child = subprocess.Popen(
            [*cmd, "--config", str(config)], cwd=root, env=env, stdout=out, stderr=out
        )
        _, status, usage = os.wait4(child.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    child.returncode = code  # reaped by wait4
    if code != 0:
        sys.stderr.write((work / f"{name}.log").read_text(errors="replace")[-3000:])
    figures = json.loads(split.read_text(encoding="utf-8")) if split.exists() else {}
    return usage.ru_utime + usage.ru_stime, figures, code


def main(argv: list[str] | None = None) -> int:
    """
    Run the two passes and print one JSON line.

    Returns:
        The first failing child's exit code, else 0.
    """
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["--child"]:
        _child(args_in[1:])
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_split", description=__doc__)
    parser.add_argument("--assets", type=int, default=10000)
    parser.add_argument("--mode", choices=("link", "media"), default="link")
    args = parser.parse_args(args_in)
    # Here, not at the top: the children import this module and must not load the simulators.
    from bench.harness import ROOT, zero_latency_pass

    mode = cast("Mode", args.mode)
    started = time.perf_counter()
    with zero_latency_pass("damsync-split-", assets=args.assets, mode=mode) as (work, config):
        cpu, store, code = _run(ROOT, work, config, "pass")
        idle_cpu, _, idle_code = _run(ROOT, work, config, "idle")
    n = args.assets
    store_s = sum(seconds for _, seconds in store.values())
    per_asset = {
        "whole": cpu,
        "fixed (idle pass)": idle_cpu,
        "store": store_s,
        "rest": cpu - idle_cpu - store_s,
    }
    print(
        json.dumps(
            {
                "mode": args.mode,
                "assets": n,
                "wall_s": round(time.perf_counter() - started, 1),
                "us_per_asset": {k: round(v / n * 1e6, 1) for k, v in per_asset.items()},
                "store_us_per_asset": {
                    name: round(seconds / n * 1e6, 1)
                    for name, (_, seconds) in sorted(store.items(), key=lambda kv: -kv[1][1])
                },
                "store_calls": {name: int(calls) for name, (calls, _) in sorted(store.items())},
                "load": round(os.getloadavg()[0], 2),
                "exit_codes": [code, idle_code],
            }
        )
    )
    return code or idle_code


if __name__ == "__main__":
    sys.exit(main())
