"""
``python -m bench.events``: how long a DAM change takes to reach the PIM through an event.

The issue's target: within 2 s (p99) of its webhook, on loopback, the PIM answering in 50 ms,
at 50 events/s sustained; the same through RabbitMQ and NATS.

One run (``--via webhook|rabbitmq|nats``):

1. the PIM simulator (``--pim-latency`` seconds per request) and the DAM simulator are served
   by uvicorn in this process, on free loopback ports; the DAM sends every change as a
   Standard Webhooks event signed with a fresh secret to the daemon's ``[events]`` port, or
   publishes it to RabbitMQ (127.0.0.1:5672, a throw-away queue the daemon declares) or NATS
   JetStream (127.0.0.1:4222, a throw-away stream created here), deleted at the end;
2. the daemon runs as a child process (``python -m daemon run``) on a fresh SQLite store, with
   passes an hour apart: its first pass syncs the DAM's assets, then only events deliver;
3. a driver changes ``rate * seconds`` distinct assets at ``--rate`` per second (the DAM's
   store, in process: the same call as ``POST /_sim/mutate``), setting ``metadata.sku`` (the
   PIM's ``product_ref``) to a value unique to the change, and records when;
4. the latency of a change runs from that moment to the moment the PIM simulator's state holds
   the new value (:class:`bench.event_rig.PimWatch`: checked as each PIM write is answered,
   in this process, so it is exact to within this event loop's lag, which is measured and
   reported); changes not seen within ``--drain`` seconds after the last one are lost.

It prints one JSON document (also written to ``bench/results/events-<via>.json``) and a
Markdown row for docs/benchmarks.md. Exit 1 when a change was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import structlog

from bench.event_rig import (
    NATS_URL,
    RABBITMQ_URL,
    SOURCE,
    VIAS,
    BrokerNames,
    DaemonProcess,
    LoopLag,
    PimWatch,
    Via,
    bound_socket,
    create_stream,
    events_config,
    port_of,
    remove_broker_objects,
    scrape,
    served,
    standard_secret,
    total,
)
from bench.harness import ROOT, SEED
from daemon.mapping.codes import sanitise_code
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.dam.dataset import asset_id
from daemon.sim.dam.event_options import EventFeedOptions
from daemon.sim.pim import create_pim_app, load_seed
from daemon.sim.pim.options import PimSimOptions

RESULTS = ROOT / "bench/results"
FAMILY = "packshots"
ATTRIBUTE = "product_ref"  # mapped from metadata.sku


@dataclass(frozen=True, slots=True)
class EventsOptions:
    """One run of the event benchmark (the command line's options)."""

    via: Via = "webhook"
    rate: float = 50.0
    seconds: float = 60.0
    pim_latency: float = 0.05
    debounce: float = 1.0
    drain: float = 30.0

    @property
    def changes(self) -> int:
        return max(1, round(self.rate * self.seconds))


@dataclass(frozen=True, slots=True)
class EventsResult:
    """What one run measured (seconds unless the name says otherwise)."""

    via: str
    rate: float
    seconds: float
    pim_latency: float
    debounce: float
    changes: int
    delivered: int
    lost: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float
    achieved_rate: float
    seen_by_poll: int
    loop_lag_p99_ms: float
    loop_lag_max_ms: float
    daemon_cpu_s: float
    daemon_cpu_percent: float
    load_before: float
    load_after: float
    events_received: float
    events_deduplicated: float
    events_rejected: float
    pim_writes: int
    feed: dict[str, Any]
    daemon_exit: int


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank, so p99 of 3,000 values is the 2,970th); 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 1))
    return ordered[int(rank) - 1]


async def run_events(options: EventsOptions, workdir: Path) -> EventsResult:
    """
    Serve the simulators, run the daemon, drive the changes and measure them.

    Args:
        options: The run.
        workdir: The daemon's configuration, state store, secret and log.

    Returns:
        The figures.
    """
    names = BrokerNames.fresh()
    pim_sock, dam_sock, metrics_sock, events_sock = (bound_socket() for _ in range(4))
    pim_url, dam_url = (
        f"http://127.0.0.1:{port_of(pim_sock)}",
        f"http://127.0.0.1:{port_of(dam_sock)}",
    )
    metrics_port, events_port = port_of(metrics_sock), port_of(events_sock)
    metrics_sock.close()  # the daemon binds these two itself
    events_sock.close()
    secret = standard_secret()
    secret_file = workdir / "webhook-secret"
    secret_file.write_text(secret, encoding="utf-8")
    config = workdir / "damsync.toml"
    config.write_text(
        events_config(
            pim_url=pim_url,
            dam_url=dam_url,
            database_url=f"sqlite:///{workdir / 'state.db'}",
            metrics_port=metrics_port,
            events_port=events_port,
            debounce=options.debounce,
            via=options.via,
            secret_file=secret_file,
            names=names,
        ),
        encoding="utf-8",
    )
    pim_app = create_pim_app(
        load_seed(SEED), options=PimSimOptions(latency=options.pim_latency, base_url=pim_url)
    )
    watch = PimWatch(pim_app.state.pim, FAMILY, ATTRIBUTE)
    feed = _feed_options(options.via, secret, events_port, names)
    dam_app = create_dam_app(DamSimOptions(assets=options.changes, base_url=dam_url), events=feed)
    if options.via == "nats":
        await create_stream(names)
    try:
        async with (
            served(watch.middleware(pim_app), pim_sock, lifespan=False),
            served(dam_app, dam_sock, lifespan=True),
        ):
            daemon = DaemonProcess(config, workdir / "daemon.log")
            try:
                result = await _measure(options, daemon, watch, dam_app, metrics_port)
            finally:
                # In a thread: the daemon may still be talking to the simulators this loop serves.
                code = await asyncio.to_thread(daemon.stop)
                if code != 0:
                    print(daemon.tail(), file=sys.stderr)
            return replace(result, daemon_exit=code)
    finally:
        await remove_broker_objects(options.via, names)


def _feed_options(via: Via, secret: str, events_port: int, names: BrokerNames) -> EventFeedOptions:
    if via == "webhook":
        url = f"http://127.0.0.1:{events_port}/webhooks/{SOURCE}"
        return EventFeedOptions(style="standard", webhook_url=url, secret=secret)
    if via == "rabbitmq":
        return EventFeedOptions(
            style="standard", amqp_url=RABBITMQ_URL, amqp_routing_key=names.queue
        )
    return EventFeedOptions(style="standard", nats_url=NATS_URL, nats_subject=names.subject)


async def _measure(
    options: EventsOptions,
    daemon: DaemonProcess,
    watch: PimWatch,
    dam_app: Any,
    metrics_port: int,
) -> EventsResult:
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    total_changes = options.changes
    # The first pass writes every asset; the driver starts once it is over.
    await daemon.wait_for('"sync.pass_finished"', timeout=120 + total_changes / 20)
    codes = [sanitise_code(asset_id(n)) for n in range(1, total_changes + 1)]
    if not watch.holds(codes[0]):
        raise RuntimeError(f"the first pass did not write {codes[0]}:\n{daemon.tail()}")
    if options.via != "webhook":
        await _broker_connected(metrics_url, daemon)
    sim = dam_app.state.dam
    feed = dam_app.state.events
    stop = asyncio.Event()
    lag = LoopLag()
    helpers = [asyncio.create_task(watch.poll(stop)), asyncio.create_task(lag.run(stop))]
    writes_before = watch.writes
    load_before = round(os.getloadavg()[0], 2)
    cpu_before = daemon.cpu_seconds()
    started = time.monotonic()
    run_tag = f"{int(time.time())}"
    try:
        for i, num in enumerate(range(1, total_changes + 1)):
            delay = started + i / options.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if sim.store.get(num).deleted:  # the generated DAM has a few tombstones
                sim.store.mutate(num, sim.now_us(), deleted=False)
            value = f"BENCH-{run_tag}-{i}"
            watch.expect(codes[i], value, time.monotonic())
            sim.store.mutate(num, sim.now_us(), metadata={"sku": value})
        driven = time.monotonic() - started
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.drained.wait(), options.drain)
        watch.check()
    finally:
        stop.set()
        await asyncio.gather(*helpers, return_exceptions=True)
    wall = time.monotonic() - started
    cpu = daemon.cpu_seconds() - cpu_before
    samples = await scrape(metrics_url)
    lat = watch.latencies
    return EventsResult(
        via=options.via,
        rate=options.rate,
        seconds=options.seconds,
        pim_latency=options.pim_latency,
        debounce=options.debounce,
        changes=total_changes,
        delivered=len(lat),
        lost=len(watch.pending),
        p50=round(quantile(lat, 0.5), 3),
        p90=round(quantile(lat, 0.9), 3),
        p99=round(quantile(lat, 0.99), 3),
        max=round(max(lat, default=0.0), 3),
        mean=round(statistics.fmean(lat), 3) if lat else 0.0,
        achieved_rate=round(total_changes / driven, 2) if driven else 0.0,
        seen_by_poll=watch.seen_by_poll,
        loop_lag_p99_ms=round(1000 * quantile(lag.lags, 0.99), 1),
        loop_lag_max_ms=round(1000 * max(lag.lags, default=0.0), 1),
        daemon_cpu_s=round(cpu, 2),
        daemon_cpu_percent=round(100 * cpu / wall, 1) if wall else 0.0,
        load_before=load_before,
        load_after=round(os.getloadavg()[0], 2),
        events_received=total(samples, "damsync_events_received_total"),
        events_deduplicated=total(samples, "damsync_events_deduplicated_total"),
        events_rejected=total(samples, "damsync_events_rejected_total"),
        pim_writes=watch.writes - writes_before,
        feed=feed.stats.as_dict() if feed is not None else {},
        daemon_exit=0,
    )


async def _broker_connected(metrics_url: str, daemon: DaemonProcess, timeout: float = 60) -> None:
    """Wait until the daemon's broker consumer is connected (the queue or durable exists)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if total(await scrape(metrics_url), "damsync_broker_connected") >= 1:
                return
        except Exception:  # not serving yet
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the broker consumer did not connect:\n{daemon.tail()}")
        await asyncio.sleep(0.2)


def markdown_row(result: EventsResult) -> str:
    """One row of the table in docs/benchmarks.md."""
    r = result
    return (
        f"| {r.via} | {r.rate:g}/s x {r.seconds:g} s | {r.debounce:g} s | {r.changes:,} "
        f"| {r.delivered:,} | {r.lost} | {r.p50:.2f} | {r.p90:.2f} | {r.p99:.2f} | {r.max:.2f} "
        f"| {r.daemon_cpu_percent:.0f} % ({r.daemon_cpu_s:.1f} s) | {r.pim_writes} "
        f"| {r.loop_lag_p99_ms:.0f} / {r.loop_lag_max_ms:.0f} | {r.load_before}->{r.load_after} |"
    )


def main(argv: list[str] | None = None) -> int:
    """
    Run the benchmark once and report.

    Returns:
        0, or 1 when a change was lost.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__)
    parser.add_argument("--via", choices=VIAS, default="webhook")
    parser.add_argument("--rate", type=float, default=50.0, help="changes per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long changes are made")
    parser.add_argument("--pim-latency", type=float, default=0.05, help="PIM s per request")
    parser.add_argument(
        "--debounce", type=float, default=1.0, help="the daemon's [events] debounce"
    )
    parser.add_argument("--drain", type=float, default=30.0, help="s to wait for the last ones")
    parser.add_argument(
        "--out", type=Path, help="JSON results (default bench/results/events-<via>.json)"
    )
    args = parser.parse_args(argv)
    options = EventsOptions(
        via=args.via,
        rate=args.rate,
        seconds=args.seconds,
        pim_latency=args.pim_latency,
        debounce=args.debounce,
        drain=args.drain,
    )
    # The simulators run in this process: keep their logs to warnings.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory(prefix="damsync-bench-events-") as tmp:
        result = asyncio.run(run_events(options, Path(tmp)))
    document = {
        "command": "python -m bench.events " + " ".join(argv if argv is not None else sys.argv[1:]),
        "result": asdict(result),
    }
    out = args.out or RESULTS / f"events-{options.via}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2), encoding="utf-8")
    print(json.dumps(document["result"]), flush=True)
    print(markdown_row(result), flush=True)
    return 1 if result.lost else 0


if __name__ == "__main__":
    sys.exit(main())
