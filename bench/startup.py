"""
``python -m bench.startup``: how long each light ``damsync`` command takes as a whole process.

Each command runs as its own child process (``python -m daemon ...``, as a user's shell starts
it), once to warm the file cache and then ``--runs`` times; the table gives the median, the
fastest and the slowest wall time measured with ``time.perf_counter`` around
``subprocess.run``, and the median CPU time the child used (user + system, from
``getrusage``: less sensitive than wall time to other work on a shared machine). The commands
read a throwaway configuration (the example one, with its
store pointed at a fresh, migrated SQLite file in a temporary directory); none of them talks to
the PIM or a DAM, so no simulator is needed. Only the standard library is used, so this runs
without the ``bench`` extras.

``--root DIR`` times another copy of the source tree (its ``daemon/`` package and ``config/``),
e.g. a copy taken before a change, so that "before" and "after" run on the same machine at the
same load.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "damsync.example.toml"

#: The light commands (``{config}`` is the throwaway configuration), in the order printed.
COMMANDS: tuple[str, ...] = (
    "--help",
    "--version",
    "status --config {config}",
    "runs --config {config}",
    "failures list --config {config}",
    "failures show 1 --config {config}",
    "checkpoint show --config {config}",
    "checkpoint show --source demo --config {config}",
    "db current --config {config}",
    "status --help",
    "runs --help",
    "failures --help",
    "failures list --help",
    "checkpoint --help",
    "db --help",
    "db upgrade --help",
    "run --help",
    "reload --help",
    "sync --help",
    "validate-config --help",
    "demo --help",
    "sim --help",
)

#: Exit codes a command may end with here: ``failures show 1`` has no failure 1 to show.
ACCEPTED_CODES = {"failures show 1 --config {config}": (1,)}


@dataclass(frozen=True, slots=True)
class Timing:
    """One command's wall times, in seconds."""

    command: str
    median: float
    fastest: float
    slowest: float
    cpu: float


def throwaway_config(workdir: Path, root: Path) -> Path:
    """
    The example configuration with its store in ``workdir``, migrated to head.

    Args:
        workdir: A temporary directory.
        root: The source tree whose ``damsync`` runs.

    Returns:
        The configuration file.
    """
    db_url = f"sqlite:///{(workdir / 'damsync.db').as_posix()}"
    text, count = re.subn(
        r'(?m)^url = "sqlite:///damsync\.db"',
        f'url = "{db_url}"',
        (root / EXAMPLE.relative_to(ROOT)).read_text(encoding="utf-8"),
        count=1,
    )
    if count != 1:
        raise SystemExit(f"{root} has no example store url to replace")
    config = workdir / "damsync.toml"
    config.write_text(text, encoding="utf-8")
    _damsync(root, ["db", "upgrade", "--config", str(config)], accepted=(0,))
    return config


def _damsync(root: Path, args: Sequence[str], *, accepted: Sequence[int]) -> tuple[float, float]:
    """Run ``python -m daemon ARGS`` once in ``root``; returns its wall and CPU seconds."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        # ``-m`` puts the working directory first on sys.path: ``root``'s package is the one run.
        [sys.executable, "-m", "daemon", *args],
        capture_output=True,
        cwd=root,
        env=_environment(),
        check=False,
    )
    took = time.perf_counter() - started
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (now.ru_utime - used.ru_utime) + (now.ru_stime - used.ru_stime)
    if done.returncode not in accepted:
        raise SystemExit(
            f"damsync {' '.join(args)} exited {done.returncode}: "
            + done.stderr.decode(errors="replace").strip()[-500:]
        )
    return took, cpu


def _environment() -> dict[str, str]:
    """The caller's environment without damsync's overrides, so every run reads the same file."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DAMSYNC_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode caches are part of a normal start-up
    return env


def time_command(root: Path, template: str, config: Path, runs: int) -> Timing:
    """
    One warm-up run, then ``runs`` timed runs of one command.

    Args:
        root: The source tree whose ``damsync`` runs.
        template: The command, ``{config}`` standing for the configuration file.
        config: The throwaway configuration.
        runs: Timed runs.

    Returns:
        Its timings.
    """
    args = template.format(config=config).split()
    accepted = (0, *ACCEPTED_CODES.get(template, ()))
    _damsync(root, args, accepted=accepted)
    measured = [_damsync(root, args, accepted=accepted) for _ in range(runs)]
    walls = [wall for wall, _ in measured]
    cpus = [cpu for _, cpu in measured]
    return Timing(
        template, statistics.median(walls), min(walls), max(walls), statistics.median(cpus)
    )


def table(timings: Sequence[Timing]) -> str:
    """The timings as a Markdown table (milliseconds)."""
    lines = [
        "| command | median ms | fastest ms | slowest ms | CPU ms |",
        "|---|---|---|---|---|",
    ]
    for t in timings:
        shown = t.command.replace(" --config {config}", " --config C")
        lines.append(
            f"| `damsync {shown}` | {t.median * 1000:.0f} | {t.fastest * 1000:.0f} | "
            f"{t.slowest * 1000:.0f} | {t.cpu * 1000:.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Time the commands and print the table; exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per command")
    parser.add_argument(
        "--only", action="append", default=[], help="only commands containing this (repeatable)"
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the source tree to time (default: this one)"
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    chosen = [c for c in COMMANDS if not args.only or any(o in c for o in args.only)]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="damsync-startup-") as workdir:
        config = throwaway_config(Path(workdir), root)
        timings = [time_command(root, command, config, args.runs) for command in chosen]
    print(
        f"{root}: python {platform.python_version()}, {os.cpu_count()} cores, "
        f"median of {args.runs} runs after one warm-up, "
        f"1-minute load {load_before:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    print(table(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
