"""Event extraction: paths, kinds, ids, limits, and nothing but EventParseError on any JSON."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.core.errors import ConfigError
from daemon.core.events import MAX_DAM_ID, MAX_EVENT_ID
from daemon.intake.extract import MAX_IDS_PER_EVENT, EventReader
from daemon.intake.ports import EventParseError
from daemon.settings.event_intake import EventFields

from .webhook_kit import NOW

CLOUDINARY = EventFields(
    ids="asset_id | resources[].asset_id",
    kind="notification_type",
    deleted=["delete"],
    ignored=["create_folder"],
)


def read(fields: EventFields, body: object, id_hint: str | None = None):
    raw = json.dumps(body).encode()
    return EventReader("dam", fields).read(raw, origin="webhook", received_at=NOW, id_hint=id_hint)


def test_single_id_change():
    """A top-level id gives one changed event, its id a digest of the raw body."""
    body = {"notification_type": "upload", "asset_id": "a1"}
    [event] = read(CLOUDINARY, body)
    assert ("a1",) == event.dam_ids
    assert "changed" == event.kind
    assert "sha256:" + hashlib.sha256(json.dumps(body).encode()).hexdigest() == event.event_id
    assert ("dam", "webhook", NOW) == (event.source, event.origin, event.received_at)


def test_list_path_and_deleted_kind():
    """`resources[].asset_id` walks the list; a deleted kind maps to `deleted`; ids keep order."""
    body = {"notification_type": "delete", "resources": [{"asset_id": "b"}, {"asset_id": "a"}]}
    [event] = read(CLOUDINARY, body)
    assert ("b", "a") == event.dam_ids
    assert "deleted" == event.kind


def test_ignored_kind_gives_no_event():
    """An ignored kind is acknowledged without events, even without ids."""
    assert [] == read(CLOUDINARY, {"notification_type": "create_folder"})


def test_numbers_are_ids_and_duplicates_collapse():
    """Integer ids become strings; an id named twice is kept once."""
    [event] = read(EventFields(ids="ids"), {"ids": [7, "7", 8]})
    assert ("7", "8") == event.dam_ids


def test_event_id_path_then_hint():
    """The configured event id path wins over the style's id header."""
    fields = EventFields(ids="id", event_id="delivery")
    [event] = read(fields, {"id": "x", "delivery": 42}, id_hint="hdr")
    assert "42" == event.event_id
    [event] = read(EventFields(ids="id"), {"id": "x"}, id_hint="hdr")
    assert "hdr" == event.event_id


def test_sns_message_path():
    """An SNS document (Message decoded in place) reads through `Message.media_id`."""
    fields = EventFields(
        ids="Message.media_id", kind="Subject", deleted=["asset_bank.media.deleted"]
    )
    document = {"Subject": "asset_bank.media.deleted", "Message": {"media_id": "M-1"}}
    reader = EventReader("bynder", fields)
    [event] = reader.events(document, raw=b"{}", id_hint="mid", origin="webhook", received_at=NOW)
    assert (("M-1",), "deleted", "mid") == (event.dam_ids, event.kind, event.event_id)


@pytest.mark.parametrize(
    ("fields", "body", "words"),
    [
        (CLOUDINARY, {"notification_type": "upload"}, "ids"),
        (CLOUDINARY, {"asset_id": "a"}, "kind"),
        (CLOUDINARY, {"notification_type": ["x"], "asset_id": "a"}, "kind"),
        (EventFields(ids="id"), {"id": True}, "ids"),
        (EventFields(ids="id"), {"id": 1.5}, "ids"),
        (EventFields(ids="id"), {"id": {"a": 1}}, "ids"),
        (EventFields(ids="id"), {"id": ""}, "ids"),
        (EventFields(ids="id"), {"id": []}, "ids"),
        (EventFields(ids="id"), {"id": "x" * (MAX_DAM_ID + 1)}, "ids"),
        (EventFields(ids="id"), {"id": [str(i) for i in range(MAX_IDS_PER_EVENT + 1)]}, "ids"),
        (
            EventFields(ids="id", event_id="e"),
            {"id": "a", "e": "x" * (MAX_EVENT_ID + 1)},
            "event id",
        ),
        (EventFields(ids="id", event_id="e"), {"id": "a", "e": None}, "event id"),
        (EventFields(ids="id", event_id="e"), {"id": "a"}, "event id"),
        (EventFields(ids="a[].id"), {"a": {"id": "x"}}, "ids"),
        (EventFields(ids="a[].id"), {"a": [{"id": "x"}, {"no": 1}]}, "ids"),
        (EventFields(ids="a.id"), [1, 2], "ids"),
    ],
)
def test_unreadable_bodies(fields, body, words):
    """Each unreadable body is one EventParseError naming the field."""
    with pytest.raises(EventParseError) as caught:
        read(fields, body)
    assert caught.value.reason.startswith(words)
    assert "\n" not in caught.value.reason


def test_not_json():
    """A body that is not JSON is an EventParseError."""
    reader = EventReader("dam", EventFields(ids="id"))
    for raw in (b"", b"{", b"\xff\xfe", b"[" * 100_000, b"1" * 5000):
        with pytest.raises(EventParseError):
            reader.read(raw, origin="webhook", received_at=NOW)


def test_long_id_hint_refused():
    """A style id longer than the inbox keeps is refused, not truncated."""
    with pytest.raises(EventParseError):
        read(EventFields(ids="id"), {"id": "a"}, id_hint="h" * (MAX_EVENT_ID + 1))


@pytest.mark.parametrize("path", ["", "a..b", "a[]b", "a |", "[x]"])
def test_bad_paths_are_config_errors(path):
    """A path that cannot be read is refused when the reader is built."""
    with pytest.raises(ConfigError):
        EventReader("dam", EventFields(ids=path))


def test_parser_for_brokers():
    """`parser(origin)` reads a JSON body with the given origin and the clock's time."""
    parse = EventReader("dam", CLOUDINARY).parser("rabbitmq", clock=lambda: NOW)
    [event] = parse(b'{"notification_type": "upload", "asset_id": "z"}')
    assert ("rabbitmq", NOW, ("z",)) == (event.origin, event.received_at, event.dam_ids)
    with pytest.raises(EventParseError):
        parse(b"not json")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["asset_id", "resources", "notification_type", "id", "e", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@given(JSON)
def test_any_json_reads_or_raises_parse_error(body):
    """Whatever JSON comes in, the reader returns events or raises EventParseError."""
    fields = [CLOUDINARY, EventFields(ids="[].id", kind="x", event_id="e"), EventFields(ids="e")]
    for field in fields:
        reader = EventReader("dam", field)
        try:
            events = reader.events(body, raw=b"x", id_hint=None, origin="nats", received_at=NOW)
        except EventParseError as exc:
            assert exc.reason
        else:
            for event in events:
                assert event.dam_ids
                assert all(isinstance(i, str) and 0 < len(i) <= MAX_DAM_ID for i in event.dam_ids)
                assert 0 < len(event.event_id) <= MAX_EVENT_ID


@given(st.binary(max_size=200))
def test_any_bytes_read_or_raise_parse_error(raw):
    """Whatever bytes come in, `read` returns events or raises EventParseError."""
    reader = EventReader("dam", CLOUDINARY)
    try:
        reader.read(raw, origin="webhook", received_at=NOW)
    except EventParseError:
        pass
