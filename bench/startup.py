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
e.g. a copy taken before a change (``git archive HEAD | tar -x -C DIR``). Given several times
(``--root BEFORE --root AFTER``), the trees run *interleaved*, each command in each tree in
turn within every round, each tree with its own store migrated by its own code, and a second
table gives the median of the paired differences with the first tree: on a machine other work
loads unevenly, that compares before and after at the same moments, where two separate runs
would compare two different loads.

``--instructions`` counts, instead of timing, the instructions each command executes, with
valgrind's callgrind (one run per command and tree, after a run that writes the bytecode
caches; ``PYTHONHASHSEED=0``): the count is the same from run to run to within a few thousand,
whatever else loads the machine, so a change of a tenth of a percent shows. It is about fifty
times slower than a run, and needs ``valgrind`` on the PATH.
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
    args, accepted = _command(template, config)
    _damsync(root, args, accepted=accepted)
    return summarise(template, [_damsync(root, args, accepted=accepted) for _ in range(runs)])


def time_interleaved(
    trees: Sequence[tuple[Path, Path]], templates: Sequence[str], runs: int
) -> list[list[list[tuple[float, float]]]]:
    """
    Time every command in every tree, interleaved: round after round, command after command,
    each tree in turn, so that the trees share the machine's load of each moment.

    Args:
        trees: Each source tree with its throwaway configuration.
        templates: The commands, ``{config}`` standing for the configuration file.
        runs: Timed rounds (after one warm-up round).

    Returns:
        ``measured[tree][command]``: the (wall, CPU) seconds of each round.
    """
    measured: list[list[list[tuple[float, float]]]] = [[[] for _ in templates] for _ in trees]
    for round_no in range(runs + 1):
        for c, template in enumerate(templates):
            for t, (root, config) in enumerate(trees):
                args, accepted = _command(template, config)
                took = _damsync(root, args, accepted=accepted)
                if round_no:  # round 0 warms the file cache and writes the bytecode
                    measured[t][c].append(took)
    return measured


def _command(template: str, config: Path) -> tuple[list[str], tuple[int, ...]]:
    """The arguments of one command and the exit codes it may end with."""
    return template.format(config=config).split(), (0, *ACCEPTED_CODES.get(template, ()))


def summarise(template: str, measured: Sequence[tuple[float, float]]) -> Timing:
    """The median, fastest and slowest wall time and the median CPU time of some runs."""
    walls = [wall for wall, _ in measured]
    cpus = [cpu for _, cpu in measured]
    return Timing(
        template, statistics.median(walls), min(walls), max(walls), statistics.median(cpus)
    )


def _shown(template: str) -> str:
    return "`damsync " + template.replace(" --config {config}", " --config C") + "`"


def table(timings: Sequence[Timing]) -> str:
    """The timings as a Markdown table (milliseconds)."""
    lines = [
        "| command | median ms | fastest ms | slowest ms | CPU ms |",
        "|---|---|---|---|---|",
    ]
    for t in timings:
        lines.append(
            f"| {_shown(t.command)} | {t.median * 1000:.0f} | {t.fastest * 1000:.0f} | "
            f"{t.slowest * 1000:.0f} | {t.cpu * 1000:.0f} |"
        )
    return "\n".join(lines)


def paired_table(
    roots: Sequence[Path],
    templates: Sequence[str],
    measured: Sequence[Sequence[Sequence[tuple[float, float]]]],
) -> str:
    """
    Per command, each tree's median wall and CPU time, and the median of its paired (same
    round) differences with the first tree, as a Markdown table (milliseconds).
    """
    head = ["command"]
    for i, root in enumerate(roots):
        head += [f"{root.name or root} wall", "CPU"]
        if i:
            head += ["Δ wall", "Δ CPU"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c, template in enumerate(templates):
        cells = [_shown(template)]
        base = measured[0][c]
        for t in range(len(roots)):
            runs = measured[t][c]
            cells.append(f"{statistics.median(w for w, _ in runs) * 1000:.0f}")
            cells.append(f"{statistics.median(u for _, u in runs) * 1000:.0f}")
            if t:
                walls = [(w - b) * 1000 for (w, _), (b, _) in zip(runs, base, strict=True)]
                cpus = [(u - b) * 1000 for (_, u), (_, b) in zip(runs, base, strict=True)]
                cells.append(f"{statistics.median(walls):+.0f}")
                cells.append(f"{statistics.median(cpus):+.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def count_instructions(root: Path, template: str, config: Path) -> int:
    """
    The instructions one run of a command executes, counted by valgrind's callgrind.

    Args:
        root: The source tree whose ``damsync`` runs.
        template: The command, ``{config}`` standing for the configuration file.
        config: The throwaway configuration.

    Returns:
        The count (callgrind's ``I refs``).
    """
    args, accepted = _command(template, config)
    _damsync(root, args, accepted=accepted)  # writes the bytecode caches: no compiling counted
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "daemon",
            *args,
        ],
        capture_output=True,
        cwd=root,
        env={**_environment(), "PYTHONHASHSEED": "0"},
        check=False,
    )
    found = re.search(rb"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode not in accepted or found is None:
        raise SystemExit(
            f"valgrind damsync {' '.join(args)} exited {done.returncode}: "
            + done.stderr.decode(errors="replace").strip()[-500:]
        )
    return int(found.group(1).replace(b",", b""))


def instructions_table(
    roots: Sequence[Path], templates: Sequence[str], counts: Sequence[Sequence[int]]
) -> str:
    """
    Per command, each tree's instruction count (millions) and its difference with the first
    tree's, as a Markdown table.
    """
    head = ["command"]
    for i, root in enumerate(roots):
        head.append(f"{root.name or root} M instr")
        if i:
            head += ["Δ M", "Δ %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c, template in enumerate(templates):
        cells = [_shown(template)]
        base = counts[0][c]
        for t in range(len(roots)):
            cells.append(f"{counts[t][c] / 1e6:.1f}")
            if t:
                cells.append(f"{(counts[t][c] - base) / 1e6:+.1f}")
                cells.append(f"{(counts[t][c] - base) / base * 100:+.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Time the commands and print the table(s); exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per command")
    parser.add_argument(
        "--only", action="append", default=[], help="only commands containing this (repeatable)"
    )
    parser.add_argument(
        "--root",
        type=Path,
        action="append",
        default=[],
        help="a source tree to time (default: this one); repeat to compare trees, interleaved",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions with valgrind's callgrind instead of timing (deterministic)",
    )
    args = parser.parse_args(argv)
    roots = [root.resolve() for root in args.root] or [ROOT]
    chosen = [c for c in COMMANDS if not args.only or any(o in c for o in args.only)]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="damsync-startup-") as workdir:
        trees = []
        for i, root in enumerate(roots):
            (Path(workdir) / str(i)).mkdir()
            trees.append((root, throwaway_config(Path(workdir) / str(i), root)))
        if args.instructions:
            counts = [[count_instructions(r, c, config) for c in chosen] for r, config in trees]
            shown = instructions_table(roots, chosen, counts)
            how = "instructions (callgrind, one run each after a warm-up)"
        elif len(trees) == 1:
            root, config = trees[0]
            shown = table([time_command(root, command, config, args.runs) for command in chosen])
            how = f"median of {args.runs} runs after one warm-up"
        else:
            shown = paired_table(roots, chosen, time_interleaved(trees, chosen, args.runs))
            how = f"median of {args.runs} runs after one warm-up, interleaved"
    print(
        f"{', '.join(map(str, roots))}: python {platform.python_version()}, "
        f"{os.cpu_count()} cores, {how}, "
        f"1-minute load {load_before:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    print(shown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
