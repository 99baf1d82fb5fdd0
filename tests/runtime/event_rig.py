"""
The event path of a real `damsync run`: a DAM simulator that sends its changes (signed webhooks,
RabbitMQ, NATS), configs with ``[events]`` and a source fed by events, and readers of the PIM,
the inbox and ``/metrics``.

Built on the runtime rig (``tests/runtime/conftest.py``): ``Served`` simulators on loopback,
``write_config`` for the example configuration, ``start_daemon`` for the subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from daemon.mapping import sanitise_code
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.dam.event_options import EventFeedOptions
from daemon.sim.dam.webhook_signing import standard_headers
from daemon.sim.pim import create_pim_app, load_seed
from daemon.sim.pim.options import PimSimOptions
from tests.intake.broker_fixtures import NATS_URL, RABBITMQ_URL, require_server
from tests.runtime.conftest import SEED, Daemon, Served, Sims, free_port, query, wait_for

SOURCE = "demo"
#: The webhook secret of the DAM simulator and the daemon (a test value, never a real one).
SECRET = "whsec_ZGFtc3luYy1lMmUtZXZlbnRzLXRlc3Qtc2VjcmV0LTAx"
#: The generic DAM's standard event body: ``{"type", "data": {"id", ...}}``.
STANDARD_FIELDS = """
[sources.events]
ids = "data.id"
kind = "type"
deleted = ["asset.deleted"]
"""

#: The feed options naming a target: without one the DAM sends no events.
_TARGETS = {"webhook_url", "amqp_url", "nats_url"}

Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class EventSims(Sims):
    """The PIM and a DAM sending its changes to ``events_port`` (or a broker)."""

    events_port: int = 0

    def feed_stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.dam.url}/_sim/events/stats").json())

    def wait_feed_idle(self, timeout: float = 20) -> dict[str, Any]:
        """Until every event copy the DAM accepted was delivered or given up."""
        stats: dict[str, Any] = wait_for(
            lambda: (s := self.feed_stats())["pending"] == 0 and s,
            timeout,
            "the DAM's event feed to be idle",
        )
        return stats

    def mutate(self, dam_id: str, **change: Any) -> dict[str, Any]:
        """``POST /_sim/mutate``: one asset changed (or deleted) now; its new state."""
        response = httpx.post(f"{self.dam.url}/_sim/mutate", json={"id": dam_id, **change})
        response.raise_for_status()
        return dict(response.json())

    def pim_options(self, **options: Any) -> None:
        httpx.put(f"{self.pim.url}/_sim/options", json=options).raise_for_status()

    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.events_port}/webhooks/{SOURCE}"


def make_event_sims(
    built: list[Served],
    *,
    assets: int = 40,
    feed: dict[str, Any] | None = None,
    webhook: bool = True,
) -> EventSims:
    """
    A PIM and a DAM whose event feed has ``feed`` options; with ``webhook`` it posts to a free
    port taken for the daemon's ``[events] port``. ``built`` collects the servers to close.
    """
    events_port = free_port()
    pim = Served(lambda url: create_pim_app(load_seed(SEED), options=PimSimOptions(base_url=url)))
    built.append(pim)
    options = dict(feed or {})
    if webhook:
        options["webhook_url"] = f"http://127.0.0.1:{events_port}/webhooks/{SOURCE}"
        options["secret"] = SECRET
    # A quick retry: a webhook refused while the daemon starts is sent again soon.
    options = {"retry_base": 0.2, "retry_max": 1.0, "max_attempts": 10, **options}
    dam = Served(
        lambda url: create_dam_app(
            DamSimOptions(assets=assets, history_days=2, base_url=url),
            events=EventFeedOptions(**options) if options.keys() & _TARGETS else None,
        ),
        lifespan="on",
    )
    built.append(dam)
    return EventSims(pim, dam, events_port)


def event_sections(
    *,
    events_port: int,
    webhook: bool = True,
    broker: str = "",
    debounce: float = 0.2,
    claim_seconds: float = 300,
    fields: str = STANDARD_FIELDS,
) -> str:
    """The TOML of the source's event sections and ``[events]``, appended to a config."""
    text = fields
    if webhook:
        text += f'\n[sources.webhook]\nstyle = "standard"\nsecrets = ["{SECRET}"]\n'
    text += broker
    text += (
        f'\n[events]\nhost = "127.0.0.1"\nport = {events_port}\ndebounce = {debounce:g}\n'
        f"claim_seconds = {claim_seconds:g}\n"
    )
    return text


def speed_up(config: Path, extra: str, *, pim_attempts: int = 2) -> Path:
    """Short PIM retries and failure backoffs, then ``extra`` (event sections) appended."""
    text = config.read_text(encoding="utf-8")
    replacements = {
        r"(?m)^attempts = 6\b": f"attempts = {pim_attempts}",
        r"(?m)^deadline = 120\b": "deadline = 3",
        r"(?m)^wait_initial = 0\.5\b": "wait_initial = 0.05",
        r"(?m)^wait_max = 30\b": "wait_max = 0.3",
        r"(?m)^retry_after_max = 60\b": "retry_after_max = 1",
        r"(?m)^base_seconds = 60\b": "base_seconds = 1",
        r"(?m)^max_seconds = 21600\b": "max_seconds = 2",
        r"(?m)^max_attempts = 8\b": "max_attempts = 50",
        r"(?m)^reconcile_interval = 3600\b": "# reconcile off",
    }
    for pattern, value in replacements.items():
        text, count = re.subn(pattern, value, text, count=1)
        assert 1 == count, pattern
    config.write_text(_without_events_table(text) + extra, encoding="utf-8")
    return config


def _without_events_table(text: str) -> str:
    """The config without its ``[events]`` table (``extra`` brings the test's own)."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        if line.startswith("[events]"):
            skipping = True
            continue
        if skipping and line.startswith(("[", "# ---")):
            skipping = False
        if not skipping:
            kept.append(line)
    return "".join(kept)


# --- what the PIM holds ------------------------------------------------------------------------


def pim_code(asset: dict[str, Any]) -> tuple[str, str]:
    """The (family, code) the example mapping gives a DAM asset."""
    if asset["type"] == "image":
        return "packshots", sanitise_code(asset["id"])
    return "notices", sanitise_code(f"notice_{asset['id']}")


def pim_refs(sims: Sims) -> dict[str, str | None]:
    """``{code: product_ref}`` of every asset in the PIM (both families)."""
    token = httpx.post(
        f"{sims.pim.url}/api/oauth/v1/token",
        json={"grant_type": "password", "username": "demo", "password": "demo"},
        auth=("demo_client", "demo_secret"),
    ).json()["access_token"]
    found: dict[str, str | None] = {}
    for family in ("packshots", "notices"):
        url: str | None = f"{sims.pim.url}/api/rest/v1/asset-families/{family}/assets"
        while url is not None:
            page = httpx.get(url, headers={"Authorization": f"Bearer {token}"}).json()
            for item in page["_embedded"]["items"]:
                values = item.get("values", {}).get("product_ref") or [{"data": None}]
                found[item["code"]] = values[0]["data"]
            nxt = page["_links"].get("next")
            url = nxt["href"] if nxt else None
    return found


def dam_refs(sims: Sims) -> dict[str, str | None]:
    """``{code: metadata.sku}`` of every live DAM asset: what the PIM must end up holding."""
    return {pim_code(a)[1]: a["metadata"].get("sku") for a in sims.dam_assets() if not a["deleted"]}


def live_ids(sims: Sims, kind: str | None = None) -> list[str]:
    """Live DAM asset ids (of ``type`` ``kind`` when given), in id order."""
    return [
        a["id"]
        for a in sims.dam_assets()
        if not a["deleted"] and (kind is None or a["type"] == kind)
    ]


# --- the daemon's state and metrics ------------------------------------------------------------


def inbox_status(db: Path) -> dict[str, int]:
    """``{status: rows}`` of the inbox (empty while the table is busy or missing)."""
    try:
        return dict(query(db, "SELECT status, COUNT(*) FROM event_inbox GROUP BY status"))
    except sqlite3.Error:
        return {}


def inbox_rows(db: Path) -> int:
    return sum(inbox_status(db).values())


def scrape(daemon: Daemon) -> Scrape:
    found: Scrape = {}
    for family in text_string_to_metric_families(daemon.get("/metrics").text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def metric(found: Scrape, name: str, **labels: str) -> float:
    """The sum of ``name`` over the series whose labels include ``labels`` (0: none)."""
    wanted = set(labels.items())
    return sum(v for (n, lab), v in found.items() if n == name and wanted <= set(lab))


def scrape_until(
    daemon: Daemon, holds: Callable[[Scrape], bool], what: str, timeout: float = 10
) -> Scrape:
    """Scrape ``/metrics`` until ``holds`` is true of it."""

    def look() -> Scrape | None:
        found = scrape(daemon)
        return found if holds(found) else None

    result: Scrape = wait_for(look, timeout, what, step=0.2)
    return result


def first_pass(daemon: Daemon, timeout: float = 40) -> dict[str, Any]:
    """Wait for the first pass to finish; it must have succeeded."""
    line = daemon.wait_event("sync.pass_finished", timeout=timeout)[0]
    assert "succeeded" == line["status"], line
    return line


def webhook_listening(daemon: Daemon, port: int) -> None:
    """Wait until the daemon logs its webhook server listening on ``port``."""

    def up() -> bool:
        return any(line.get("port") == port for line in daemon.wait_event("server.started"))

    wait_for(up, 20, f"the webhook server on port {port}", step=0.1)


def signed_post(
    client: httpx.Client, url: str, body: dict[str, Any], *, secret: str = SECRET, now: int
) -> httpx.Response:
    """POST ``body`` signed as the DAM simulator signs a standard webhook."""
    raw = json.dumps(body).encode()
    headers = standard_headers(secret, f"msg_{uuid.uuid4().hex}", now, raw)
    return client.post(url, content=raw, headers={**headers, "Content-Type": "application/json"})


# --- brokers -----------------------------------------------------------------------------------


@contextlib.contextmanager
def rabbit_queue() -> Iterator[str]:
    """A unique queue name (and its dead-letter exchange) for one test; deleted afterwards."""
    require_server("RabbitMQ", "127.0.0.1", 5672)
    name = f"damsync-e2e-{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        asyncio.run(_drop_rabbit(name))


async def _drop_rabbit(name: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(RABBITMQ_URL, timeout=10)
    async with connection:
        channel = await connection.channel()
        for queue in (name, f"{name}.dead"):
            await channel.queue_delete(queue)
        await channel.exchange_delete(f"{name}.dlx")


def rabbit_section(queue: str) -> str:
    return (
        f'\n[sources.broker]\ntype = "rabbitmq"\nurl = "{RABBITMQ_URL}"\nqueue = "{queue}"\n'
        f'dead_letter_exchange = "{queue}.dlx"\nprefetch = 50\n'
    )


@contextlib.contextmanager
def nats_stream() -> Iterator[tuple[str, str]]:
    """A unique JetStream stream and subject for one test, created now and deleted afterwards."""
    require_server("NATS", "127.0.0.1", 4222)
    token = uuid.uuid4().hex[:12]
    stream, subject = f"DAMSYNC_E2E_{token}", f"damsync.e2e.{token}"
    asyncio.run(_nats(stream, subject, create=True))
    try:
        yield stream, subject
    finally:
        asyncio.run(_nats(stream, subject, create=False))


async def _nats(stream: str, subject: str, *, create: bool) -> None:
    import nats

    client = await nats.connect(NATS_URL, connect_timeout=5, allow_reconnect=False)
    try:
        js = client.jetstream(timeout=10)
        if create:
            await js.add_stream(name=stream, subjects=[subject])
        else:
            await js.delete_stream(stream)
    finally:
        await client.close()


def nats_section(stream: str, subject: str) -> str:
    return (
        f'\n[sources.broker]\ntype = "nats"\nurl = "{NATS_URL}"\nstream = "{stream}"\n'
        f'subject = "{subject}"\ndurable = "damsync-e2e"\nack_wait = 5\n'
    )
