"""Structure drift end to end: the PIM's families change behind our cached copy, then heal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from daemon.core.errors import FieldError, PimNotFound, PimRejected
from daemon.core.records import AssetAttribute, AssetFamily, Channel, PimAsset, PimValue
from daemon.engine.structure_cache import FamilyCopy, StructureCache
from daemon.engine.structure_drift import judge_rejection
from daemon.mapping import sanitise_code
from daemon.pim.models import AssetUpsertResult
from daemon.service.wiring import Services, SyncApp
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from daemon.sim.pim.attributes import delete_attribute, delete_option
from daemon.sim.pim.families import delete_family
from daemon.sim.pim.state import PimState
from daemon.store import Failure
from tests.engine.conftest import ROOT, Clock, World, build_world_settings

FAMILY_READ = "GET /api/rest/v1/asset-families/{code}"
ATTRIBUTE = "/api/rest/v1/asset-families/packshots/attributes/{code}"


@dataclass
class DriftWorld:
    world: World
    pim_state: PimState

    async def changed_image(
        self, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """Change one live image asset in the DAM (so the next pass sends it) and return it."""
        dam = await self.world.dam_assets()
        image = next(a for a in dam if a["type"] == "image" and not a["deleted"])
        self.world.clock.advance(1)
        metadata = change(dict(image["metadata"], sku="SKU-DRIFT"))
        await self.world.dam.post("/_sim/mutate", json={"id": image["id"], "metadata": metadata})
        self.world.clock.advance(60)
        return dict(image, metadata=metadata)

    def failures(self) -> list[Failure]:
        return self.world.services.store.list_failures("demo")

    async def retry_now(self) -> None:
        """Make every failure due and run the retry job, as the next scheduled attempt would."""
        self.world.services.store.retry_failure("all", source="demo")
        await self.world.runner.retry_due()

    async def family_reads(self) -> int:
        return self.world.count(await self.world.pim_stats(), FAMILY_READ)


@pytest.fixture(name="drift")
async def _drift(tmp_path: Path) -> AsyncIterator[DriftWorld]:
    clock = Clock()
    dam_app = create_dam_app(
        DamSimOptions(assets=60, seed=7, history_days=2, base_url="http://127.0.0.1:8082"),
        clock=clock,
    )
    pim_app = create_pim_app(load_seed(ROOT / "config" / "sim" / "pim-seed.json"))
    settings = build_world_settings(tmp_path)
    services = Services.create(settings, registry=CollectorRegistry())
    services.store.upgrade()
    app = SyncApp.build(
        settings,
        services,
        pim_transport=httpx.ASGITransport(pim_app),
        source_transports={"demo": httpx.ASGITransport(dam_app)},
        source_clocks={"demo": lambda: clock.now.timestamp()},
    )
    await app.start()
    dam = httpx.AsyncClient(transport=httpx.ASGITransport(dam_app), base_url="http://dam")
    pim = httpx.AsyncClient(transport=httpx.ASGITransport(pim_app), base_url="http://pim")
    try:
        world = World(app, services, settings, clock, dam, pim)
        first = await world.runner.run_once()
        assert ("succeeded", 0) == (first.status, first.failed), first.error
        await world.reset_stats()
        yield DriftWorld(world, pim_app.state.pim)
    finally:
        await dam.aclose()
        await pim.aclose()
        await app.aclose()
        services.store.dispose()


def assert_retryable_row(failure: Failure, asset_id: str, field: str, reason: str) -> None:
    """A drift row: retried, and its one line names the asset, the field and the PIM's reason."""
    assert (asset_id, "pim", "StructureDriftError", False, False) == (
        failure.dam_id,
        failure.stage,
        failure.error_type,
        failure.permanent,
        failure.dead_lettered,
    )
    assert f"asset {asset_id!r}" in failure.detail
    assert f"field {field!r}" in failure.detail
    assert reason in failure.detail
    assert "\n" not in failure.detail


async def test_a_deleted_attribute_fails_for_retry_then_for_good_as_a_mapping_problem(drift):
    """An attribute deleted in the PIM: retryable row, re-read, then a permanent config failure."""
    delete_attribute(drift.pim_state.families["packshots"], "description")
    image = await drift.changed_image(lambda m: m)
    second = await drift.world.runner.run_once()
    [row] = drift.failures()
    assert 1 == second.failed
    assert_retryable_row(
        row,
        image["id"],
        "description",
        'Attribute "description" does not exist for this asset family',
    )
    await drift.retry_now()
    [row] = drift.failures()
    assert 1 <= await drift.family_reads()
    assert ("mapping", True) == (row.stage, row.permanent)
    assert "attribute 'description' does not exist in family 'packshots'" in row.detail


async def test_a_removed_option_fails_for_retry_then_is_created_again_and_written(drift):
    """An option removed in the PIM: retryable row, re-read, then the option is made again."""
    colour = drift.pim_state.families["packshots"].options["colour"]
    image = await drift.changed_image(lambda m: m)
    code = image["metadata"]["colour"].lower()
    delete_option(drift.pim_state.families["packshots"], "colour", code)
    second = await drift.world.runner.run_once()
    [row] = drift.failures()
    assert 1 == second.failed
    assert_retryable_row(
        row,
        image["id"],
        "colour",
        f'The option "{code}" does not exist for the attribute "colour".',
    )
    await drift.retry_now()
    written = (await drift.world.pim_assets("packshots"))[sanitise_code(image["id"])]
    assert [] == drift.failures()
    assert 1 <= await drift.family_reads()
    assert (True, code) == (code in colour, written["values"]["colour"][0]["data"])


async def test_an_attribute_whose_type_changed_fails_for_retry_then_for_good(drift):
    """Tags recreated as text in the PIM: retryable row, re-read, then a clear mapping failure."""
    delete_attribute(drift.pim_state.families["packshots"], "tags")
    created = await drift.world.pim.patch(
        ATTRIBUTE.format(code="tags"),
        json={"type": "text"},
        headers={"Authorization": f"Bearer {await drift.world._token()}"},
    )
    assert 201 == created.status_code
    image = await drift.changed_image(lambda m: m)
    await drift.world.runner.run_once()
    [row] = drift.failures()
    assert_retryable_row(
        row, image["id"], "tags", "Array value found, but a string or a null is required"
    )
    await drift.retry_now()
    [row] = drift.failures()
    assert 1 <= await drift.family_reads()
    assert ("mapping", True) == (row.stage, row.permanent)
    assert f"asset {image['id']!r}, field 'tags'" in row.detail


async def test_a_deleted_family_fails_for_retry_then_for_good_as_a_mapping_problem(drift):
    """A family deleted in the PIM: retryable row, re-read (404), then a permanent failure."""
    delete_family(drift.pim_state, "packshots")
    image = await drift.changed_image(lambda m: m)
    await drift.world.runner.run_once()
    [row] = drift.failures()
    assert_retryable_row(row, image["id"], "family", 'Asset family "packshots" does not exist.')
    await drift.retry_now()
    [row] = drift.failures()
    assert 1 <= await drift.family_reads()
    assert ("mapping", True) == (row.stage, row.permanent)
    assert "asset family 'packshots' does not exist" in row.detail


async def test_a_value_the_pim_refuses_is_not_drift(drift):
    """Too long a text for an attribute that exists: permanent, and the structure is not re-read."""
    lowered = await drift.world.pim.patch(
        ATTRIBUTE.format(code="title"),
        json={"max_characters": 5},
        headers={"Authorization": f"Bearer {await drift.world._token()}"},
    )
    assert 204 == lowered.status_code
    image = await drift.changed_image(lambda m: m)
    await drift.world.runner.run_once()
    await drift.world.runner.run_once()
    [row] = drift.failures()
    assert (image["id"], "pim", "PimRejected", True) == (
        row.dam_id,
        row.stage,
        row.error_type,
        row.permanent,
    )
    assert f"asset {image['id']!r}" in row.detail
    assert "field 'title[locale=" in row.detail
    assert "This value is too long. It should have 5 characters or less." in row.detail
    assert 0 == await drift.family_reads()


# --- the verdict alone, on the documented answers ---------------------------------------------

FAMILY = AssetFamily(
    code="packshots",
    attributes={
        "title": AssetAttribute("title", "text", value_per_locale=True, max_characters=255),
        "colour": AssetAttribute("colour", "single_option"),
        "tags": AssetAttribute("tags", "multiple_options"),
        "published": AssetAttribute("published", "boolean"),
        "note": AssetAttribute("note", "text"),
    },
    options={"colour": frozenset({"red"}), "tags": frozenset({"summer", "winter"})},
)
SENT = PimAsset(
    "packshots",
    "p1",
    {
        "title": (PimValue("A title", "en_US"), PimValue("Un titre", "fr_FR")),
        "colour": (PimValue("red"),),
        "tags": (PimValue(["summer", "winter"]),),
        "published": (PimValue(True),),
        "note": (PimValue("x", "en_US"),),  # scoped against our own copy
    },
)
RULES = "The asset has data that does not comply with the business rules."


def refused(message: str = RULES, *errors: tuple[str, str], **keys: Any) -> AssetUpsertResult:
    found = tuple(FieldError(property=p, message=m, **keys) for p, m in errors)
    return AssetUpsertResult(0, "p1", "rejected", 422, message, found)


NOT_FOUND = PimNotFound(
    'Asset family "packshots" does not exist.',
    endpoint="/api/rest/v1/asset-families/{family}/assets",
    method="PATCH",
    status_code=404,
)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        pytest.param(
            refused(RULES, ("values.title[1].data", "This value is too long.")),
            ("PimRejected", False, False, "title[locale=fr_FR]"),
            id="too-long-text",
        ),
        pytest.param(
            refused(RULES, ("values.colour[0].data", 'The option "red" does not exist.')),
            ("StructureDriftError", True, False, "colour"),
            id="option-removed",
        ),
        pytest.param(
            refused(RULES, ("values.tags[0].data", "Array value found, but a string is required")),
            ("StructureDriftError", True, False, "tags"),
            id="options-attribute-retyped",
        ),
        pytest.param(
            refused(RULES, ("values.published[0].data", "Boolean value found")),
            ("StructureDriftError", True, False, "published"),
            id="boolean-retyped",
        ),
        pytest.param(
            refused(RULES, ("values.title[0].locale", "The locale is not activated.")),
            ("StructureDriftError", True, True, "title[locale=en_US]"),
            id="scope-changed",
        ),
        pytest.param(
            refused(RULES, ("values.note[0].locale", "The locale must be null.")),
            ("PimRejected", False, False, "note[locale=en_US]"),
            id="our-scope-is-wrong-by-our-own-copy",
        ),
        pytest.param(
            refused(RULES, ("values", "Not a valid option."), attribute="colour"),
            ("StructureDriftError", True, False, "colour"),
            id="attribute-key-as-for-products",
        ),
        pytest.param(
            refused('Attribute "published" does not exist for this asset family'),
            ("StructureDriftError", True, False, "published"),
            id="attribute-deleted",
        ),
        pytest.param(
            refused('Error during naming convention execution: Attribute "ref" does not exist'),
            ("PimRejected", False, False, "asset"),
            id="naming-convention-names-no-value-of-ours",
        ),
        pytest.param(
            refused(RULES, ("values.ref[0].data", "This value is too long.")),
            ("PimRejected", False, False, "values.ref[0].data"),
            id="a-computed-value-not-ours",
        ),
        pytest.param(
            refused(RULES, ("code", "This value is already used.")),
            ("PimRejected", False, False, "code"),
            id="not-a-value",
        ),
        pytest.param(
            AssetUpsertResult(0, "p1", "failed", 404, str(NOT_FOUND), error=NOT_FOUND),
            ("StructureDriftError", True, False, "family"),
            id="family-deleted",
        ),
    ],
)
def test_the_verdict_follows_the_answer_shape_and_our_copy(result, expected):
    """Drift or plain rejection is read from the answer's structure and our cached copy."""
    verdict = judge_rejection("dam-1", SENT, result, FamilyCopy(FAMILY))
    name = type(verdict.error).__name__
    assert expected == (name, verdict.drift, verdict.channels, verdict.field)
    line = f"asset 'dam-1' (packshots/p1), field {verdict.field!r}: "
    assert str(verdict.error).startswith(line)


def test_the_same_refusal_after_an_unchanged_reread_is_permanent():
    """Once the family was read again and found unchanged, the same refusal is no drift."""
    result = refused(RULES, ("values.colour[0].data", 'The option "red" does not exist.'))
    verdict = judge_rejection("dam-1", SENT, result, FamilyCopy(FAMILY, confirmed=True))
    assert (PimRejected, False) == (type(verdict.error), verdict.drift)
    assert "has not changed, so this is no structure change" in str(verdict.error)


def test_a_refusal_while_our_copy_is_renewed_is_taken_for_drift():
    """Without the copy (dropped for drift by another batch), a named value counts as drift."""
    result = refused(RULES, ("values.title[0].data", "This value is too long."))
    assert judge_rejection("dam-1", SENT, result, None).drift


# --- the cache's side: a copy dropped for drift, a family that is gone ----------------------


class Families:
    """A structure reader whose families the test changes; a missing code answers 404."""

    def __init__(self) -> None:
        self.families = {"packshots": FAMILY}
        self.reads: list[str] = []

    async def get_family_structure(self, family: str) -> AssetFamily:
        self.reads.append(family)
        if family not in self.families:
            raise PimNotFound(f'Asset family "{family}" does not exist.', status_code=404)
        return self.families[family]

    async def iter_channels(self) -> AsyncIterator[Channel]:
        yield Channel("ecommerce", ("en_US",))


async def test_a_copy_read_again_unchanged_after_drift_is_confirmed():
    """Dropped for drift and read again: confirmed when unchanged, not when it changed."""
    now = [0.0]
    reader = Families()
    cache = StructureCache(reader, ttl=60, clock=lambda: now[0])
    await cache.family("packshots")
    fresh = cache.peek("packshots")
    cache.invalidate("packshots", drift=True)
    gone = cache.peek("packshots")
    await cache.family("packshots")
    same = cache.peek("packshots")
    reader.families["packshots"] = replace(FAMILY, options={})
    cache.invalidate("packshots", drift=True)
    await cache.family("packshots")
    changed = cache.peek("packshots")
    now[0] = 61
    await cache.family("packshots")
    expired = cache.peek("packshots")
    assert [False, None, True, False, False] == [
        fresh.confirmed if fresh else None,
        gone,
        same.confirmed if same else None,
        changed.confirmed if changed else None,
        expired.confirmed if expired else None,
    ]


async def test_a_missing_family_is_left_out_and_remembered_for_the_ttl():
    """A family the PIM says is gone is left out, read once per TTL, and again on invalidation."""
    now = [0.0]
    reader = Families()
    cache = StructureCache(reader, ttl=60, clock=lambda: now[0])
    first = await cache.families(["gone", "packshots"])
    again = await cache.families(["gone", "packshots"])
    reads = list(reader.reads)
    now[0] = 61
    await cache.families(["gone"])
    cache.invalidate("gone")
    await cache.families(["gone"])
    assert (["packshots"], ["packshots"]) == (list(first), list(again))
    assert (["gone", "packshots"], 4) == (reads, len(reader.reads))
    with pytest.raises(PimNotFound):
        await cache.family("gone")
