"""
The httpx floor (bench/httpx_floor.py) on a tiny media workload: every binary is downloaded and
uploaded once, through plain or tuned httpx clients, and nothing else reaches the PIM.

A smoke test of its machinery, not of its timings: only counts are asserted.
"""

from __future__ import annotations

import argparse

import pytest

from bench.harness import delta, request_counts, serve_sims, sim_stats, write_config
from bench.httpx_floor import _headers, run_httpx
from bench.run import run_httpx_beside

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ASSETS = 60


@pytest.mark.parametrize("tuned", [False, True])
async def test_every_binary_goes_once(tmp_path, tuned):
    with serve_sims(tmp_path, assets=ASSETS, pim_latency=0.0, dam_latency=0.0) as sims:
        config = write_config(
            tmp_path / "damsync.toml", sims, mode="media", database_url="sqlite:///unused.db"
        )
        dam_before = request_counts(sim_stats(sims.dam_url))
        run = await run_httpx(config, sims, transfers=3, tuned=tuned)
        dam = delta(request_counts(sim_stats(sims.dam_url)), dam_before)
    assert [] == run.errors
    assert (ASSETS, ASSETS, tuned) == (run.assets, run.uploads, run.tuned), run
    # The preparation lists the DAM; the timed part downloads each binary once.
    assert ASSETS == dam.get("GET /generic/files/{id}/{version:int}", 0), dam
    assert run.cpu_us_per_asset > 0 and run.assets_per_s > 0


def test_beside_a_workload_it_uploads_to_a_fresh_pim(tmp_path):
    """``bench.run --httpx-floor``: the workload's DAM, a fresh PIM (the workload's untouched)."""
    with serve_sims(tmp_path, assets=ASSETS, pim_latency=0.0, dam_latency=0.0) as sims:
        before = request_counts(sim_stats(sims.pim_url))
        run = run_httpx_beside(tmp_path, sims, 4, argparse.Namespace(latency=0.0))
        after = request_counts(sim_stats(sims.pim_url))
    assert [] == run.errors
    assert (ASSETS, ASSETS, True, 4) == (run.assets, run.uploads, run.tuned, run.transfers), run
    assert before == after


def test_raw_credential_lines_become_headers():
    assert {} == _headers("")
    assert {"Authorization": "Bearer a: b"} == _headers("Authorization: Bearer a: b\r\n")
