"""
Missing attribute options, created once each.

The Akeneo API creates options one by one (``PATCH .../attributes/{attr}/options/{code}``, an
upsert; there is no collection PATCH for options), so the least a pass can send is one request
per new option. Up to ``pipeline_depth`` batches are written at once and each was mapped before
the others' options existed: they share every creation in flight, and an option the structure
cache holds (created since the batch was mapped) costs nothing.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable, Mapping
from typing import Protocol

from daemon.core.errors import SyncError
from daemon.engine.outcomes import UPSTREAM_WIDE
from daemon.engine.structure_cache import StructureCache
from daemon.mapping import MissingOption

#: One option: ``(family, attribute, code)``.
OptionKey = tuple[str, str, str]


class OptionSink(Protocol):
    """What option creation needs from the PIM client (part of ``seams.PimWriter``)."""

    async def upsert_attribute_option(
        self, family: str, attribute: str, code: str, labels: Mapping[str, str] | None = None
    ) -> object: ...


class OptionWriter:
    """
    Creates the options batches need, each once, shared by the batches written at once.

    Args:
        pim: The PIM client.
        structure: The structure cache: what it holds is not created again, and every option
            created is added to it.
    """

    def __init__(self, pim: OptionSink, structure: StructureCache) -> None:
        self._pim = pim
        self._structure = structure
        self._pending: dict[OptionKey, asyncio.Task[SyncError | None]] = {}

    async def create(self, options: Iterable[MissingOption]) -> dict[OptionKey, SyncError]:
        """
        Create every option of ``options`` not held yet; returns the ones the PIM refused.

        Raises:
            PimUnavailable | PimAuthError | StoreUnavailableError: the request failed, not the
                option: the pass fails (every batch waiting on it gets the error).
        """
        waits: dict[OptionKey, asyncio.Task[SyncError | None]] = {}
        for option in options:
            key = (option.family, option.attribute, option.code)
            if key in waits or self._held(option):
                continue
            task = self._pending.get(key)
            if task is None:
                task = asyncio.create_task(self._send(option))
                self._pending[key] = task
                task.add_done_callback(functools.partial(self._settled, key))
            waits[key] = task
        if not waits:
            return {}
        # Shielded: a batch cancelled while it waits leaves the creation to the other ones.
        errors = await asyncio.gather(*(asyncio.shield(t) for t in waits.values()))
        return {key: error for key, error in zip(waits, errors, strict=True) if error is not None}

    def _held(self, option: MissingOption) -> bool:
        copy = self._structure.peek(option.family)
        return copy is not None and option.code in copy.family.options.get(option.attribute, ())

    async def _send(self, option: MissingOption) -> SyncError | None:
        # Every active locale the DAM gave a label in (the mapping keeps only active ones);
        # without any, the DAM label in en_US.
        labels = dict(option.labels) or ({"en_US": option.label} if option.label else None)
        try:
            await self._pim.upsert_attribute_option(
                option.family, option.attribute, option.code, labels
            )
        except UPSTREAM_WIDE:
            raise
        except SyncError as exc:
            return exc  # refused: the batches waiting fail their assets; a later one may retry
        self._structure.add_option(option.family, option.attribute, option.code)
        return None

    def _settled(self, key: OptionKey, task: asyncio.Task[SyncError | None]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have been cancelled meanwhile


__all__ = ["OptionKey", "OptionSink", "OptionWriter"]
