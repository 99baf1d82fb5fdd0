"""bench/rss_growth.py: the memory split it samples, and bench/run.py's daemon-only environment."""

from __future__ import annotations

import argparse
import os
import sys

import pytest

from bench import rss_growth
from bench.run import daemon_env

linux = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc and glibc")


@linux
def test_rss_is_split_into_anonymous_and_file_backed_pages():
    figures = rss_growth.memory(os.getpid())
    assert figures["rss"] == pytest.approx(figures["anon"] + figures["file"], abs=0.2)
    assert figures["anon"] > 0 and figures["file"] > 0
    assert figures["hwm"] >= figures["rss"] - 0.1
    assert figures["threads"] >= 1


@linux
def test_a_block_past_the_mmap_threshold_counts_as_glibc_mapped_memory():
    before = rss_growth.allocators()["malloc_mmap_mib"]
    block = bytearray(64 * 2**20)  # above glibc's largest dynamic threshold (32 MiB): mapped
    during = rss_growth.allocators()["malloc_mmap_mib"]
    del block
    assert during - before >= 63.9


@linux
def test_pymalloc_figures_are_read_and_stderr_is_given_back(capfd):
    figures = rss_growth.pymalloc()
    assert figures["pymalloc_arenas_mib"] >= 1
    assert 0 < figures["pymalloc_used_mib"] <= figures["pymalloc_arenas_mib"]
    assert "" == capfd.readouterr().err  # the statistics went to the scratch file
    os.write(2, b"still stderr\n")
    assert "still stderr\n" == capfd.readouterr().err


def test_daemon_env_pairs_split_on_the_first_equals_sign():
    args = argparse.Namespace(daemon_env=["MALLOC_MMAP_THRESHOLD_=131072", "X=a=b"])
    assert {"MALLOC_MMAP_THRESHOLD_": "131072", "X": "a=b"} == daemon_env(args)
    assert {} == daemon_env(argparse.Namespace(daemon_env=[]))


@linux
def test_each_glibc_arena_reports_what_it_holds_and_what_of_it_is_free():
    rows = rss_growth.arenas()
    assert rows, "the main arena at least"
    assert all(0 <= free <= held for held, free in rows)
    assert rows[0][0] > 0
