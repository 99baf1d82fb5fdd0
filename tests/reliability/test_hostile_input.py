"""
Hostile DAM records, injected with the DAM simulator's ``POST /_sim/mutate``.

Promise: a bad record ends as a failure naming the asset, the field and why (or is written
cleaned up); it never crashes the pass, and every other asset of the batch is written.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.reliability.conftest import Engine, Sims, mismatch, pim_code

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TEN_MB = "x" * (10 * 1024 * 1024)

#: name -> (metadata changes, field a failure must name)
CORPUS: dict[str, tuple[dict[str, Any], str]] = {
    "wrong-type-width": ({"width": "twelve"}, "width"),
    "wrong-type-title": ({"title": 12345}, "title"),
    "ten-mb-title": ({"title": {"en_US": TEN_MB}}, "title"),
    "control-chars": ({"sku": "SKU\x00\x07\x1b[31m"}, "product_ref"),
    "unknown-option": ({"colour": "ultra violet!!"}, "colour"),
    "wrong-type-tags": ({"tags": {"not": "a list"}}, "tags"),
    "wrong-type-published": ({"published": "maybe"}, "published"),
}


@pytest.mark.parametrize("sims", [{"assets": 60}], indirect=True)
async def test_hostile_records_fail_alone(sims: Sims, engine_factory: Any) -> None:
    """Each hostile record fails alone naming its field (or is written); the rest is written."""
    engine: Engine = await engine_factory(sims)
    first = await engine.runner.run_once()
    assert ("succeeded", 0) == (first.status, first.failed), first.error
    images = [a for a in sims.dam_assets() if a["type"] == "image" and not a["deleted"]]
    hostile = dict(zip(CORPUS, images, strict=False))
    for name, asset in hostile.items():
        sims.mutate(id=asset["id"], metadata=dict(asset["metadata"], **CORPUS[name][0]))
    good = images[len(hostile) : len(hostile) + 5]
    for asset in good:
        sims.mutate(id=asset["id"], metadata=dict(asset["metadata"], sku=f"NEW-{asset['id']}"))
    sims.clock.advance(60)
    # A fresh engine on the same store: the source caches the DAM's clock offset, and the
    # test's DAM clock jumps (a real DAM clock does not).
    engine = await engine_factory(sims)
    result = await engine.runner.run_once()
    assert result.status in ("succeeded", "partial"), result.error
    failures = {f.dam_id: f for f in engine.services.store.list_failures("demo")}
    current = {a["id"]: a for a in sims.dam_assets()}
    pim = sims.pim_state()
    outcome = {}
    for name, asset in hostile.items():
        failure = failures.get(asset["id"])
        if failure is not None:
            assert CORPUS[name][1] in failure.detail, (name, failure.detail)
            assert len(failure.detail) <= 4000
            outcome[name] = "failed"
        else:
            item = pim.get(pim_code(asset))
            assert item is not None, name
            outcome[name] = "written"
    for asset in good:
        assert None is mismatch(current[asset["id"]], pim.get(pim_code(asset)))
    assert set(failures) <= {a["id"] for a in hostile.values()}
    # Wrong types, 10 MB text and unknown structures fail; control characters and a new
    # option code are written (options are created: create_missing_options = true).
    assert "failed" == outcome["ten-mb-title"]


@pytest.mark.parametrize("sims", [{"assets": 30}], indirect=True)
async def test_future_dated_asset_is_written_or_reported(sims: Sims, engine_factory: Any) -> None:
    """An asset stamped a year ahead of the DAM's clock is written or reported, not hidden."""
    engine: Engine = await engine_factory(sims)
    await engine.runner.run_once()
    images = [a for a in sims.dam_assets() if a["type"] == "image" and not a["deleted"]]
    future = images[0]
    sims.mutate(
        id=future["id"],
        metadata=dict(future["metadata"], sku="FUTURE"),
        updated_at="2027-11-23T08:00:00Z",
    )
    sims.clock.advance(60)
    engine = await engine_factory(sims)
    await engine.runner.run_once()
    failures = {f.dam_id: f for f in engine.services.store.list_failures("demo")}
    item = sims.pim_state()[pim_code(future)]
    assert future["id"] in failures or "FUTURE" == item["values"]["product_ref"][0]["data"]
    # The REST source reports it (docs/sources.md, "Future-dated assets"): field and why.
    detail = failures[future["id"]].detail
    assert (True, True) == ("field 'updated_at'" in detail, "in the future" in detail), detail
