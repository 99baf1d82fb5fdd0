"""
The floor client (bench/floor.py) on a tiny workload: it writes every asset, nothing else.

A smoke test of its machinery (pre-built bodies, raw HTTP pools, the media upload then PATCH),
not of its timings: only counts are asserted.
"""

from __future__ import annotations

import pytest

from bench.floor import run_floor
from bench.harness import serve_sims, write_config

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ASSETS = 250  # three DAM pages, the last one partial


@pytest.mark.parametrize(
    ("mode", "page_size", "pages"), [("link", 100, 3), ("media", 100, 3), ("link", 500, 1)]
)
async def test_floor_writes_every_asset(tmp_path, mode, page_size, pages):
    """Every DAM asset reaches the PIM: one PATCH per 100 (per family), one upload each."""
    with serve_sims(tmp_path, assets=ASSETS, pim_latency=0.0, dam_latency=0.0) as sims:
        config = write_config(
            tmp_path / "damsync.toml", sims, mode=mode, database_url="sqlite:///unused.db"
        )
        run = await run_floor(config, sims, mode=mode, page_size=page_size)
    assert [] == run.errors
    assert (ASSETS, ASSETS) == (run.assets, run.written), run
    assert (pages, page_size) == (run.pages, run.page_size), run
    if mode == "link":
        assert (3, 0) == (run.asset_patches, run.uploads), run
    else:
        assert ASSETS == run.uploads, run
        assert 3 <= run.asset_patches <= 4, run  # two families, each cut at 100
    assert run.pim_requests == run.asset_patches + run.uploads, run
    assert run.cpu_s > 0 and run.assets_per_s > 0
