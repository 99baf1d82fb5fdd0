"""
How often a pass writes the store: per batch, one transaction before the PIM write (claims
and intents) and one after it (the batch commit); per upload, one (its media code, at once).
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter
from types import FrameType

from sqlalchemy import event

UPLOAD = "POST /api/rest/v1/asset-media-files"
BULK = "PATCH /api/rest/v1/asset-families/{family}/assets"
#: The store writes of batches (the others are the pass's: lease, run, structure, mapping).
BATCH_WRITES = ("prepare_batch", "claim_keys", "record_intents", "commit_batch", "record_media")


class WriteSpy:
    """
    Counts the store's write transactions (``BEGIN IMMEDIATE``) by the Store method that opened
    each (found on the stack: the engine holds bound methods taken before the spy existed).
    """

    def __init__(self, store) -> None:
        self.store = store
        self.methods = {n for n in dir(type(store)) if not n.startswith("_")}
        self.writes: Counter[str] = Counter()
        self.lock = threading.Lock()
        event.listen(store.engine, "before_cursor_execute", self._statement)

    def _statement(self, _conn, _cursor, statement, *_args):
        if statement.strip().upper() != "BEGIN IMMEDIATE":
            return
        method = "?"
        frame: FrameType | None = sys._getframe()
        while frame is not None:
            code = frame.f_code
            if f"{os.sep}daemon{os.sep}store{os.sep}" in code.co_filename and (
                code.co_name in self.methods
            ):
                method = code.co_name  # the outermost Store method wins
            frame = frame.f_back
        with self.lock:
            self.writes[method] += 1

    def close(self) -> None:
        event.remove(self.store.engine, "before_cursor_execute", self._statement)


async def test_a_pass_writes_the_store_twice_per_batch_and_at_most_once_per_upload(world):
    spy = WriteSpy(world.services.store)
    try:
        result = await world.runner.run_once()
    finally:
        spy.close()
    assert ("succeeded", 0) == (result.status, result.failed), result.error
    stats = await world.pim_stats()
    batches = spy.writes["commit_batch"]
    assert batches >= world.count(stats, BULK) > 1
    uploads = world.count(stats, UPLOAD)
    assert uploads > 0
    # One write before each batch's PIM write (here every batch has new assets), one commit
    # after it, and the uploads' media codes at once: at most one write per upload (those
    # finishing together share one, daemon.engine.media_ledger).
    recorded = spy.writes.get("record_media", 0)
    assert 0 < recorded <= uploads, spy.writes
    assert {"commit_batch": batches, "prepare_batch": batches, "record_media": recorded} == {
        k: v for k, v in spy.writes.items() if k in BATCH_WRITES
    }, spy.writes
    assert "?" not in spy.writes  # every write comes from a Store method
