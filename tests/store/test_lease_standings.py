"""`Store.lease_standings`: who owns each source, since when, until when, on the database clock."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from daemon.cli.main import main
from daemon.store import Store
from tests.store.conftest import expire_lease

ROOT = Path(__file__).resolve().parents[2]


def test_a_taken_lease_is_held_with_its_holder_epoch_and_times_on_the_database_clock(store):
    """Acquired and expiry times come from one database clock reading: exactly the TTL apart."""
    assert [] == store.lease_standings()
    store.acquire_lease("b", "host-b:2:20", 600)
    store.acquire_lease("a", "host-a:1:10", 600)

    a, b = store.lease_standings()
    assert ("a", "host-a:1:10", 1, "held") == (a.source, a.holder, a.epoch, a.state)
    assert ("b", "host-b:2:20", "held") == (b.source, b.holder, b.state)
    assert timedelta(seconds=600) == a.expires_at - a.acquired_at
    assert a.acquired_at <= a.database_now < a.expires_at
    assert a.database_now.utcoffset() == timedelta(0)


def test_renewal_keeps_since_and_a_takeover_after_expiry_starts_a_new_epoch(store):
    """The owner renewing keeps "since"; an expired lease shows expired until another takes it."""
    store.acquire_lease("a", "host-a:1:10", 600)
    (taken,) = store.lease_standings()
    store.acquire_lease("a", "host-a:1:10", 900)  # the same holder again: a renewal
    (kept,) = store.lease_standings()
    assert (taken.acquired_at, 1) == (kept.acquired_at, kept.epoch)
    assert kept.expires_at > taken.expires_at

    expire_lease(store, "a")
    (expired,) = store.lease_standings()
    assert ("expired", "host-a:1:10", 1) == (expired.state, expired.holder, expired.epoch)
    assert expired.expires_at < expired.database_now

    store.acquire_lease("a", "host-b:2:20", 600)
    (moved,) = store.lease_standings()
    assert ("held", "host-b:2:20", 2) == (moved.state, moved.holder, moved.epoch)
    assert moved.acquired_at >= taken.acquired_at


def test_a_released_or_rewound_lease_has_no_holder_and_a_newer_epoch(store: Store):
    """Released: no owner, the epoch bumped; its expiry column holds when it was released."""
    lease = store.acquire_lease("a", "host-a:1:10", 600)
    assert lease is not None and store.release_lease(lease)
    (released,) = store.lease_standings()
    assert ("released", None, 2) == (released.state, released.holder, released.epoch)
    assert released.expires_at <= released.database_now

    store.acquire_lease("b", "host-b:2:20", 600)
    store.rewind("b", None)
    rewound = store.lease_standings()[1]
    assert ("b", "released", None, 2) == (
        rewound.source,
        rewound.state,
        rewound.holder,
        rewound.epoch,
    )


def test_status_shows_the_owner_on_each_backend(store: Store, url: str, tmp_path):
    """`damsync status --format json` renders the lease on the database clock, on each backend."""
    example = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
    config = tmp_path / "damsync.toml"
    config.write_text(example.replace("sqlite:///damsync.db", url), encoding="utf-8")
    store.acquire_lease("demo", "host-a:1:10", 600)

    result = CliRunner().invoke(main, ["status", "--config", str(config), "--format", "json"])
    assert 0 == result.exit_code, result.output
    (row,) = json.loads(result.output)
    lease = row["lease"]
    (standing,) = store.lease_standings()
    assert ("held", "host-a:1:10", 1) == (lease["state"], lease["holder"], lease["epoch"])
    assert lease["since"] <= lease["database_time"] < lease["expires_at"]
    assert lease["expires_at"] == standing.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
