"""Reconcile end to end on SQLite and PostgreSQL: each kind of drift found, fixed, then clean."""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, text, update
from sqlalchemy.engine import make_url

from daemon.engine.drift import DriftSummary, report_drift, scan_drift
from daemon.engine.drift_resend import FixResult, fix_drift
from daemon.engine.drift_store import DriftSpill
from daemon.engine.leasing import leased
from daemon.mapping import sanitise_code
from daemon.service.wiring import Services
from daemon.store.tables import pim_owners
from daemon.telemetry.metrics import make_metrics
from tests.engine.conftest import (
    Clock,
    World,
    build_world_settings,
    demo_dam,
    demo_pim,
    opened_world,
)

ASSETS = "/api/rest/v1/asset-families/packshots/assets"


@pytest.fixture(name="pg_url", scope="module")
def _pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this module, dropped at the end."""
    server = os.environ.get("DAMSYNC_TEST_DATABASE_URL")
    if not server:
        if os.environ.get("CI") == "true":
            pytest.fail("DAMSYNC_TEST_DATABASE_URL is not set but CI=true")
        pytest.skip("DAMSYNC_TEST_DATABASE_URL is not set")
    admin = create_engine(make_url(server), isolation_level="AUTOCOMMIT")
    name = f"damsync_t_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(
    name="world",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
async def _world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    clock = Clock()
    env: dict[str, str] = {}
    if request.param == "postgresql":
        env["DAMSYNC_STORE__URL"] = request.getfixturevalue("pg_url")
    settings = build_world_settings(tmp_path, **env)
    prepare = _truncated if request.param == "postgresql" else None
    async with opened_world(settings, demo_dam(clock), demo_pim(), clock, prepare=prepare) as world:
        yield world


def _truncated(services: Services) -> None:
    """Every table emptied: the module shares one PostgreSQL database."""
    with services.store.engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE asset_states, media_files, sync_failures, sync_checkpoints, "
                "sync_runs, sync_leases, source_configs, pim_owners, pending_deletions, "
                "event_inbox, structure_snapshots, dam_clock_readings "
                "CASCADE"
            )
        )


async def pim_call(world: World, method: str, url: str, body: Any = None) -> httpx.Response:
    token = await world._token()
    headers = {"Authorization": f"Bearer {token}"}
    answer = await world.pim.request(method, url, json=body, headers=headers)
    assert answer.status_code < 300, answer.text
    return answer


async def scan(world: World, family: str | None = None) -> tuple[DriftSummary, dict[str, Any]]:
    """Reconcile the ``demo`` source; returns the summary and the items of each kind."""
    runner = world.runner
    mapper = await runner.processor.mappers.get()
    with DriftSpill(family=family) as spill:
        summary = await scan_drift(
            runner.source, world.app.pim, world.services.store, mapper, spill
        )
        items = {
            kind: sorted(i.dam_id for i in spill.items(kind))
            for kind in ("missing", "stale", "orphaned", "deleted")
        }
    return summary, items


async def scan_and_fix(world: World) -> FixResult:
    runner = world.runner
    mapper = await runner.processor.mappers.get()
    store = world.services.store
    with DriftSpill() as spill:
        summary = await scan_drift(runner.source, world.app.pim, store, mapper, spill)
        async with leased(store, "demo", runner.holder, 60) as lease:
            assert lease is not None
            return await fix_drift(
                spill,
                summary,
                runner.source,
                runner.processor,
                lease,
                batch_size=100,
            )


async def hard_delete(world: World, dam_id: str) -> None:
    """Delete an asset with a timestamp older than the cursor: the change feed misses it."""
    body = {"id": dam_id, "deleted": True, "updated_at": "2020-01-01T00:00:00Z"}
    answer = await world.dam.post("/_sim/mutate", json=body)
    assert answer.status_code < 300, answer.text


async def make_drift(world: World) -> dict[str, str]:
    """One asset of each kind of drift, plus an edit damsync must ignore; returns their ids."""
    dam = await world.dam_assets()
    images = [a for a in dam if a["type"] == "image" and not a["deleted"]]
    missing, stale, harmless, orphan, deleted = (a["id"] for a in images[:5])
    await pim_call(world, "DELETE", f"{ASSETS}/{sanitise_code(missing)}")
    edit = {"title": [{"locale": "en_US", "channel": None, "data": "Edited in the PIM"}]}
    await pim_call(world, "PATCH", f"{ASSETS}/{sanitise_code(stale)}", {"values": edit})
    foreign = {"dam_url": [{"locale": None, "channel": None, "data": "https://elsewhere/x"}]}
    await pim_call(world, "PATCH", f"{ASSETS}/{sanitise_code(harmless)}", {"values": foreign})
    # Deleted in the DAM, swept, then put back in the PIM by hand: owned, unexplained.
    await hard_delete(world, orphan)
    world.clock.advance(60)
    assert 1 == await world.runner.reconcile()
    code = sanitise_code(orphan)
    back = {"code": code, "values": edit}
    await pim_call(world, "PATCH", f"{ASSETS}/{code}", back)
    await hard_delete(world, deleted)
    return {"missing": missing, "stale": stale, "orphaned": orphan, "deleted": deleted}


async def put_back(world: World, code: str) -> None:
    """Create (or restore) a packshot at ``code`` in the PIM, as a crash or an operator would."""
    edit = {"title": [{"locale": "en_US", "channel": None, "data": "Left behind"}]}
    await pim_call(world, "PATCH", f"{ASSETS}/{code}", {"code": code, "values": edit})


def set_action(world: World, code: str, action: str) -> None:
    """Record what damsync did to the owned packshot at ``code``."""
    with world.services.store.engine.begin() as conn:
        conn.execute(
            update(pim_owners)
            .where(pim_owners.c.family == "packshots", pim_owners.c.code == code)
            .values(action=action)
        )


async def test_owned_assets_at_old_codes_are_orphans_unless_the_policy_kept_them(world):
    """A live owned key no DAM asset maps to is orphaned; ignored or rejected ones are not."""
    await world.runner.run_once()
    images = [a for a in await world.dam_assets() if a["type"] == "image" and not a["deleted"]]
    left, ignored, rejected = (a["id"] for a in images[:3])
    store = world.services.store
    for dam_id in (left, ignored):  # re-keyed, killed before the commit: owners knows the code
        code = sanitise_code(f"old_{dam_id}")
        assert {} == store.claim_keys("demo", [(dam_id, "packshots", code)])
        await put_back(world, code)
    set_action(world, sanitise_code(f"old_{ignored}"), "ignored")
    await hard_delete(world, rejected)
    world.clock.advance(60)
    assert 1 == await world.runner.reconcile()
    await put_back(world, sanitise_code(rejected))  # rejected in `damsync deletions`: kept
    set_action(world, sanitise_code(rejected), "kept")
    summary, items = await scan(world)
    assert {"orphaned": [left]} == {k: v for k, v in items.items() if v}
    assert {("packshots", "orphaned"): 1} == dict(summary.counts)
    fixed = await scan_and_fix(world)  # re-sent: writing it withdraws its old code
    assert (1, 1, 0) == (fixed.resent, fixed.deleted, fixed.failed)
    pim = await world.pim_assets("packshots")
    kept = [sanitise_code(f"old_{ignored}"), sanitise_code(rejected), sanitise_code(left)]
    assert (False, [True] * 3) == (sanitise_code(f"old_{left}") in pim, [c in pim for c in kept])
    assert {} == dict((await scan(world))[0].counts)


async def test_a_synced_world_is_clean(world):
    """Right after a pass, the PIM holds exactly what the mapping gives: no drift at all."""
    assert 0 == (await world.runner.run_once()).failed
    summary, items = await scan(world)
    assert {} == dict(summary.counts)
    assert 0 == summary.total
    assert ("packshots", "notices") == summary.families
    assert summary.known > 200


async def test_reconcile_finds_each_kind_and_fix_leaves_it_clean(world):
    """Missing, stale, orphaned and deleted are each found; after --fix a reconcile is clean."""
    await world.runner.run_once()
    ids = await make_drift(world)
    summary, items = await scan(world)
    assert {kind: [dam_id] for kind, dam_id in ids.items()} == items
    assert {("packshots", kind): 1 for kind in ids} == dict(summary.counts)
    fixed = await scan_and_fix(world)
    assert (2, 2, 0, False) == (fixed.resent, fixed.deleted, fixed.failed, fixed.refused)
    summary, items = await scan(world)
    assert {} == dict(summary.counts), items
    pim = await world.pim_assets("packshots")
    assert sanitise_code(ids["missing"]) in pim
    assert sanitise_code(ids["orphaned"]) not in pim


async def test_the_brake_holds_deletions_but_still_resends(world):
    """Past the deletion brake removals wait in the pending table; the rest is still re-sent."""
    await world.runner.run_once()
    ids = await make_drift(world)
    withdrawer = world.runner.processor.withdrawer
    withdrawer.options = dataclasses.replace(withdrawer.options, max_count=0)
    fixed = await scan_and_fix(world)
    assert (2, 0, True, 2) == (fixed.resent, fixed.deleted, fixed.refused, fixed.held)
    _summary, items = await scan(world)
    assert {"orphaned": sorted([ids["orphaned"], ids["deleted"]])} == {
        k: v for k, v in items.items() if v
    }


async def test_a_family_filter_reports_that_family_only(world):
    """--family notices sees none of the drift made in packshots."""
    await world.runner.run_once()
    await make_drift(world)
    summary, _items = await scan(world, family="notices")
    assert ("notices",) == summary.families
    assert 0 == summary.total


async def test_the_scheduled_reconcile_reports_drift_as_metrics(world):
    """The sweep exports drift per family and kind, and when it last ran."""
    await world.runner.run_once()
    ids = await make_drift(world)
    assert 1 == await world.runner.reconcile()  # the deleted asset, as before
    registry = world.services.registry

    def drift(kind: str) -> object:
        labels = {"source": "demo", "family": "packshots", "kind": kind}
        return registry.get_sample_value("damsync_reconcile_drift_assets", labels)

    assert (1, 1, 1, 1) == (drift("missing"), drift("stale"), drift("orphaned"), drift("deleted"))
    stamp = registry.get_sample_value(
        "damsync_reconcile_last_run_timestamp_seconds", {"source": "demo"}
    )
    assert stamp is not None and stamp > 0
    assert sanitise_code(ids["deleted"]) not in await world.pim_assets("packshots")
    await scan_and_fix(world)
    await world.runner.reconcile()
    assert (0, 0, 0, 0) == (drift("missing"), drift("stale"), drift("orphaned"), drift("deleted"))


def test_a_repaired_family_goes_back_to_zero_in_the_metrics():
    """A family and kind reported before but not now is exported as 0, not left stale."""
    metrics = make_metrics(CollectorRegistry())
    before = DriftSummary(
        "demo", ("notices",), {("notices", "stale"): 3, ("gone", "deleted"): 2}, 9
    )
    report_drift(metrics, before)
    report_drift(metrics, DriftSummary("demo", ("notices",), {}, 9))

    def value(family: str, kind: str) -> object:
        labels = {"source": "demo", "family": family, "kind": kind}
        return metrics.registry.get_sample_value("damsync_reconcile_drift_assets", labels)

    assert (0, 0, 0) == (
        value("notices", "stale"),
        value("gone", "deleted"),
        value("notices", "missing"),
    )
