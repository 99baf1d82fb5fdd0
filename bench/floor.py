"""
``python -m bench.floor``: the floor client, what this machine can do at all for a workload.

The least code that moves the same assets from the same DAM simulator to the same PIM
simulator within the fair-use limit, so each damsync figure can also be read as a share of it
(issue 16: the simulators share the 2 cores with whatever client runs).

Before timing (bench/floor_prep.py, not measured) every request body is built from damsync's
own adapter and mapper, so every asset's JSON is exactly what damsync would send.

Timed: it pages through the DAM listing (``GET /generic/assets?sort=updated_at&limit=500``:
the simulator's largest page, the cheapest way to list; cursor paging, one page after the
other, on a connection of its own) and starts each upload and bulk PATCH as soon as the items it
needs have been listed. Media mode: each binary is downloaded (4 DAM connections) and uploaded
as one multipart ``POST /asset-media-files``; a batch is PATCHed once its uploads are done.
Every PIM request goes through one pool of 4 keep-alive connections with one token: never more
than 4 in flight. HTTP is raw asyncio streams, nothing parsed but the status,
``Content-Length``, the DAM's ``next_cursor`` and the media file code; no mapping, no store, no
retries but one reconnect when the server had closed an idle keep-alive connection.
It measures wall time, assets/s and its own CPU time (``time.process_time``) over that part.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlsplit

from bench.floor_prep import BOUNDARY, Batch, Prepared, prepare
from bench.harness import (
    Mode,
    Sims,
    delta,
    load_average,
    request_counts,
    serve_sims,
    sim_cpu,
    sim_stats,
    write_config,
)

IN_FLIGHT = 4
PAGE_SIZE = 500  # the DAM simulator's largest page: the cheapest way to list
CURSOR = re.compile(rb'"next_cursor":(?:null|"([^"]*)")')
ITEM = b'{"id":'  # each listed item starts so (compact JSON, ``id`` first)


@dataclass(frozen=True, slots=True)
class FloorRun:
    """The floor client over one workload (timed part only)."""

    mode: str
    assets: int
    written: int
    pages: int
    page_size: int
    wall_s: float
    assets_per_s: float
    cpu_s: float
    cpu_us_per_asset: float
    pim_requests: int
    asset_patches: int
    uploads: int
    reconnects: int
    sims_cpu_s: dict[str, float]
    prep_s: float
    load_before: float
    load_after: float
    errors: list[str]


class _Pool:
    """Keep-alive HTTP/1.1 connections to one host; its size is the in-flight limit."""

    def __init__(self, url: str, size: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]
        self.free = asyncio.Queue()
        for _ in range(size):
            self.free.put_nowait(None)
        self.reconnects = 0

    async def send(self, request: bytes) -> tuple[int, bytes, bytes]:
        """Send one request; return its status, header block and body."""
        conn = await self.free.get()
        try:
            for attempt in (0, 1):
                if conn is None:
                    conn = await asyncio.open_connection(self.host, self.port)
                reader, writer = conn
                writer.write(request)
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    writer.close()  # the server closed an idle keep-alive connection
                    conn = None
                    self.reconnects += 1
                    if attempt:
                        raise
                    continue
                at = head.lower().find(b"\r\ncontent-length:")
                size = int(head[at + 17 : head.index(b"\r\n", at + 2)]) if at >= 0 else 0
                if at < 0 and b"chunked" in head.lower():
                    raise RuntimeError("floor client: chunked answers are not supported")
                return int(head[9:12]), head, await reader.readexactly(size)
            raise AssertionError("unreachable")
        finally:
            self.free.put_nowait(conn)

    def close(self) -> None:
        while not self.free.empty():
            conn = self.free.get_nowait()
            if conn is not None:
                conn[1].close()


def _fill(batch: Batch, codes: list[bytes]) -> bytes:
    out = [batch.parts[0]]
    for slot, part in zip(batch.slots, batch.parts[1:], strict=True):
        out += (codes[slot], part)
    return b"".join(out)


def _header(head: bytes, name: bytes) -> bytes:
    at = head.lower().find(b"\r\n" + name + b":")
    end = head.index(b"\r\n", at + 2)
    return head[at + len(name) + 3 : end].strip()


class _Flow:
    """The measured part: the listing, the uploads and the PATCHes."""

    def __init__(self, prep: Prepared, sims: Sims, page_size: int) -> None:
        self.prep, self.page_size, self.pages = prep, page_size, 0
        self.pim, self.dam = _Pool(sims.pim_url, IN_FLIGHT), _Pool(sims.dam_url, IN_FLIGHT)
        self.pager = _Pool(sims.dam_url, 1)  # the listing: one page after the other, unqueued
        self.pim_head = f"Host: {self.pim.host}\r\nAuthorization: Bearer {prep.pim_token}\r\n"
        self.dam_head = f"Host: {self.dam.host}\r\n{prep.dam_auth}"
        self.codes: list[bytes] = [b""] * len(prep.uploads)
        self.errors: list[str] = []
        self.written = 0

    @property
    def reconnects(self) -> int:
        return self.pim.reconnects + self.dam.reconnects + self.pager.reconnects

    async def upload(self, slot: int) -> None:
        job = self.prep.uploads[slot]
        get = f"GET {job.dam_path} HTTP/1.1\r\n{self.dam_head}\r\n".encode()
        status, _, content = await self.dam.send(get)
        if status != 200:
            raise RuntimeError(f"download {job.dam_path}: HTTP {status}")
        size = len(job.head) + len(content) + len(job.tail)
        request = (
            f"POST /api/rest/v1/asset-media-files HTTP/1.1\r\n{self.pim_head}"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {size}\r\n\r\n"
        ).encode()
        status, head, _ = await self.pim.send(b"".join((request, job.head, content, job.tail)))
        if status != 201:
            raise RuntimeError(f"upload: HTTP {status}")
        self.codes[slot] = json.dumps(_header(head, b"asset-media-file-code").decode()).encode()

    async def patch(self, batch: Batch, waits: list[asyncio.Task[None]]) -> None:
        if waits:
            await asyncio.gather(*waits)
        body = _fill(batch, self.codes)
        request = (
            f"PATCH /api/rest/v1/asset-families/{batch.family}/assets HTTP/1.1\r\n"
            f"{self.pim_head}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        status, _, answer = await self.pim.send(request + body)
        if status != 200 or b'"status_code":4' in answer or b'"status_code":5' in answer:
            self.errors.append(f"PATCH {batch.family}: HTTP {status} {answer[:200]!r}")
        else:
            self.written += batch.assets

    async def page(self, cursor: str | None) -> tuple[str | None, int]:
        """One listing page: the next cursor (``None`` at the end) and the items it held."""
        query = f"sort=updated_at&limit={self.page_size}"
        query += f"&cursor={quote(cursor)}" if cursor else ""
        request = f"GET /generic/assets?{query} HTTP/1.1\r\n{self.dam_head}\r\n".encode()
        status, _, body = await self.pager.send(request)
        if status != 200:
            raise RuntimeError(f"DAM listing: HTTP {status}")
        self.pages += 1
        found = CURSOR.search(body)
        return (found.group(1).decode() if found and found.group(1) else None), body.count(ITEM)

    async def run(self) -> None:
        """List, and start each upload and PATCH as soon as the items it needs are listed."""
        prep = self.prep
        uploads: list[asyncio.Task[None]] = []
        tasks: list[asyncio.Task[None]] = []
        cursor, listed = await self.page(None)
        done = 0  # batches started
        try:
            while True:
                while (
                    len(uploads) < len(prep.uploads)
                    and prep.uploads[len(uploads)].ready_at <= listed
                ):
                    uploads.append(asyncio.create_task(self.upload(len(uploads))))
                while done < len(prep.batches) and prep.batches[done].ready_at <= listed:
                    batch = prep.batches[done]
                    waits = [uploads[s] for s in batch.slots]
                    tasks.append(asyncio.create_task(self.patch(batch, waits)))
                    done += 1
                if cursor is None:
                    break
                cursor, items = await self.page(cursor)
                listed += items
            if (listed, done) != (prep.items, len(prep.batches)):
                self.errors.append(f"listed {listed} items, the preparation {prep.items}")
            await asyncio.gather(*tasks)
        finally:
            for task in (*tasks, *uploads):
                task.cancel()
            for pool in (self.pim, self.dam, self.pager):
                pool.close()


def _pim_assets(sims: Sims) -> int:
    return sum(int(n) for n in sim_stats(sims.pim_url).get("assets", {}).values())


async def run_floor(config: Path, sims: Sims, *, mode: str, page_size: int = PAGE_SIZE) -> FloorRun:
    """
    Prepare, then run and measure the floor client.

    Args:
        config: The workload's daemon configuration; its PIM should hold none of the assets
            yet (a fresh simulator), so every PATCH creates them as damsync's run did.
        sims: The simulators that configuration points at.
        mode: ``link`` or ``media``.
        page_size: DAM items per listing page.

    Returns:
        The floor's figures; ``written`` is what the PIM simulator gained.
    """
    started = time.perf_counter()
    prep = await prepare(config, mode)
    prep_s = time.perf_counter() - started
    pim_before, assets_before = request_counts(sim_stats(sims.pim_url)), _pim_assets(sims)
    load_before = load_average()
    gc.collect()
    gc.freeze()
    flow = _Flow(prep, sims, page_size)
    sims_before = sim_cpu(sims)
    cpu, started = time.process_time(), time.perf_counter()
    try:
        await flow.run()
    finally:
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        gc.unfreeze()
    sims_after = sim_cpu(sims)
    pim = delta(request_counts(sim_stats(sims.pim_url)), pim_before)
    written = _pim_assets(sims) - assets_before
    errors = flow.errors
    if written != flow.written:
        errors.append(f"sent {flow.written} assets in accepted PATCHes, the PIM gained {written}")
    return FloorRun(
        mode=mode,
        assets=prep.assets,
        written=written,
        pages=flow.pages,
        page_size=page_size,
        wall_s=round(wall, 3),
        assets_per_s=round(written / wall, 1) if wall else 0.0,
        cpu_s=round(cpu, 3),
        cpu_us_per_asset=round(1e6 * cpu / written, 1) if written else 0.0,
        pim_requests=sum(pim.values()),
        asset_patches=pim.get("PATCH /api/rest/v1/asset-families/{family}/assets", 0),
        uploads=pim.get("POST /api/rest/v1/asset-media-files", 0),
        reconnects=flow.reconnects,
        sims_cpu_s={k: round(v - sims_before[k], 2) for k, v in sims_after.items()},
        prep_s=round(prep_s, 2),
        load_before=load_before,
        load_after=load_average(),
        errors=errors[:5],
    )


def as_dict(run: FloorRun) -> dict[str, Any]:
    """
    Returns:
        The record as JSON-ready data.
    """
    return asdict(run)


def main(argv: list[str] | None = None) -> int:
    """
    Serve fresh simulators, run the floor client once and print its figures as JSON.

    Returns:
        The exit code: 1 when an asset was not written.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--assets", type=int, default=10000)
    parser.add_argument("--mode", choices=("link", "media"), default="link")
    parser.add_argument("--latency", type=float, default=0.05, help="PIM seconds per request")
    parser.add_argument("--dam-latency", type=float, default=0.05, help="DAM s per request")
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE, help="DAM items per page")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="damsync-floor-") as tmp:
        work = Path(tmp)
        with serve_sims(
            work, assets=args.assets, pim_latency=args.latency, dam_latency=args.dam_latency
        ) as sims:
            mode = cast(Mode, args.mode)
            config = write_config(
                work / "damsync.toml", sims, mode=mode, database_url="sqlite:///unused.db"
            )
            run = asyncio.run(run_floor(config, sims, mode=mode, page_size=args.page_size))
    print(json.dumps(as_dict(run)), flush=True)
    return 0 if not run.errors and run.written == run.assets else 1


if __name__ == "__main__":
    sys.exit(main())
