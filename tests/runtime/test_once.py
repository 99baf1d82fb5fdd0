"""`damsync sync --once`: exit codes, and `--dry-run` writing nothing."""

from __future__ import annotations

import httpx
import pytest

from tests.runtime.conftest import cli, migrate, query, write_config

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

BULK = "PATCH /api/rest/v1/asset-families/{family}/assets"


def writes(stats) -> int:
    return sum(
        sum(counts.values())
        for key, counts in stats["requests"].items()
        if key.startswith(("PATCH", "POST /api/rest/v1/asset-media-files"))
    )


def test_once_exit_codes_and_dry_run(tmp_path, sims):
    """--dry-run writes neither the PIM, the checkpoint nor the failures; a failing asset exits
    1 and is recorded; once the DAM fixes it, the next pass exits 0."""
    db = tmp_path / "state.db"
    url = f"sqlite:///{db}"
    config = str(write_config(tmp_path / "c.toml", sims, store_url=url))
    migrate(url)
    bad = next(a for a in sims.dam_assets() if a["type"] == "image" and not a["deleted"])
    metadata = dict(bad["metadata"], width="twelve")
    httpx.post(f"{sims.dam.url}/_sim/mutate", json={"id": bad["id"], "metadata": metadata})

    dry = cli(["sync", "--once", "--dry-run", "--config", config])
    assert 1 == dry.returncode, dry.stdout + dry.stderr  # the bad value is found, not sent
    assert "failed 1" in dry.stdout
    assert '"dam_id": "a-' in dry.stdout  # what would be sent, per asset
    assert [] == query(db, "SELECT dam_id FROM sync_failures")
    assert 0 == writes(sims.pim_stats())
    assert set() == {c for (c,) in query(db, "SELECT cursor_id FROM sync_checkpoints")} - {None}
    assert [] == query(db, "SELECT dam_id FROM asset_states")

    failing = cli(["sync", "--once", "--config", config])
    assert 1 == failing.returncode, failing.stdout + failing.stderr
    assert "failed 1" in failing.stdout
    assert [(bad["id"],)] == query(db, "SELECT dam_id FROM sync_failures")
    assert 0 < writes(sims.pim_stats())

    httpx.post(f"{sims.dam.url}/_sim/mutate", json={"id": bad["id"], "metadata": bad["metadata"]})
    clean = cli(["sync", "--once", "--config", config])
    assert 0 == clean.returncode, clean.stdout + clean.stderr
    assert "failed 0" in clean.stdout
