"""bench/startup.py: several trees run interleaved, and the table gives paired differences."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench import startup


def test_trees_run_interleaved_round_by_round_after_one_warm_up(monkeypatch):
    calls: list[tuple[str, str]] = []

    def fake(root: Path, args, *, accepted):
        calls.append((root.name, args[0]))
        return (0.1, 0.05)

    monkeypatch.setattr(startup, "_damsync", fake)
    trees = [(Path("/t/before"), Path("/c/0.toml")), (Path("/t/after"), Path("/c/1.toml"))]
    measured = startup.time_interleaved(trees, ["status --config {config}", "runs"], runs=2)

    one_round = [("before", "status"), ("after", "status"), ("before", "runs"), ("after", "runs")]
    assert one_round * 3 == calls  # the warm-up round, then two timed rounds
    assert [[2, 2], [2, 2]] == [[len(runs) for runs in tree] for tree in measured]


def test_the_paired_table_gives_each_tree_and_the_median_of_the_same_round_differences():
    # Round 2 was slow for both trees (load): the paired difference ignores it.
    before = [[(0.300, 0.280), (0.900, 0.290), (0.310, 0.285)]]
    after = [[(0.280, 0.270), (0.880, 0.270), (0.300, 0.280)]]
    text = startup.paired_table(
        [Path("/t/before"), Path("/t/after")], ["status --config {config}"], [before, after]
    )
    head, rule, row = text.splitlines()
    assert "| command | before wall | CPU | after wall | CPU | Δ wall | Δ CPU |" == head
    assert rule.count("---") == 7
    assert "| `damsync status --config C` | 310 | 285 | 300 | 270 | -20 | -10 |" == row


@pytest.mark.parametrize("runs", [1, 3])
def test_one_tree_keeps_the_single_table(monkeypatch, runs):
    monkeypatch.setattr(startup, "_damsync", lambda root, args, *, accepted: (0.2, 0.1))
    timing = startup.time_command(Path("/t"), "--version", Path("/c.toml"), runs)
    assert (0.2, 0.2, 0.2, 0.1) == (timing.median, timing.fastest, timing.slowest, timing.cpu)
    assert "| `damsync --version` | 200 | 200 | 200 | 100 |" in startup.table([timing])


def test_instructions_are_read_from_callgrind_after_a_warm_up_run(monkeypatch):
    warmed: list[list[str]] = []

    def warm(root, args, *, accepted):
        warmed.append(list(args))
        return (0.0, 0.0)

    monkeypatch.setattr(startup, "_damsync", warm)
    seen: dict[str, object] = {}

    def run(argv, **kwargs):
        seen.update(argv=argv, env=kwargs["env"], cwd=kwargs["cwd"])
        stderr = b"==1== Collected : 1690068110\n==1==\n==1== I   refs:      1,690,068,110\n"
        return subprocess.CompletedProcess(argv, 1, b"", stderr)

    monkeypatch.setattr(subprocess, "run", run)
    template = "failures show 1 --config {config}"
    count = startup.count_instructions(Path("/t/after"), template, Path("/c.toml"))

    assert 1_690_068_110 == count
    assert [["failures", "show", "1", "--config", "/c.toml"]] == warmed
    argv = seen["argv"]
    assert isinstance(argv, list) and argv[:2] == ["valgrind", "--tool=callgrind"]
    assert ["-m", "daemon", "failures", "show", "1", "--config", "/c.toml"] == argv[-7:]
    env = seen["env"]
    assert isinstance(env, dict) and "0" == env["PYTHONHASHSEED"]


def test_a_command_failing_under_valgrind_stops_the_bench(monkeypatch):
    monkeypatch.setattr(startup, "_damsync", lambda root, args, *, accepted: (0, 0))
    monkeypatch.setattr(
        subprocess,
        "run",
        lambda argv, **kwargs: subprocess.CompletedProcess(argv, 2, b"", b"Error: bad config"),
    )
    with pytest.raises(SystemExit, match="exited 2: Error: bad config"):
        startup.count_instructions(Path("/t"), "status --config {config}", Path("/c.toml"))


def test_the_instructions_table_gives_millions_and_the_difference_with_the_first_tree():
    text = startup.instructions_table(
        [Path("/t/before"), Path("/t/after")],
        ["status --config {config}"],
        [[1_797_420_639], [1_706_634_778]],
    )
    head, _, row = text.splitlines()
    assert "| command | before M instr | after M instr | Δ M | Δ % |" == head
    assert "| `damsync status --config C` | 1797.4 | 1706.6 | -90.8 | -5.05 |" == row
