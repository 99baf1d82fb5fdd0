"""
``python -m bench.httpx_floor``: what httpx alone costs for the media workload's transfers.

Media mode moves two requests per asset: the binary's download from the DAM and its multipart
upload to the PIM. This client makes exactly those requests (the bodies and credentials
bench/floor_prep.py builds from damsync's own adapter and mapper, as the floor client uses
them) through ``httpx.AsyncClient`` and nothing else: no mapping, no store, no bulk PATCH, no
retries, no checksum. Its CPU per asset is therefore a lower bound for any client built on httpx
(a dependency the project fixes), and damsync's own media figure can be read against it.

``--tuned`` installs on both clients what the daemon's upstream session installs on its own
(``daemon.upstream.client_tuning.tune_client``: httpcore on asyncio's transports, set-cookie-only
jar, fast locks), to show what that part of damsync saves. Without it, httpx runs with its
defaults. As in the daemon, at most ``--transfers`` assets are in transfer at once and each
upstream gets at most 4 connections.

Timed: the transfers only (the listing and the preparation are not). CPU is the process's own
(user and system, ``os.times``), wall time is ``time.perf_counter``; one JSON line is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from bench.floor_prep import Prepared, prepare
from bench.harness import (
    Sims,
    delta,
    load_average,
    request_counts,
    serve_sims,
    sim_stats,
    write_config,
)

#: Connections per upstream, as the daemon's ``pim_max_in_flight``/``dam_max_in_flight``.
CONNECTIONS = 4
_UPLOAD_PATH = "/api/rest/v1/asset-media-files"
_UPLOAD_ROUTE = f"POST {_UPLOAD_PATH}"


@dataclass(frozen=True, slots=True)
class HttpxRun:
    """One run's figures."""

    assets: int
    uploads: int
    tuned: bool
    transfers: int
    wall_s: float
    assets_per_s: float
    user_s: float
    system_s: float
    cpu_us_per_asset: float
    load_before: float
    load_after: float
    errors: list[str]


def _headers(raw: str) -> dict[str, str]:
    """``"Name: value\\r\\n"`` lines (floor_prep's raw credentials) as a mapping."""
    found = {}
    for line in raw.split("\r\n"):
        if line:
            name, _, value = line.partition(": ")
            found[name] = value
    return found


async def _transfers(
    prep: Prepared, sims: Sims, *, transfers: int, tuned: bool
) -> tuple[float, float, float, list[str]]:
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    dam = httpx.AsyncClient(base_url=sims.dam_url, headers=_headers(prep.dam_auth), limits=limits)
    pim = httpx.AsyncClient(
        base_url=sims.pim_url, headers={"Authorization": f"Bearer {prep.pim_token}"}, limits=limits
    )
    if tuned:
        from daemon.upstream.client_tuning import tune_client

        tune_client(dam)
        tune_client(pim)
    queue = list(reversed(prep.uploads))
    errors: list[str] = []

    async def worker() -> None:
        while queue:
            job = queue.pop()
            async with dam.stream("GET", job.dam_path) as answer:
                body = b"".join([chunk async for chunk in answer.aiter_bytes()])
            if answer.status_code != 200:
                errors.append(f"GET {job.dam_path}: {answer.status_code}")
                continue
            boundary = job.head.split(b"\r\n", 1)[0][2:].decode("ascii")
            upload = await pim.post(
                _UPLOAD_PATH,
                content=job.head + body + job.tail,
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            if upload.status_code != 201:
                errors.append(f"upload of {job.dam_path}: {upload.status_code}")

    gc.collect()
    gc.freeze()
    before, started = os.times(), time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(transfers)))
    finally:
        wall, after = time.perf_counter() - started, os.times()
        gc.unfreeze()
        await dam.aclose()
        await pim.aclose()
    return wall, after.user - before.user, after.system - before.system, errors


async def run_httpx(config: Path, sims: Sims, *, transfers: int, tuned: bool) -> HttpxRun:
    """
    Prepare the media workload, then download and upload every binary through httpx.

    Args:
        config: The workload's daemon configuration (media mode).
        sims: The simulators it points at.
        transfers: Assets in transfer at once.
        tuned: Install the daemon's client tuning on both clients.

    Returns:
        The figures; ``uploads`` is what the PIM simulator counted.
    """
    prep = await prepare(config, "media")
    before = request_counts(sim_stats(sims.pim_url))
    load_before = load_average()
    wall, user, system, errors = await _transfers(prep, sims, transfers=transfers, tuned=tuned)
    uploads = delta(request_counts(sim_stats(sims.pim_url)), before).get(_UPLOAD_ROUTE, 0)
    done = len(prep.uploads)
    if uploads != done:
        errors.append(f"{done} binaries to upload, the PIM counted {uploads}")
    return HttpxRun(
        assets=done,
        uploads=uploads,
        tuned=tuned,
        transfers=transfers,
        wall_s=round(wall, 3),
        assets_per_s=round(uploads / wall, 1) if wall else 0.0,
        user_s=round(user, 3),
        system_s=round(system, 3),
        cpu_us_per_asset=round(1e6 * (user + system) / uploads, 1) if uploads else 0.0,
        load_before=load_before,
        load_after=load_average(),
        errors=errors[:5],
    )


def main(argv: list[str] | None = None) -> int:
    """
    Serve fresh simulators, run the transfers once and print the figures as JSON.

    Returns:
        The exit code: 1 when a transfer failed.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.httpx_floor", description=__doc__)
    parser.add_argument("--assets", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request, both")
    parser.add_argument("--transfers", type=int, default=8, help="assets in transfer at once")
    parser.add_argument("--tuned", action="store_true", help="the daemon's client tuning")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="damsync-httpx-") as tmp:
        work = Path(tmp)
        with serve_sims(
            work, assets=args.assets, pim_latency=args.latency, dam_latency=args.latency
        ) as sims:
            config = write_config(
                work / "damsync.toml", sims, mode="media", database_url="sqlite:///unused.db"
            )
            run = asyncio.run(run_httpx(config, sims, transfers=args.transfers, tuned=args.tuned))
    print(json.dumps(asdict(run)), flush=True)
    return 0 if not run.errors else 1


if __name__ == "__main__":
    sys.exit(main())
