"""Withdrawals and re-keys: the old PIM asset gets the source's deletion policy, on every path."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.mapping import sanitise_code
from tests.engine.conftest import World
from tests.engine.convergence_world import Worlds, _worlds, config, images, mutate
from tests.store.conftest import _pg_databases

__all__ = ["_pg_databases", "_worlds"]  # the fixtures, by name

#: What each policy leaves in the state for the old PIM asset.
ACTIONS = {"delete": "deleted", "mark": "marked", "unlink": "unlinked", "ignore": "ignored"}


def title_of(asset: dict[str, Any]) -> Any:
    return asset["values"]["title"][0]["data"]


async def check_withdrawn(
    world: World, family: str, code: str, policy: str, reason: str, before: Any
) -> None:
    """The old PIM asset shows ``policy`` and the state records it with ``reason``."""
    assets = await world.pim_assets(family)
    if policy == "delete":
        assert code not in assets
    else:
        expected = "withdrawn" if policy in ("mark", "unlink") else before
        assert expected == title_of(assets[code])
    owned = world.services.store.owned_assets("demo")
    assert (ACTIONS[policy], reason) == {(o.family, o.code): (o.action, o.reason) for o in owned}[
        (family, code)
    ]


async def first_synced(worlds: Worlds, text: str) -> tuple[World, dict[str, Any], Any]:
    """A world after its first pass, an image of it and that image's PIM title."""
    world = await worlds.open(text)
    await world.runner.run_once()
    victim = (await images(world))[0]
    before = title_of((await world.pim_assets("packshots"))[sanitise_code(victim["id"])])
    return world, victim, before


@pytest.mark.parametrize("policy", list(ACTIONS))
async def test_a_rekeyed_asset_gets_the_policy_on_its_old_code(worlds, policy):
    """A code template change moves the asset to its new code; the old one gets the policy."""
    world, victim, before = await first_synced(worlds, config(policy))
    world = await worlds.open(config(policy, code="img_{id}"))
    await mutate(world, victim["id"], metadata={"note": "touched"})
    await world.runner.run_once()
    assert sanitise_code(f"img_{victim['id']}") in await world.pim_assets("packshots")
    await check_withdrawn(
        world, "packshots", sanitise_code(victim["id"]), policy, "rekeyed", before
    )


@pytest.mark.parametrize("policy", list(ACTIONS))
async def test_a_family_move_gets_the_policy_on_the_old_family(worlds, policy):
    """An asset moved to another family is written there; the old family's asset gets the policy."""
    world, victim, before = await first_synced(worlds, config(policy))
    await mutate(world, victim["id"], metadata={"move": True})
    await world.runner.run_once()
    assert sanitise_code(f"moved_{victim['id']}") in await world.pim_assets("notices")
    await check_withdrawn(
        world, "packshots", sanitise_code(victim["id"]), policy, "rekeyed", before
    )


@pytest.mark.parametrize("policy", list(ACTIONS))
async def test_an_asset_that_stops_matching_gets_the_policy(worlds, policy):
    """An asset no rule matches any more is withdrawn per the policy, not left orphaned."""
    world, victim, before = await first_synced(worlds, config(policy))
    await mutate(world, victim["id"], metadata={"withdrawn": True})
    await world.runner.run_once()
    await check_withdrawn(
        world, "packshots", sanitise_code(victim["id"]), policy, "unmatched", before
    )


@pytest.mark.parametrize("policy", list(ACTIONS))
async def test_a_tombstone_gets_the_policy(worlds, policy):
    """An asset the change feed reports deleted gets the policy, and its state says so."""
    world, victim, before = await first_synced(worlds, config(policy))
    await mutate(world, victim["id"], deleted=True)
    await world.runner.run_once()
    await check_withdrawn(
        world, "packshots", sanitise_code(victim["id"]), policy, "tombstone", before
    )
    assert world.services.store.asset_states("demo", [victim["id"]])[victim["id"]].deleted


async def test_a_second_source_writing_the_same_code_fails_per_asset(worlds):
    """Two sources producing the same PIM asset: the second one's assets fail, naming both."""
    world = await worlds.open(config("delete", extra_sources=["other"]))
    await world.runner.run_once()
    other = world.app.runners[1]
    result = await other.run_once()
    assert 0 == result.written
    failures = world.services.store.list_failures("other", None)
    assert failures
    assert {"ownership"} == {f.stage for f in failures}
    assert all("'demo'" in f.detail and "'other'" in f.detail for f in failures)
    owners = {o.source for o in world.services.store.owned_assets("demo")}
    assert {"demo"} == owners
    assert [] == world.services.store.owned_assets("other")
