"""
End-to-end measurements of one workload: the daemon (``damsync sync --once`` as a child
process), an idle pass, and the naive baseline connector.

The daemon's peak RSS is the child's own ``ru_maxrss`` (``os.wait4``), so the simulators and
this process are not counted. Request figures come from the simulators' ``/_sim/stats``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.harness import DAMSYNC, Sims, delta, load_average, request_counts, sim_stats
from daemon.core.errors import SyncError
from daemon.core.records import Window
from daemon.engine.mapper_cache import MapperCache
from daemon.engine.media_transfer import MediaTransfer
from daemon.engine.structure_cache import StructureCache
from daemon.mapping import MappedAsset, MediaRequest, fill_media
from daemon.pim import PimClient
from daemon.service.wiring import Services, SyncApp
from daemon.settings.root import load_settings
from daemon.sources import build_source

ASSET_PATCH = "PATCH /api/rest/v1/asset-families/{family}/assets"
ONE_ASSET_PATCH = "PATCH /api/rest/v1/asset-families/{family}/assets/{code}"
UPLOAD = "POST /api/rest/v1/asset-media-files"


@dataclass(frozen=True, slots=True)
class DaemonRun:
    """One ``damsync sync --once`` over a workload."""

    mode: str
    assets: int
    written: int
    skipped: int
    failed: int
    wall_s: float
    pass_s: float
    assets_per_s: float
    pim_requests: int
    pim_by_route: dict[str, int]
    asset_patches: int
    uploads: int
    upload_bytes: int
    minimum_requests: int
    requests_per_asset: float
    ratio_to_minimum: float
    dam_requests: int
    peak_rss_mb: float
    cpu_s: float
    cpu_us_per_asset: float
    load_before: float
    load_after: float
    exit_code: int


@dataclass(frozen=True, slots=True)
class IdlePass:
    """A pass with nothing changed: in a long-lived process (warm cache) or a new one."""

    pim_requests: int
    dam_requests: int
    pim_by_route: dict[str, int]
    dam_by_route: dict[str, int]
    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class NaiveRun:
    """The naive connector over the first ``assets`` assets of the same workload."""

    mode: str
    assets: int
    wall_s: float
    assets_per_s: float
    pim_requests: int
    requests_per_asset: float
    failed: int
    errors: list[str] = field(default_factory=list)
    load_after: float = 0.0


def _pass_figures(log_path: Path) -> dict[str, Any]:
    for line in reversed(log_path.read_text(encoding="utf-8", errors="replace").splitlines()):
        if '"sync.pass_finished"' in line:
            event: dict[str, Any] = json.loads(line[line.index("{") :])
            return event
    raise RuntimeError(f"no sync.pass_finished event in {log_path}")


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """
    The measured daemon's environment: ours plus ``extra``, without ``PYTHONDONTWRITEBYTECODE``.

    An installed damsync runs from bytecode (pip compiles it; the image only stops writing
    more): with that variable set and no ``__pycache__`` in this checkout, every measured
    process compiled the daemon from source (~150 modules, tenths of a second of CPU).
    """
    env = {**os.environ, **(extra or {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


_compiled = False


def compile_daemon() -> None:
    """Write the daemon's bytecode caches once per bench process, as ``pip install`` would."""
    global _compiled
    if not _compiled:
        package = Path(__file__).resolve().parents[1] / "daemon"
        command = [sys.executable, "-m", "compileall", "-q", str(package)]
        subprocess.run(command, check=True, env=child_env(), stdout=subprocess.DEVNULL)
        _compiled = True


def run_daemon(
    config: Path,
    sims: Sims,
    *,
    mode: str,
    assets: int,
    workdir: Path,
    env: Mapping[str, str] | None = None,
) -> DaemonRun:
    """
    Run ``damsync sync --once`` as a child process and measure it.

    Args:
        config: The daemon configuration.
        sims: The simulators it talks to (their counters are read before and after).
        mode: The workload's name (``link`` or ``media``).
        assets: Changed assets in the DAM.
        workdir: Where the daemon's output goes.
        env: Variables added to the child's environment (e.g. ``MALLOC_MMAP_THRESHOLD_``).

    Returns:
        The figures of the run.
    """
    compile_daemon()
    pim_before = request_counts(sim_stats(sims.pim_url))
    pim_stats_before = sim_stats(sims.pim_url)
    dam_before = request_counts(sim_stats(sims.dam_url))
    load_before = load_average()
    out_path = workdir / f"daemon-{mode}-{assets}.log"
    started = time.perf_counter()
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            [DAMSYNC, "sync", "--once", "--config", str(config)],
            stdout=out,
            stderr=out,
            env=child_env(env),
        )
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    pim_after_stats = sim_stats(sims.pim_url)
    pim = delta(request_counts(pim_after_stats), pim_before)
    dam = delta(request_counts(sim_stats(sims.dam_url)), dam_before)
    figures = _pass_figures(out_path)
    written = int(figures.get("written", 0))
    uploads = int(pim_after_stats.get("uploads", 0)) - int(pim_stats_before.get("uploads", 0))
    upload_bytes = int(pim_after_stats.get("upload_bytes", 0)) - int(
        pim_stats_before.get("upload_bytes", 0)
    )
    patches = pim.get(ASSET_PATCH, 0)
    minimum = math.ceil(written / 100) + uploads
    total = sum(pim.values())
    pass_s = float(figures.get("duration_s", wall))
    return DaemonRun(
        mode=mode,
        assets=assets,
        written=written,
        skipped=int(figures.get("skipped", 0)),
        failed=int(figures.get("failed", 0)),
        wall_s=round(wall, 3),
        pass_s=pass_s,
        assets_per_s=round(written / pass_s, 1) if pass_s else 0.0,
        pim_requests=total,
        pim_by_route=pim,
        asset_patches=patches,
        uploads=uploads,
        upload_bytes=upload_bytes,
        minimum_requests=minimum,
        requests_per_asset=round(total / written, 4) if written else 0.0,
        ratio_to_minimum=round(total / minimum, 4) if minimum else 0.0,
        dam_requests=sum(dam.values()),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
        cpu_us_per_asset=(
            round(1e6 * (usage.ru_utime + usage.ru_stime) / written, 1) if written else 0.0
        ),
        load_before=load_before,
        load_after=load_average(),
        exit_code=proc.returncode,
    )


async def idle_pass(config: Path, sims: Sims) -> IdlePass:
    """
    Run two passes in this process, as ``damsync run`` does, and count the second one's requests.

    The first pass warms the structure cache and finds nothing new after the measured run; the
    second is the idle pass a running daemon makes every interval.

    Args:
        config: The daemon configuration (its state store already holds the checkpoint).
        sims: The simulators.

    Returns:
        The requests of the idle pass, by upstream.
    """
    settings = load_settings(config, {})
    services = Services.create(settings, registry=CollectorRegistry())
    app = SyncApp.build(settings, services)
    try:
        await app.start()
        runner = app.runners[0]
        await runner.run_once()
        pim_before = request_counts(sim_stats(sims.pim_url))
        dam_before = request_counts(sim_stats(sims.dam_url))
        await runner.run_once()
        pim = delta(request_counts(sim_stats(sims.pim_url)), pim_before)
        dam = delta(request_counts(sim_stats(sims.dam_url)), dam_before)
    finally:
        await app.aclose()
        services.store.dispose()
    return IdlePass(sum(pim.values()), sum(dam.values()), pim, dam)


def idle_once(config: Path, sims: Sims, *, workdir: Path) -> IdlePass:
    """
    Run ``damsync sync --once`` again with nothing changed, as cron would, and count its requests.

    Issue 16's target: 1 DAM request (the listing) and no PIM request.

    Args:
        config: The daemon configuration (its state store already holds the checkpoint).
        sims: The simulators.
        workdir: Where the daemon's output goes (``daemon-idle-once.log``).

    Returns:
        The requests of that pass, by upstream, and the exit code.
    """
    pim_before = request_counts(sim_stats(sims.pim_url))
    dam_before = request_counts(sim_stats(sims.dam_url))
    with (workdir / "daemon-idle-once.log").open("wb") as out:
        done = subprocess.run(
            [DAMSYNC, "sync", "--once", "--config", str(config)], stdout=out, stderr=out
        )
    pim = delta(request_counts(sim_stats(sims.pim_url)), pim_before)
    dam = delta(request_counts(sim_stats(sims.dam_url)), dam_before)
    return IdlePass(sum(pim.values()), sum(dam.values()), pim, dam, done.returncode)


async def run_naive(config: Path, sims: Sims, *, mode: str, limit: int) -> NaiveRun:
    """
    The naive baseline: what most existing connectors do.

    Sequential, one asset at a time: read the DAM's changes page by page, map the asset,
    download and upload its binary (no reuse of known binaries), PATCH that one asset. The
    family structure is read once (a connector that reads it per asset would be slower still).
    It reuses the daemon's DAM adapter, mapper and PIM client, so only the strategy differs.

    Args:
        config: The same configuration as the daemon's.
        sims: The simulators (to count PIM requests).
        mode: The workload's name.
        limit: Stop after this many assets; its rate does not depend on N (it is sequential).

    Returns:
        The naive connector's figures.
    """
    settings = load_settings(config, {})
    entry = settings.sources[0]
    pim = PimClient.from_settings(settings.pim)
    source = build_source(entry.name, entry)
    structure = StructureCache(pim, ttl=3600.0)
    mappers = MapperCache(entry.mapping, structure)
    media = MediaTransfer(source, pim, lambda _checksum: None, concurrency=1)
    before = request_counts(sim_stats(sims.pim_url))
    done = failed = 0
    errors: list[str] = []
    started = time.perf_counter()
    try:
        mapper = await mappers.get()
        window = Window(None, datetime.now(UTC) + timedelta(days=1))
        async for page in source.changes(window):
            for asset in page.assets:
                if done >= limit:
                    break
                done += 1
                outcome = mapper.map_asset(asset)
                if not isinstance(outcome, MappedAsset):
                    continue
                try:
                    for option in outcome.missing_options:
                        await pim.upsert_attribute_option(
                            option.family, option.attribute, option.code, None
                        )
                    codes: dict[MediaRequest, str] = {}
                    for request in outcome.media:
                        target = replace(asset, binary=request.binary)
                        codes[request] = (await media.transfer(target)).media_code
                    await pim.upsert_asset(fill_media(outcome, codes))
                except SyncError as exc:
                    failed += 1
                    errors.append(f"{asset.id}: {type(exc).__name__}")
            if done >= limit:
                break
    finally:
        wall = time.perf_counter() - started
        await source.aclose()
        await pim.aclose()
    total = sum(delta(request_counts(sim_stats(sims.pim_url)), before).values())
    return NaiveRun(
        mode=mode,
        assets=done,
        wall_s=round(wall, 3),
        assets_per_s=round(done / wall, 2) if wall else 0.0,
        pim_requests=total,
        requests_per_asset=round(total / done, 3) if done else 0.0,
        failed=failed,
        errors=errors[:5],
        load_after=load_average(),
    )


def as_dict(record: DaemonRun | IdlePass | NaiveRun) -> dict[str, Any]:
    """
    Returns:
        The record as JSON-ready data.
    """
    return asdict(record)
