"""
The event path through a real `damsync run`: DAM webhooks and broker messages, the durable inbox,
and the consumer writing to the PIM between passes (issue 15).

The DAM simulator sends its changes (``EventFeedOptions``); the poll interval is an hour where
only events may deliver a change, so what reaches the PIM in seconds came through the inbox.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from daemon.sim.dam.webhook_signing import new_standard_secret, standard_headers
from tests.intake.broker_fixtures import NATS_URL, RABBITMQ_URL
from tests.runtime.conftest import (
    Served,
    free_port,
    migrate,
    query,
    sqlite_url,
    wait_for,
    write_config,
)
from tests.runtime.event_rig import (
    SECRET,
    SOURCE,
    EventSims,
    dam_refs,
    event_sections,
    first_pass,
    inbox_rows,
    inbox_status,
    live_ids,
    make_event_sims,
    metric,
    nats_section,
    nats_stream,
    pim_code,
    pim_refs,
    rabbit_queue,
    rabbit_section,
    scrape,
    scrape_until,
    signed_post,
    speed_up,
    webhook_listening,
)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

HOUR = 3600


@pytest.fixture(name="built")
def _built() -> Iterator[list[Served]]:
    servers: list[Served] = []
    yield servers
    for served in reversed(servers):
        served.close()


def configure(tmp_path, sims: EventSims, *, interval: float = HOUR, **sections):
    """The example config on ``sims``, short backoffs, a source fed by events; migrated."""
    url = sqlite_url(tmp_path)
    port = free_port()
    config = write_config(
        tmp_path / "c.toml",
        sims,
        store_url=url,
        server_port=port,
        interval=interval,
        grace=3,
        retry_interval=1,
    )
    speed_up(config, event_sections(events_port=sims.events_port, **sections))
    migrate(url)
    return config, port, tmp_path / "state.db"


def ids_with_codes(sims: EventSims, ids: list[str]) -> dict[str, str]:
    by_id = {a["id"]: a for a in sims.dam_assets()}
    return {dam_id: pim_code(by_id[dam_id])[1] for dam_id in ids}


def test_webhooks_write_changes_and_deletions_long_before_the_next_pass(
    tmp_path, built, start_daemon
):
    """After the first pass, DAM changes arrive as signed webhooks and reach the PIM within
    seconds (the next pass is an hour away); a deletion goes through delete_policy = "delete"."""
    sims = make_event_sims(built, assets=30)
    config, port, _db = configure(tmp_path, sims)
    daemon = start_daemon(config, port)
    first_pass(daemon)
    webhook_listening(daemon, sims.events_port)
    ids = live_ids(sims)
    codes = ids_with_codes(sims, ids[:6])
    assert set(codes.values()) <= set(pim_refs(sims)), "the first pass wrote them"
    changed = {dam_id: f"E2E-{n}" for n, dam_id in enumerate(ids[:5])}
    gone = ids[5]

    for dam_id, sku in changed.items():
        sims.mutate(dam_id, metadata={"sku": sku})
    sims.mutate(gone, deleted=True)

    def arrived() -> bool:
        pim = pim_refs(sims)
        return codes[gone] not in pim and all(pim.get(codes[i]) == s for i, s in changed.items())

    wait_for(arrived, 15, "the changes and the deletion in the PIM", step=0.2)
    assert 1 == len(daemon.events("sync.pass_finished")), "a pass ran: not the events' doing"
    found = scrape_until(
        daemon,
        lambda s: metric(s, "damsync_event_to_pim_seconds_count") >= 6,
        "the event-to-PIM latencies counted",
    )
    assert 6 <= metric(found, "damsync_events_received_total", source=SOURCE, origin="webhook")
    assert 6 <= metric(found, "damsync_event_to_pim_seconds_count", source=SOURCE)
    assert 0 == metric(found, "damsync_events_rejected_total")
    assert {"done": 6} == inbox_status(tmp_path / "state.db")
    assert dam_refs(sims) == pim_refs(sims)


def test_unsigned_and_badly_signed_webhooks_get_401_and_are_never_processed(
    tmp_path, built, start_daemon
):
    """Unsigned, wrongly signed, tampered and replayed webhooks get 401 and a counted reason;
    nothing reaches the inbox or the PIM. The same event correctly signed is then written."""
    sims = make_event_sims(built, assets=10, webhook=False)  # the test posts the webhooks
    config, port, db = configure(tmp_path, sims)
    daemon = start_daemon(config, port)
    first_pass(daemon)
    webhook_listening(daemon, sims.events_port)
    dam_id = live_ids(sims)[0]
    code = ids_with_codes(sims, [dam_id])[dam_id]
    before = pim_refs(sims)[code]
    sims.mutate(dam_id, metadata={"sku": "FORGED-TRIGGER"})
    body = {"type": "asset.updated", "data": {"id": dam_id}}
    raw = json.dumps(body).encode()
    now = int(time.time())
    signed = standard_headers(SECRET, "msg_forged", now, raw)
    other = standard_headers(new_standard_secret(), "msg_forged", now, raw)
    stale = standard_headers(SECRET, "msg_stale", now - 3600, raw)
    tampered = json.dumps({**body, "data": {"id": live_ids(sims)[1]}}).encode()
    attempts = {
        "unsigned": (raw, {}),
        "other secret": (raw, other),
        "tampered body": (tampered, signed),
        "no signature": (raw, {k: v for k, v in signed.items() if k != "webhook-signature"}),
        "replayed": (raw, stale),
    }

    with httpx.Client(timeout=10) as client:
        answers = {
            what: client.post(
                sims.webhook_url(),
                content=content,
                headers={**headers, "Content-Type": "application/json"},
            ).status_code
            for what, (content, headers) in attempts.items()
        }
        found = scrape_until(
            daemon,
            lambda s: metric(s, "damsync_events_rejected_total") >= len(attempts),
            "the refusals counted",
        )
        assert dict.fromkeys(attempts, 401) == answers
        assert 4 == metric(found, "damsync_events_rejected_total", reason="signature")
        assert 1 == metric(found, "damsync_events_rejected_total", reason="timestamp")
        assert 0 == metric(found, "damsync_events_received_total")
        assert 0 == metric(found, "damsync_inbox_pending")
        assert {} == inbox_status(db)
        assert before == pim_refs(sims)[code]

        # The control: the same event signed with the right secret goes all the way.
        assert (
            200 == signed_post(client, sims.webhook_url(), body, now=int(time.time())).status_code
        )
    wait_for(lambda: pim_refs(sims)[code] == "FORGED-TRIGGER", 10, "the signed event written")
    assert {"done": 1} == inbox_status(db)


def test_a_burst_of_1000_webhooks_while_the_pim_answers_503_loses_nothing(
    tmp_path, built, start_daemon
):
    """1,000 webhooks (5 changes of 200 assets) arrive while every PIM request gets 503: each is
    acknowledged 2xx at its first attempt (persisted), and once the PIM recovers every asset
    ends with its last value, with no inbox row left pending or dead."""
    sims = make_event_sims(built, assets=200, feed={"concurrency": 8})
    config, port, db = configure(tmp_path, sims)
    daemon = start_daemon(config, port)
    first_pass(daemon, timeout=60)
    webhook_listening(daemon, sims.events_port)
    ids = live_ids(sims)
    sims.pim_options(fault_rate=1.0, fault_statuses=[503])

    with httpx.Client(timeout=10) as client:
        for round_ in range(5):
            for dam_id in ids:
                client.post(
                    f"{sims.dam.url}/_sim/mutate",
                    json={"id": dam_id, "metadata": {"sku": f"BURST-{round_}-{dam_id}"}},
                ).raise_for_status()
    stats = sims.wait_feed_idle(timeout=60)
    assert (1000, 1000, 1000, {}) == (
        stats["emitted"],
        stats["attempts"]["webhook"],
        stats["delivered"]["webhook"],
        stats["failed"],
    ), "a webhook was not acknowledged at its first attempt"
    assert 1000 == inbox_rows(db)
    # The consumer tried while the PIM was down: its rows went back (or became failure rows).
    daemon.wait_event("sync.inbox_consume_failed", timeout=30)
    assert 1 == len(daemon.events("sync.pass_finished")), "a pass ran: not the events' doing"

    sims.pim_options(fault_rate=0.0)
    wait_for(lambda: dam_refs(sims) == pim_refs(sims), 40, "every asset's last value in the PIM")
    wait_for(lambda: inbox_status(db) == {"done": 1000}, 20, "every inbox row done")
    found = scrape(daemon)
    assert 1000 == metric(found, "damsync_events_received_total", origin="webhook")
    assert 0 == metric(found, "damsync_events_rejected_total")


def test_sigkill_between_inbox_commit_and_pim_write_the_restarted_daemon_writes_the_events(
    tmp_path, built, start_daemon
):
    """Events are in the inbox and claimed, their PIM write hangs, the daemon is SIGKILLed: the
    restarted daemon takes the expired claims over and the assets are written."""
    sims = make_event_sims(built, assets=20)
    config, port, db = configure(tmp_path, sims, claim_seconds=2, debounce=1)
    daemon = start_daemon(config, port)
    first_pass(daemon)
    webhook_listening(daemon, sims.events_port)
    changed = {dam_id: f"KILLED-{dam_id}" for dam_id in live_ids(sims)[:8]}
    sims.pim_options(latency=6)  # the consumer's PIM requests hang (past the kill)

    for dam_id, sku in changed.items():
        sims.mutate(dam_id, metadata={"sku": sku})
    sims.wait_feed_idle()

    def in_flight() -> list[tuple[int]] | None:
        if inbox_rows(db) != 8:
            return None
        return query(db, "SELECT id FROM event_inbox WHERE status = 'claimed'") or None

    claimed = wait_for(in_flight, 15, "the 8 rows stored and some claimed, in flight")
    daemon.process.kill()
    assert -9 == daemon.wait_exit(timeout=10)

    sims.pim_options(latency=0.0)  # new requests only: the killed one still waits
    restarted = start_daemon(config, port)
    codes = ids_with_codes(sims, list(changed))
    wait_for(
        lambda: all(pim_refs(sims).get(codes[i]) == s for i, s in changed.items()),
        30,
        "the killed daemon's events written",
        step=0.2,
    )
    wait_for(lambda: inbox_status(db) == {"done": 8}, 15, "the 8 rows done")
    taken_over = query(
        db, "SELECT id FROM event_inbox WHERE attempts = 2 AND claimed_by IS NULL ORDER BY id"
    )
    assert sorted(claimed) == taken_over, "the killed claims were not taken over"
    assert restarted.events("sync.inbox_consumed")


@pytest.mark.parametrize("broker", ["rabbitmq", "nats"])
def test_broker_messages_write_changes_and_deletions_long_before_the_next_pass(
    tmp_path, built, start_daemon, broker
):
    """As the webhook test, with the DAM publishing to RabbitMQ or NATS JetStream and the
    daemon consuming a unique queue or stream (removed afterwards)."""
    with contextlib.ExitStack() as stack:
        if broker == "rabbitmq":
            queue = stack.enter_context(rabbit_queue())
            feed = {"amqp_url": RABBITMQ_URL, "amqp_routing_key": queue}
            section = rabbit_section(queue)
        else:
            stream, subject = stack.enter_context(nats_stream())
            feed = {"nats_url": NATS_URL, "nats_subject": subject}
            section = nats_section(stream, subject)
        sims = make_event_sims(built, assets=20, feed=feed, webhook=False)
        config, port, db = configure(tmp_path, sims, webhook=False, broker=section)
        daemon = start_daemon(config, port)
        first_pass(daemon)
        scrape_until(
            daemon,
            lambda s: metric(s, "damsync_broker_connected", origin=broker) == 1,
            f"the {broker} consumer connected",
            timeout=20,
        )
        ids = live_ids(sims)
        codes = ids_with_codes(sims, ids[:4])
        changed = {dam_id: f"{broker.upper()}-{n}" for n, dam_id in enumerate(ids[:3])}
        gone = ids[3]

        for dam_id, sku in changed.items():
            sims.mutate(dam_id, metadata={"sku": sku})
        sims.mutate(gone, deleted=True)

        def arrived() -> bool:
            pim = pim_refs(sims)
            return codes[gone] not in pim and all(
                pim.get(codes[i]) == s for i, s in changed.items()
            )

        wait_for(arrived, 20, f"the changes and the deletion through {broker}", step=0.2)
        assert 1 == len(daemon.events("sync.pass_finished")), "a pass ran: not the events' doing"
        found = scrape_until(
            daemon,
            lambda s: metric(s, "damsync_event_to_pim_seconds_count") >= 4,
            "the event-to-PIM latencies counted",
        )
        assert 4 == metric(found, "damsync_events_received_total", origin=broker)
        assert {"done": 4} == inbox_status(db)
        daemon.signal(signal.SIGTERM)
        assert 0 == daemon.wait_exit(timeout=15)  # the broker closed before its queue goes


def test_events_with_drops_duplicates_and_reordering_plus_polling_lose_nothing(
    tmp_path, built, start_daemon
):
    """The DAM drops 30 % of its webhooks, sends 20 % twice and reorders them; with a 2 s poll
    the PIM ends equal to the DAM for every asset, and no duplicate was stored twice."""
    sims = make_event_sims(
        built,
        assets=60,
        feed={"drop": 0.3, "duplicate": 0.2, "reorder_window": 8, "fault_seed": 15},
    )
    config, port, db = configure(tmp_path, sims, interval=2)
    daemon = start_daemon(config, port)
    first_pass(daemon)
    webhook_listening(daemon, sims.events_port)
    ids = live_ids(sims)
    rng = random.Random(15)

    with httpx.Client(timeout=10) as client:
        for n in range(300):
            dam_id = rng.choice(ids)
            change: dict[str, object] = {"metadata": {"sku": f"MIX-{n}"}}
            if n % 60 == 59:
                change = {"deleted": True}
            client.post(
                f"{sims.dam.url}/_sim/mutate", json={"id": dam_id, **change}
            ).raise_for_status()
    stats = sims.wait_feed_idle(timeout=30)
    assert stats["dropped"] and stats["duplicated"] and stats["reordered"], stats

    wait_for(lambda: dam_refs(sims) == pim_refs(sims), 30, "the PIM equal to the DAM", step=0.3)
    sent = stats["emitted"] - stats["dropped"]
    found = scrape_until(
        daemon,
        lambda s: metric(s, "damsync_events_received_total") >= sent,
        "every delivered event received",
    )
    assert sent == metric(found, "damsync_events_received_total")
    assert stats["duplicated"] == metric(found, "damsync_events_deduplicated_total")
    assert sent == inbox_rows(db), "a duplicate was stored twice"
    wait_for(lambda: set(inbox_status(db)) == {"done"}, 15, "every inbox row done")
