"""The structure cache's persisted copy: a new process reads nothing the TTL still covers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.core.errors import PimNotFound
from daemon.core.records import AssetAttribute, AssetFamily, Channel
from daemon.engine.seams import StructureStore
from daemon.engine.structure_cache import StructureCache
from daemon.store import Store, StoreUnavailableError

PIM = "https://pim.example.com"
FAMILY = AssetFamily(
    code="packshots",
    attributes={
        "color": AssetAttribute("color", "single_option"),
        "title": AssetAttribute("title", "text", value_per_locale=True, labels={"en_US": "T"}),
    },
    options={"color": frozenset({"red"})},
    attribute_as_main_media=None,
    labels={"en_US": "Packshots"},
)


class Reader:
    """A PIM whose structure reads are counted."""

    def __init__(self) -> None:
        self.families = {"packshots": FAMILY}
        self.channels = [Channel("ecommerce", ("en_US",))]
        self.reads: list[str] = []

    async def get_family_structure(self, family: str) -> AssetFamily:
        self.reads.append(family)
        if family not in self.families:
            raise PimNotFound(f'Asset family "{family}" does not exist.', status_code=404)
        return self.families[family]

    async def iter_channels(self) -> AsyncIterator[Channel]:
        self.reads.append("channels")
        for channel in self.channels:
            yield channel


class Wall:
    """The wall clock dating the persisted copy, moved by the tests."""

    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(name="store")
def _store(tmp_path: Path) -> Iterator[Store]:
    store = Store.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    store.upgrade()
    yield store
    store.dispose()


def process(
    reader: Reader, store: StructureStore, wall: Wall, ttl: float = 600.0
) -> StructureCache:
    """A cache as a new process builds it (its own monotonic clock starts anywhere)."""
    mono = [5000.0]
    return StructureCache(
        reader, ttl=ttl, clock=lambda: mono[0], snapshots=store, pim=PIM, wall=wall
    )


async def use(cache: StructureCache, *codes: str) -> None:
    await cache.families(list(codes))
    await cache.channels()


async def test_a_new_process_reads_nothing_while_the_copy_is_young(store):
    """Families, a missing family and the channels come from the database, not the PIM."""
    wall, reader = Wall(), Reader()
    await use(process(reader, store, wall), "packshots", "gone")
    first = list(reader.reads)
    wall.now += timedelta(seconds=599)
    again = process(reader, store, wall)
    found = await again.families(["packshots", "gone"])
    channels = await again.channels()
    assert (["packshots", "gone", "channels"], first) == (first, reader.reads)
    assert ({"packshots": FAMILY}, [Channel("ecommerce", ("en_US",))]) == (found, list(channels))


async def test_the_copy_expires_after_the_ttl(store):
    """At the TTL (counted from the PIM read, not from the load) the PIM is read again."""
    wall, reader = Wall(), Reader()
    await use(process(reader, store, wall), "packshots", "gone")
    wall.now += timedelta(seconds=600)
    reader.reads.clear()
    await use(process(reader, store, wall), "packshots", "gone")
    assert ["packshots", "gone", "channels"] == reader.reads


async def test_a_loaded_copy_expires_when_its_ttl_ends(store):
    """Loaded at age 500 of 600 s, the copy expires 100 s later on the new process's clock."""
    wall, reader = Wall(), Reader()
    await use(process(reader, store, wall), "packshots")
    wall.now += timedelta(seconds=500)
    mono = [0.0]
    cache = StructureCache(
        reader, ttl=600, clock=lambda: mono[0], snapshots=store, pim=PIM, wall=wall
    )
    reader.reads.clear()
    await use(cache, "packshots")
    mono[0] = 99.0
    await use(cache, "packshots")
    quiet = list(reader.reads)
    mono[0] = 100.0
    await use(cache, "packshots")
    assert ([], ["packshots", "channels"]) == (quiet, reader.reads)


async def test_a_read_time_in_the_future_is_not_trusted(store):
    """A copy dated after now (the wall clock went back) is read again."""
    wall, reader = Wall(), Reader()
    await use(process(reader, store, wall), "packshots")
    wall.now -= timedelta(seconds=1)
    reader.reads.clear()
    await use(process(reader, store, wall), "packshots")
    assert ["packshots", "channels"] == reader.reads


async def test_a_self_heal_re_read_replaces_the_persisted_copy(store):
    """Dropped for drift and read again: the next process loads the new copy."""
    wall, reader = Wall(), Reader()
    cache = process(reader, store, wall)
    await use(cache, "packshots")
    changed = replace(FAMILY, options={"color": frozenset({"blue"})})
    reader.families["packshots"] = changed
    cache.invalidate("packshots", drift=True, channels=True)
    reader.channels = [Channel("print", ("fr_FR",))]
    wall.now += timedelta(seconds=10)
    await use(cache, "packshots")
    reader.reads.clear()
    later = process(reader, store, wall)
    assert {"packshots": changed} == await later.families(["packshots"])
    assert [Channel("print", ("fr_FR",))] == list(await later.channels())
    assert [] == reader.reads


async def test_a_copy_dropped_for_drift_is_not_loaded_by_the_next_process(store):
    """Dropped and not read again (the process ended): the next process reads the PIM."""
    wall, reader = Wall(), Reader()
    cache = process(reader, store, wall)
    await use(cache, "packshots")
    cache.invalidate("packshots", drift=True)
    await cache.flush()
    reader.reads.clear()
    await process(reader, store, wall).families(["packshots"])
    assert ["packshots"] == reader.reads


async def test_an_option_created_is_kept_in_the_persisted_copy(store):
    """add_option reaches the database at the next flush; the read time stays the PIM's."""
    wall, reader = Wall(), Reader()
    cache = process(reader, store, wall)
    await use(cache, "packshots")
    cache.add_option("packshots", "color", "green")
    wall.now += timedelta(seconds=30)
    await cache.flush()
    reader.reads.clear()
    later = process(reader, store, wall)
    family = (await later.families(["packshots"]))["packshots"]
    stored = store.load_structure(PIM, wall.now - timedelta(hours=1)).families["packshots"]
    assert frozenset({"red", "green"}) == family.options["color"]
    assert (wall.now - timedelta(seconds=30), []) == (stored.read_at, reader.reads)


async def test_invalidating_everything_drops_every_row(store):
    """invalidate() with no family forgets the PIM's whole persisted copy."""
    wall, reader = Wall(), Reader()
    cache = process(reader, store, wall)
    await use(cache, "packshots")
    cache.invalidate()
    await cache.flush()
    reader.reads.clear()
    await use(process(reader, store, wall), "packshots")
    assert ["packshots", "channels"] == reader.reads


class BrokenStore:
    """A state database that is down."""

    def load_structure(self, pim, since):
        raise StoreUnavailableError(operation="load_structure", reason="down")

    def save_structure(self, pim, families=(), channels=None):
        raise StoreUnavailableError(operation="save_structure", reason="down")

    def drop_structure(self, pim, families=None, *, channels=False):
        raise StoreUnavailableError(operation="drop_structure", reason="down")


async def test_a_store_that_fails_never_fails_the_cache():
    """Without its database the cache reads the PIM and works as an in-memory cache."""
    wall, reader = Wall(), Reader()
    cache = process(reader, BrokenStore(), wall)
    await use(cache, "packshots")
    cache.add_option("packshots", "color", "green")
    cache.invalidate("other", drift=True)
    await use(cache, "packshots")
    await cache.flush()
    assert ["packshots", "channels"] == reader.reads
