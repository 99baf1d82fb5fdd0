"""The webhook app, per signing style: valid, invalid, replayed, duplicated, too large, unsigned."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from daemon.intake.webhook_app import build_webhook_app
from daemon.settings.event_intake import EventFields, EventSettings, WebhookSettings

from .webhook_kit import (
    CERT_URL,
    NOW,
    STANDARD_SECRET,
    STANDARD_SECRET_2,
    Clock,
    FakePersist,
    FakeSnsHttp,
    RecordingObserver,
    SnsSigner,
    chunks,
    client,
    cloudinary_headers,
    frontify_headers,
    standard_headers,
)

LIMIT = 2048
SIGNER = SnsSigner.create()


@dataclass
class Style:
    """One signing style: its settings, how a request is signed, and a change of asset a1."""

    name: str
    webhook: dict[str, Any]
    fields: EventFields
    # (payload, delivery id, when, secret index) -> (body, headers)
    sign: Callable[[dict[str, Any], str, datetime, int], tuple[bytes, dict[str, str]]]
    payload: dict[str, Any]
    timed: bool = True
    # what an unsigned request of this style looks like: (body, headers)
    unsigned: Callable[[dict[str, Any]], tuple[bytes, dict[str, str]]] = lambda p: (
        json.dumps(p).encode(),
        {},
    )

    def forge(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        """A request whose signature does not match: another asset, or a wrong token."""
        if self.webhook["style"] == "token":
            wrong = {k: v.replace("tok-1", "tok-9") for k, v in headers.items()}
            return body.replace(b"tok-1", b"tok-9"), wrong
        return body.replace(b"a1", b"a2"), headers


def _standard(payload, msg_id, when, index):
    body = json.dumps(payload).encode()
    return body, standard_headers(body, msg_id, when, [STANDARD_SECRET, STANDARD_SECRET_2][index])


def _cloudinary(payload, msg_id, when, index):
    body = json.dumps(payload).encode()
    return body, cloudinary_headers(body, when, ["cld-secret", "cld-secret-2"][index])


def _frontify(payload, msg_id, when, index):
    body = json.dumps(payload).encode()
    return body, frontify_headers(body, ["fy-secret", "fy-secret-2"][index])


def _canto(payload, msg_id, when, index):
    body = json.dumps({**payload, "secure_token": ["tok-1", "tok-2"][index]}).encode()
    return body, {}


def _token_header(payload, msg_id, when, index):
    return json.dumps(payload).encode(), {"X-Token": ["tok-1", "tok-2"][index]}


def _sns(payload, msg_id, when, index):
    envelope = SIGNER.envelope(payload, message_id=msg_id, when=when, version=str(index + 1))
    return json.dumps(envelope).encode(), {"x-amz-sns-message-type": "Notification"}


def _sns_unsigned(payload):
    envelope = SIGNER.envelope(payload)
    del envelope["Signature"]
    return json.dumps(envelope).encode(), {}


CLOUDINARY = EventFields(
    ids="asset_id | resources[].asset_id", kind="notification_type", deleted=["delete"]
)
STYLES = [
    Style(
        "standard",
        {"style": "standard", "secrets": [STANDARD_SECRET, STANDARD_SECRET_2]},
        EventFields(ids="data.asset_id", kind="type", deleted=["asset.deleted"]),
        _standard,
        {"type": "asset.updated", "data": {"asset_id": "a1"}},
    ),
    Style(
        "cloudinary",
        {
            "style": "hmac",
            "secrets": ["cld-secret", "cld-secret-2"],
            "signature_header": "X-Cld-Signature",
            "timestamp_header": "X-Cld-Timestamp",
            "algorithm": "sha1",
            "digest": "append_secret",
        },
        CLOUDINARY,
        _cloudinary,
        {"notification_type": "upload", "asset_id": "a1"},
    ),
    Style(
        "frontify",
        {
            "style": "hmac",
            "secrets": ["fy-secret", "fy-secret-2"],
            "signature_header": "X-Frontify-Webhook-Signature",
            "encoding": "base64",
        },
        EventFields(ids="event.payload[].assetId", kind="event.action"),
        _frontify,
        {"event": {"action": "ASSET_UPDATED", "payload": [{"assetId": "a1"}]}},
        timed=False,
    ),
    Style(
        "canto",
        {"style": "token", "secrets": ["tok-1", "tok-2"], "token_path": "secure_token"},
        EventFields(ids="id"),
        _canto,
        {"id": "a1", "scheme": "image"},
        timed=False,
    ),
    Style(
        "token_header",
        {"style": "token", "secrets": ["tok-1", "tok-2"], "token_header": "X-Token"},
        EventFields(ids="id"),
        _token_header,
        {"id": "a1"},
        timed=False,
    ),
    Style(
        "sns",
        {"style": "sns", "topic_arns": ["arn:aws:sns:eu-west-1:123456789012:bynder"]},
        EventFields(ids="Message.media_id", kind="Subject", deleted=["asset_bank.media.deleted"]),
        _sns,
        {"media_id": "a1"},
        unsigned=_sns_unsigned,
    ),
]


@dataclass
class World:
    style: Style
    app: Any
    persist: FakePersist
    observer: RecordingObserver
    clock: Clock

    async def post(
        self, body: Any, headers: dict[str, str], *, source: str | None = None, method: str = "POST"
    ) -> httpx.Response:
        async with client(self.app) as http:
            path = f"/webhooks/{source or self.style.name}"
            return await http.request(method, path, content=body, headers=headers)

    async def send(
        self,
        msg_id: str = "msg-1",
        *,
        when: datetime | None = None,
        index: int = 0,
        payload: dict[str, Any] | None = None,
    ) -> httpx.Response:
        body, headers = self.style.sign(payload or self.style.payload, msg_id, when or NOW, index)
        return await self.post(body, headers)


def make_world(style: Style, **settings: Any) -> World:
    persist, observer, clock = FakePersist(), RecordingObserver(), Clock()
    sources = {style.name: (WebhookSettings.model_validate(style.webhook), style.fields)}
    app = build_webhook_app(
        sources,
        EventSettings(max_body_bytes=LIMIT, **settings),
        persist,
        observer,
        clock=clock,
        sns_http=FakeSnsHttp({CERT_URL: SIGNER.pem}),
    )
    app.state.webhooks.certificates.put(CERT_URL, SIGNER.pem)
    return World(style, app, persist, observer, clock)


@pytest.fixture(name="world", params=STYLES, ids=[s.name for s in STYLES])
def _world(request):
    return make_world(request.param)


async def test_valid(world):
    """A signed change is persisted, then acknowledged with 200."""
    response = await world.send()
    assert 200 == response.status_code
    [event] = world.persist.events
    assert (world.style.name, ("a1",), "changed", "webhook", NOW) == (
        event.source,
        event.dam_ids,
        event.kind,
        event.origin,
        event.received_at,
    )
    assert [(world.style.name, "webhook", 1)] == world.observer.received
    assert [] == world.observer.rejected


async def test_rotated_secret(world):
    """The second configured secret (or SNS signature version 2) is accepted too."""
    assert 200 == (await world.send(index=1)).status_code
    assert 1 == len(world.persist.events)


async def test_invalid_signature(world):
    """A body changed after signing gets 401 and is never processed."""
    body, headers = world.style.sign(world.style.payload, "msg-1", NOW, 0)
    with capture_logs() as logs:
        response = await world.post(*world.style.forge(body, headers))
    assert 401 == response.status_code
    assert 0 == world.persist.calls
    assert [(world.style.name, "webhook", "signature")] == world.observer.rejected
    [line] = logs  # one line per refusal
    assert "webhook.rejected" == line["event"]
    assert ("signature", "127.0.0.1") == (line["reason"], line["remote"])
    text = repr(logs)
    for secret in ("cld-secret", "fy-secret", "tok-1", STANDARD_SECRET):
        assert secret not in text


@pytest.mark.parametrize("style", [s for s in STYLES if s.timed], ids=lambda s: s.name)
async def test_replayed(style):
    """
    A validly signed request outside the timestamp window is refused (replay); styles that sign
    no timestamp rely on the event-id dedupe instead (test_duplicated).
    """
    world = make_world(style)
    for late in (timedelta(seconds=301), timedelta(seconds=-301)):
        response = await world.send(when=NOW - late)
        assert 401 == response.status_code
    assert 0 == world.persist.calls
    assert [(world.style.name, "webhook", "timestamp")] * 2 == world.observer.rejected
    # Inside the window it is fine.
    assert 200 == (await world.send(when=NOW - timedelta(seconds=299))).status_code


async def test_duplicated(world):
    """The same delivery twice: both reach the store (it dedupes), both get 200."""
    assert 200 == (await world.send("same")).status_code
    assert 200 == (await world.send("same")).status_code
    assert 2 == len(world.persist.events)
    assert 1 == len({e.event_id for e in world.persist.events})
    assert [(world.style.name, "webhook", 1)] == world.observer.received
    assert [(world.style.name, "webhook", 1)] == world.observer.duplicates


async def test_oversized_content_length(world):
    """A signed body over the limit gets 413 from its Content-Length, never verified."""
    payload = {**world.style.payload, "pad": "x" * LIMIT}
    body, headers = world.style.sign(payload, "msg-1", NOW, 0)
    response = await world.post(body, headers)
    assert 413 == response.status_code
    assert 0 == world.persist.calls
    assert [(world.style.name, "webhook", "too_large")] == world.observer.rejected


async def test_oversized_chunked(world):
    """A chunked body (no Content-Length) is counted as it streams: 413 past the limit."""
    payload = {**world.style.payload, "pad": "x" * LIMIT}
    body, headers = world.style.sign(payload, "msg-1", NOW, 0)
    response = await world.post(chunks(body), headers)
    assert 413 == response.status_code
    assert 0 == world.persist.calls
    assert [(world.style.name, "webhook", "too_large")] == world.observer.rejected


async def test_chunked_within_limit(world):
    """A chunked body under the limit is read whole and accepted."""
    body, headers = world.style.sign(world.style.payload, "msg-1", NOW, 0)
    assert 200 == (await world.post(chunks(body, 7), headers)).status_code
    assert 1 == len(world.persist.events)


async def test_unsigned(world):
    """Without its signature headers (or token), a request gets 401 and is never processed."""
    body, headers = world.style.unsigned(world.style.payload)
    response = await world.post(body, headers)
    assert 401 == response.status_code
    assert 0 == world.persist.calls
    assert [(world.style.name, "webhook", "signature")] == world.observer.rejected


async def test_unknown_source_and_method(world):
    """Unknown source: 404; another method than POST: 405; both counted, neither processed."""
    body, headers = world.style.sign(world.style.payload, "msg-1", NOW, 0)
    assert 404 == (await world.post(body, headers, source="nope")).status_code
    assert 405 == (await world.post(None, {}, method="GET")).status_code
    assert 0 == world.persist.calls
    assert [("unknown", "webhook", "unknown_source"), (world.style.name, "webhook", "method")] == (
        world.observer.rejected
    )


async def test_store_unavailable(world):
    """When the inbox cannot be written, 503 with Retry-After: nothing is acknowledged."""
    world.persist.down = True
    response = await world.send()
    assert 503 == response.status_code
    assert int(response.headers["retry-after"]) > 0
    assert [(world.style.name, "webhook", "store_unavailable")] == world.observer.rejected


async def test_signed_but_unparsable(world):
    """A signed body without the asset ids is 400 `unparsable`, and nothing is persisted."""
    payload = {k: v for k, v in world.style.payload.items() if k not in ("id", "asset_id")}
    payload.pop("data", None)
    payload.pop("event", None)
    payload.pop("media_id", None)
    response = await world.send(payload=payload or {"other": 1})
    assert 400 == response.status_code
    assert 0 == world.persist.calls
    assert [(world.style.name, "webhook", "unparsable")] == world.observer.rejected


async def test_ignored_kind_is_acknowledged():
    """An ignored kind gets 200 and no event."""
    style = STYLES[1]
    world = make_world(
        Style(
            style.name,
            style.webhook,
            EventFields(ids="asset_id", kind="notification_type", ignored=["create_folder"]),
            style.sign,
            style.payload,
        )
    )
    response = await world.send(payload={"notification_type": "create_folder"})
    assert 200 == response.status_code
    assert 0 == world.persist.calls
    assert [] == world.observer.rejected


async def test_deleted_kind():
    """A deletion notification names its assets as deleted."""
    world = make_world(STYLES[1])
    payload = {"notification_type": "delete", "resources": [{"asset_id": "x"}, {"asset_id": "y"}]}
    assert 200 == (await world.send(payload=payload)).status_code
    [event] = world.persist.events
    assert (("x", "y"), "deleted") == (event.dam_ids, event.kind)


async def test_standard_id_is_webhook_id():
    """Standard Webhooks: the event id is the `webhook-id` header."""
    world = make_world(STYLES[0])
    assert 200 == (await world.send("msg_2Kx")).status_code
    assert "msg_2Kx" == world.persist.events[0].event_id


async def test_standard_bad_timestamp_header():
    """A non-numeric `webhook-timestamp` is refused."""
    world = make_world(STYLES[0])
    body, headers = world.style.sign(world.style.payload, "m", NOW, 0)
    headers["webhook-timestamp"] = "soon"
    assert 401 == (await world.post(body, headers)).status_code
    assert 0 == world.persist.calls
