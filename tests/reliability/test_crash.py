"""
Crash safety: ``damsync sync --once`` killed with SIGKILL at seeded random points, then restarted.

Promises checked:
- after every kill, the stored checkpoint never passed an asset that is neither written to the
  PIM with its current values nor in the failures table (rule: commit the cursor only in the
  transaction that records the batch the PIM acknowledged);
- after a final clean pass the PIM holds exactly the DAM's live assets and values;
- each media file is uploaded at most once more than needed (a kill between upload and commit
  costs one re-upload; otherwise the media code is reused);
- kills across code template changes (re-keys) and rules no longer matching (withdrawals), with
  ``delete_policy = "delete"``, leave no PIM asset under an old code, lose no DAM asset, and no
  state row (``pim_owners``, ``asset_states``) claims a PIM asset that does not exist.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from daemon.store import Store
from tests.reliability.conftest import Sims, config_text, differences, mismatch, pim_code
from tests.reliability.rekey_world import rekey_config, rekey_problems, withdraw

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAMSYNC = Path(sys.executable).with_name("damsync")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def run_daemon(config: Path, kill_after: float | None, *flags: str) -> int | None:
    """
    Run ``damsync sync --once [flags]``; SIGKILL it after ``kill_after`` seconds (None: let it
    finish).

    Returns:
        The exit code, or None when it was killed before finishing.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAMSYNC_")}
    process = subprocess.Popen(
        [str(DAMSYNC), "sync", "--once", "--config", str(config), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        process.wait(timeout=kill_after if kill_after is not None else 90)
        return process.returncode
    except subprocess.TimeoutExpired:
        if kill_after is None:
            raise
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        return None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def checkpoint_violations(sims: Sims, store: Store) -> list[str]:
    """
    DAM assets at or before the stored cursor that are neither current in the PIM nor failed.

    Returns:
        One line per violation (empty: the promise holds).
    """
    checkpoint = store.load_checkpoint("demo")
    if checkpoint is None or checkpoint.cursor is None:
        return []
    cursor = (checkpoint.cursor.updated_at, checkpoint.cursor.id)
    failed = {f.dam_id for f in store.list_failures("demo")}
    pim = sims.pim_state()
    problems = []
    for asset in sims.dam_assets():
        if (parse_time(asset["updated_at"]), asset["id"]) > cursor or asset["id"] in failed:
            continue
        item = pim.get(pim_code(asset))
        if asset["deleted"]:
            if item is not None:
                problems.append(f"{asset['id']}: deleted in the DAM, still in the PIM")
        elif (reason := mismatch(asset, item)) is not None:
            problems.append(f"{asset['id']}: {reason} (cursor {cursor})")
    return problems


def live_binaries(sims: Sims) -> set[tuple[str, int]]:
    assets = sims.dam_client.get("/_sim/assets", params={"compact": 1}).json()["items"]
    return {(a["id"], a["file_version"]) for a in assets if not a["deleted"]}


def crash_loop(sims: Sims, tmp_path: Path, kills: int, seed: int) -> dict[str, Any]:
    """Kill and restart the daemon ``kills`` times, checking the checkpoint after each kill."""
    db = tmp_path / "state.db"
    config = tmp_path / "damsync.toml"
    config.write_text(config_text(sims.pim.url, sims.dam.url, f"sqlite:///{db}"))
    assert (
        0
        == subprocess.run(
            [str(DAMSYNC), "db", "upgrade", "--database-url", f"sqlite:///{db}"],
            capture_output=True,
            timeout=60,
        ).returncode
    )
    rng = random.Random(seed)
    # Slow enough that the first sync (150 uploads, 4 in flight) outlasts the first kill time
    # whatever the daemon's speed: the test must kill passes mid-way, not after they end.
    sims.pim_options(latency=0.1)
    sims.dam_options(latency=0.005)
    store = Store.from_url(f"sqlite:///{db}")
    binaries = live_binaries(sims)
    outcomes = []
    try:
        for i in range(kills):
            if i % 2 == 1:
                sims.tick()
                binaries |= live_binaries(sims)
            outcomes.append(run_daemon(config, kill_after=rng.uniform(1.0, 4.0)))
            time.sleep(1.1)  # the dead holder's lease (lease_ttl = 1 s) must expire first
            assert [] == checkpoint_violations(sims, store), f"after kill {i}"
        sims.heal()
        assert run_daemon(config, kill_after=None) in (0, 1)
        assert [] == differences(sims)
        assert [] == store.list_failures("demo")
    finally:
        store.dispose()
    uploads = int(sims.pim_stats()["uploads"])
    return {"uploads": uploads, "binaries": len(binaries), "outcomes": outcomes}


@pytest.mark.parametrize("sims", [{"assets": 150}], indirect=True)
def test_sigkill_at_random_points_loses_nothing(sims, tmp_path):
    """Eight seeded SIGKILLs (paging, upload, PATCH, commit) never let the cursor pass a loss."""
    figures = crash_loop(sims, tmp_path, kills=8, seed=20261123)
    assert None in figures["outcomes"]  # at least one pass really was killed mid-way
    assert figures["uploads"] <= 2 * figures["binaries"], figures


@pytest.mark.heavy
@pytest.mark.parametrize("sims", [{"assets": 400}], indirect=True)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_many_times_loses_nothing(sims, tmp_path, seed):
    """Thirty seeded SIGKILLs per seed on a bigger DAM keep every promise of the default run."""
    figures = crash_loop(sims, tmp_path, kills=30, seed=seed)
    assert figures["uploads"] <= 2 * figures["binaries"], figures


@pytest.mark.parametrize("sims", [{"assets": 150}], indirect=True)
def test_sigkill_across_rekeys_and_withdrawals_leaves_no_orphan(sims, tmp_path):
    """Kills while two template changes and withdrawals run leave the PIM equal to the DAM."""
    db = tmp_path / "state.db"
    url = f"sqlite:///{db}"
    config = tmp_path / "damsync.toml"
    upgrade = [str(DAMSYNC), "db", "upgrade", "--database-url", url]
    assert 0 == subprocess.run(upgrade, capture_output=True, timeout=60).returncode
    rng = random.Random(20261124)
    sims.pim_options(latency=0.01)
    sims.dam_options(latency=0.005)
    withdrawn: set[str] = set()
    outcomes = []
    # Each stage: a code template (images, PDFs), then kills; a stage after the first re-keys
    # every asset (read in full) and withdraws a few from every rule.
    stages = [("{id}", "notice_{id}"), ("v2_{id}", "v2n_{id}"), ("v3_{id}", "v3n_{id}")]
    for number, (image_code, pdf_code) in enumerate(stages):
        config.write_text(rekey_config(sims, url, image_code, pdf_code))
        flags = ("--full",) if number else ()
        if number:
            withdrawn |= withdraw(sims, rng, 4)
        for _kill in range(2):
            outcomes.append(run_daemon(config, rng.uniform(1.0, 3.5), *flags))
            time.sleep(1.1)  # the dead holder's lease (lease_ttl = 1 s) must expire first
    sims.heal()
    assert run_daemon(config, None, "--full") in (0, 1)
    store = Store.from_url(url)
    try:
        assert [] == store.list_failures("demo")
        assert [] == rekey_problems(sims, store, *stages[-1], withdrawn)
    finally:
        store.dispose()
    assert None in outcomes  # at least one pass really was killed mid-way
