"""The persisted PIM structure and DAM clock readings, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from daemon.core.records import AssetAttribute, AssetFamily, Channel
from daemon.store import (
    ChannelsSnapshot,
    DamClockReading,
    FamilySnapshot,
    pim_identity,
)
from daemon.store.tables import structure_snapshots

PIM = "https://pim.example.com"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _family(code: str = "packshots", options: frozenset[str] = frozenset({"red"})) -> AssetFamily:
    return AssetFamily(
        code=code,
        attributes={
            "media": AssetAttribute(
                "media",
                "media_file",
                media_type="image",
                allowed_extensions=("jpg", "png"),
                max_file_size="10.5",
                labels={"en_US": "Media"},
            ),
            "color": AssetAttribute(
                "color", "single_option", value_per_locale=True, is_required_for_completeness=True
            ),
            "title": AssetAttribute(
                "title", "text", max_characters=80, validation_rule="regexp", validation_regexp="^a"
            ),
        },
        options={"color": options},
        attribute_as_main_media="media",
        labels={"en_US": "Packshots", "fr_FR": "Photos é"},
    )


def test_families_and_channels_round_trip(store):
    """What is saved loads back equal: families, a missing family and the channels."""
    channels = (Channel("ecommerce", ("en_US", "fr_FR")), Channel("print", ()))
    store.save_structure(
        PIM,
        [FamilySnapshot("packshots", _family(), T0), FamilySnapshot("gone", None, T0)],
        ChannelsSnapshot(channels, T0),
    )
    loaded = store.load_structure(PIM, T0 - timedelta(hours=1))
    assert {
        "packshots": FamilySnapshot("packshots", _family(), T0),
        "gone": FamilySnapshot("gone", None, T0),
    } == dict(loaded.families)
    assert ChannelsSnapshot(channels, T0) == loaded.channels


def test_a_save_replaces_the_row_and_older_rows_are_not_loaded(store):
    """A second save of a family replaces it; rows read before ``since`` are left out."""
    store.save_structure(PIM, [FamilySnapshot("packshots", _family(), T0)])
    later = T0 + timedelta(minutes=10)
    renewed = _family(options=frozenset({"red", "blue"}))
    store.save_structure(
        PIM, [FamilySnapshot("packshots", renewed, later), FamilySnapshot("old", None, T0)]
    )
    loaded = store.load_structure(PIM, T0 + timedelta(minutes=1))
    assert {"packshots": FamilySnapshot("packshots", renewed, later)} == dict(loaded.families)
    assert None is loaded.channels


def test_rows_are_kept_per_pim(store):
    """Two PIMs sharing the database never see each other's structure."""
    store.save_structure(PIM, [FamilySnapshot("packshots", _family(), T0)])
    other = "https://other-pim.example.com"
    assert {} == dict(store.load_structure(other, T0 - timedelta(hours=1)).families)


def test_drop_families_channels_or_everything(store):
    """drop_structure forgets the named families (and channels when asked), or every row."""
    since = T0 - timedelta(hours=1)
    channels = ChannelsSnapshot((Channel("ecommerce", ("en_US",)),), T0)
    rows = [FamilySnapshot(c, _family(c), T0) for c in ("a", "b", "c")]
    store.save_structure(PIM, rows, channels)
    store.save_structure("https://other", rows[:1])
    store.drop_structure(PIM, ["a"])
    assert ({"b", "c"}, True) == (
        set(store.load_structure(PIM, since).families),
        store.load_structure(PIM, since).channels is not None,
    )
    store.drop_structure(PIM, ["b"], channels=True)
    assert ({"c"}, None) == (
        set(store.load_structure(PIM, since).families),
        store.load_structure(PIM, since).channels,
    )
    store.drop_structure(PIM)
    assert {} == dict(store.load_structure(PIM, since).families)
    assert {"a"} == set(store.load_structure("https://other", since).families)


def test_a_row_of_another_version_is_ignored(store):
    """A body this version cannot read (another shape) is skipped: the family is read again."""
    store.save_structure(PIM, [FamilySnapshot("good", _family("good"), T0)])
    with store.engine.begin() as conn:
        conn.execute(
            insert(structure_snapshots).values(
                pim=PIM, kind="family", code="bad", body='{"v": 99}', read_at=T0
            )
        )
        conn.execute(
            insert(structure_snapshots).values(
                pim=PIM, kind="family", code="broken", body='{"v": 1, "code": "x"}', read_at=T0
            )
        )
    assert {"good"} == set(store.load_structure(PIM, T0 - timedelta(hours=1)).families)


def test_nothing_secret_is_stored(store):
    """The PIM's identity drops user info, query and fragment: no credential reaches a row."""
    pim = pim_identity("HTTPS://user:s3cret@PIM.example.com:8443/akeneo/?token=s3cret#x")
    store.save_structure(pim, [FamilySnapshot("packshots", _family(), T0)])
    with store.engine.connect() as conn:
        rows = conn.execute(select(structure_snapshots)).all()
    assert "https://pim.example.com:8443/akeneo" == pim
    assert all("s3cret" not in str(tuple(row)) for row in rows)


def test_pim_identity_is_stable():
    """The same PIM written two ways has one identity."""
    assert pim_identity("https://pim.example.com/") == pim_identity(" https://PIM.example.com")


def test_dam_clock_reading_is_kept_and_replaced(store):
    """A source's clock reading loads back as saved; a new one replaces it."""
    assert None is store.dam_clock("demo")
    first = DamClockReading(T0, 1234.5, "boot-a")
    store.save_dam_clock("demo", first)
    assert first == store.dam_clock("demo")
    second = DamClockReading(T0 + timedelta(seconds=10), 1244.75, "boot-b")
    store.save_dam_clock("demo", second)
    assert (second, None) == (store.dam_clock("demo"), store.dam_clock("other"))
