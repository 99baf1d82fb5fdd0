"""
Missing options are created once: batches written at once share a creation in flight, and an
option the structure cache already holds costs no request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import pytest

from daemon.core.errors import PimRejected, PimUnavailable
from daemon.core.records import AssetAttribute, AssetFamily, Channel
from daemon.engine.option_writer import OptionWriter
from daemon.engine.structure_cache import StructureCache
from daemon.mapping import MissingOption

OPTIONS = "PATCH /api/rest/v1/asset-families/{family}/attributes/{attribute}/options/{code}"


class Reader:
    """The PIM structure: family ``f`` with option attribute ``colour`` holding ``red``."""

    async def get_family_structure(self, family: str) -> AssetFamily:
        colour = AssetAttribute(code="colour", type="single_option")
        return AssetFamily(family, {"colour": colour}, {"colour": frozenset({"red"})})

    async def iter_channels(self) -> AsyncIterator[Channel]:
        return
        yield


class GatedPim:
    """Option PATCHes wait for ``gate``, so that several batches ask while one is in flight."""

    def __init__(self, error: Exception | None = None) -> None:
        self.gate = asyncio.Event()
        self.calls: list[tuple[str, str, str]] = []
        self.error = error

    async def upsert_attribute_option(
        self, family: str, attribute: str, code: str, labels: Mapping[str, str] | None = None
    ) -> None:
        self.calls.append((family, attribute, code))
        await self.gate.wait()
        if self.error is not None:
            raise self.error


def option(code: str) -> MissingOption:
    return MissingOption("f", "colour", code, code.title())


async def cache() -> StructureCache:
    structure = StructureCache(Reader())
    await structure.family("f")
    return structure


async def test_batches_written_at_once_share_one_creation_per_option():
    """Three batches needing ``blue`` (and one ``green``) send two PATCHes, not four."""
    pim = GatedPim()
    structure = await cache()
    writer = OptionWriter(pim, structure)
    batches = [
        asyncio.create_task(writer.create([option("blue")])),
        asyncio.create_task(writer.create([option("blue"), option("green"), option("blue")])),
        asyncio.create_task(writer.create([option("blue")])),
    ]
    for _ in range(5):
        await asyncio.sleep(0)  # every batch has asked
    pim.gate.set()
    assert [{}, {}, {}] == await asyncio.gather(*batches)
    assert [("f", "colour", "blue"), ("f", "colour", "green")] == pim.calls
    copy = structure.peek("f")
    assert copy is not None
    assert {"red", "blue", "green"} == set(copy.family.options["colour"])
    # Created: a later batch needs no request for it.
    assert {} == await writer.create([option("blue")])
    assert 2 == len(pim.calls)


async def test_an_option_the_structure_cache_holds_costs_no_request():
    """``red`` is in the cached family (created meanwhile): nothing is sent."""
    pim = GatedPim()
    writer = OptionWriter(pim, await cache())
    assert {} == await writer.create([option("red")])
    assert [] == pim.calls


async def test_a_refused_option_fails_every_batch_that_waited_for_it():
    """The PIM refuses ``blue``: both batches get the refusal; a later batch may try again."""
    refusal = PimRejected("no", status_code=422)
    pim = GatedPim(refusal)
    writer = OptionWriter(pim, await cache())
    batches = [asyncio.create_task(writer.create([option("blue")])) for _ in range(2)]
    for _ in range(5):
        await asyncio.sleep(0)
    pim.gate.set()
    for broken in await asyncio.gather(*batches):
        assert {("f", "colour", "blue"): refusal} == broken
    assert 1 == len(pim.calls)
    assert {("f", "colour", "blue"): refusal} == await writer.create([option("blue")])
    assert 2 == len(pim.calls)


async def test_an_unavailable_pim_fails_every_waiting_batch():
    """A PIM outage is the whole pass's failure, for each batch that waited on the request."""
    pim = GatedPim(PimUnavailable("down"))
    writer = OptionWriter(pim, await cache())
    batches = [asyncio.create_task(writer.create([option("blue")])) for _ in range(2)]
    for _ in range(5):
        await asyncio.sleep(0)
    pim.gate.set()
    for outcome in await asyncio.gather(*batches, return_exceptions=True):
        assert isinstance(outcome, PimUnavailable)
    assert 1 == len(pim.calls)


async def test_a_cancelled_batch_does_not_cancel_the_creation_another_batch_waits_for():
    """A batch cancelled (a failed pass) leaves the shared creation to the other batch."""
    pim = GatedPim()
    writer = OptionWriter(pim, await cache())
    first = asyncio.create_task(writer.create([option("blue")]))
    second = asyncio.create_task(writer.create([option("blue")]))
    for _ in range(5):
        await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    pim.gate.set()
    assert {} == await second
    assert 1 == len(pim.calls)


async def test_a_pass_sends_each_missing_option_once(world):
    """
    Pipelined batches needing the same missing option: every option PATCH creates (201).

    Before, each batch in flight sent its own PATCH for the same option (an update, 204).
    """
    result = await world.runner.run_once()
    assert ("succeeded", 0) == (result.status, result.failed), result.error
    answers = (await world.pim_stats())["requests"].get(OPTIONS, {})
    assert answers.get("201", 0) > 0
    assert {"201"} == set(answers)
