"""The DAM simulator's events, checked shape by shape with verifiers written here from the
references (hmac, hashlib and cryptography directly, nothing from the simulator)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from daemon.core.errors import ConfigError
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.dam.event_options import DEMO_SECRETS, EventFeedOptions
from daemon.sim.dam.event_shapes import EventStyle
from tests.sim.test_dam_helpers import Clock

STANDARD_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


class Receiver:
    """Records every request the simulator POSTs (an httpx MockTransport)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(204)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


async def _tick_and_collect(
    style: EventStyle, secret: str = "", **extra: Any
) -> tuple[Receiver, dict[str, Any], Clock, httpx.Response]:
    """One tick (2 adds, 10 changes, 1 delete) delivered to a recording receiver."""
    receiver = Receiver()
    clock = Clock()
    events = EventFeedOptions(
        style=style,
        webhook_url="http://receiver.test/hook",
        secret=secret,
        concurrency=1,
        **extra,
    )
    app = create_dam_app(
        DamSimOptions(assets=30),
        clock=clock,
        events=events,
        event_transport=httpx.MockTransport(receiver),
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")
    async with client, app.state.events as feed:
        tick = (await client.post("/_sim/tick")).json()
        await feed.wait_idle(10)
        cert = await client.get("/_sim/sns/cert.pem")
    return receiver, tick, clock, cert


def _expected_kinds(tick: dict[str, Any]) -> dict[str, str]:
    kinds = {i: "created" for i in tick["added"]}
    kinds.update({i: "changed" for i in tick["changed"]})
    kinds.update({i: "deleted" for i in tick["deleted"]})
    return kinds


async def test_standard_webhooks_signature_and_shape():
    """Generic events carry webhook-id/-timestamp and a v1 HMAC-SHA256 over id.timestamp.body."""
    receiver, tick, clock, _cert = await _tick_and_collect("standard", STANDARD_SECRET)
    key = base64.b64decode(STANDARD_SECRET.removeprefix("whsec_"))
    seen = {}
    for request in receiver.requests:
        msg_id = request.headers["webhook-id"]
        stamp = request.headers["webhook-timestamp"]
        signed = f"{msg_id}.{stamp}.".encode() + request.content
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        assert request.headers["webhook-signature"] == f"v1,{expected}"
        assert int(clock().timestamp()) == int(stamp)
        body = json.loads(request.content)
        seen[body["data"]["id"]] = body["type"]
    kinds = {"asset.created": "created", "asset.updated": "changed", "asset.deleted": "deleted"}
    assert _expected_kinds(tick) == {i: kinds[t] for i, t in seen.items()}
    assert 13 == len({r.headers["webhook-id"] for r in receiver.requests})


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
async def test_cloudinary_signature_and_shape(algorithm):
    """X-Cld-Signature is the hex digest of body + X-Cld-Timestamp + api_secret."""
    receiver, tick, _clock, _cert = await _tick_and_collect(
        "cloudinary", "api-secret", cloudinary_algorithm=algorithm
    )
    seen = {}
    for request in receiver.requests:
        stamp = request.headers["x-cld-timestamp"]
        digest = hashlib.new(algorithm, request.content + stamp.encode() + b"api-secret")
        assert request.headers["x-cld-signature"] == digest.hexdigest()
        body = json.loads(request.content)
        if body["notification_type"] == "delete":
            (resource,) = body["resources"]
            seen[resource["public_id"].removeprefix("damsync/")] = "deleted"
            assert 32 == len(resource["asset_id"])
        else:
            assert "upload" == body["notification_type"]
            assert 32 == len(body["asset_id"])
            seen[body["public_id"].removeprefix("damsync/")] = "upload"
    expected = {
        i: "deleted" if k == "deleted" else "upload" for i, k in _expected_kinds(tick).items()
    }
    assert expected == seen


async def test_cloudinary_asset_ids_match_the_search_api():
    """The asset_id an upload event names is the one the Search API answers for that asset."""
    receiver = Receiver()
    events = EventFeedOptions(style="cloudinary", webhook_url="http://r.test/", concurrency=1)
    app = create_dam_app(
        DamSimOptions(assets=5), events=events, event_transport=httpx.MockTransport(receiver)
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")
    async with client, app.state.events as feed:
        await client.post("/_sim/mutate", json={"id": "a-000003", "metadata": {"sku": "X"}})
        await feed.wait_idle(10)
        found = await client.post(
            "/v1_1/demo/resources/search",
            json={"expression": 'public_id="damsync/a-000003"'},
            auth=("demo", "demo"),
        )
    (event,) = receiver.bodies()
    assert found.json()["resources"][0]["asset_id"] == event["asset_id"]
    assert DEMO_SECRETS["cloudinary"] == "demo"


async def test_frontify_signature_and_shape():
    """X-Frontify-Webhook-Signature is base64 HMAC-SHA256 of the raw body."""
    receiver, tick, _clock, _cert = await _tick_and_collect("frontify", "frontify-secret")
    seen = {}
    for request in receiver.requests:
        digest = hmac.new(b"frontify-secret", request.content, hashlib.sha256).digest()
        assert request.headers["x-frontify-webhook-signature"] == base64.b64encode(digest).decode()
        event = json.loads(request.content)["event"]
        (payload,) = event["payload"]
        seen[payload["assetId"]] = event["action"]
    actions = {"created": "ASSET_CREATED", "changed": "ASSET_UPDATED", "deleted": "ASSET_DELETED"}
    assert {i: actions[k] for i, k in _expected_kinds(tick).items()} == seen


async def test_canto_token_in_the_body():
    """Canto events carry the shared secure_token in the JSON body and the asset id."""
    receiver, tick, _clock, _cert = await _tick_and_collect("canto", "canto-token")
    bodies = receiver.bodies()
    assert {"canto-token"} == {b["secure_token"] for b in bodies}
    assert set(_expected_kinds(tick)) == {b["id"] for b in bodies}
    assert all(len(b["time"]) == 17 and b["time"].isdigit() for b in bodies)


def _rsa_key(pem: bytes) -> rsa.RSAPublicKey:
    key = x509.load_pem_x509_certificate(pem).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def _sns_canonical(envelope: dict[str, str]) -> bytes:
    """The AWS SNS string to sign, written from dam-apis.md §1.5."""
    if envelope["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{k}\n{envelope[k]}\n" for k in keys if k in envelope).encode()


@pytest.mark.parametrize(("version", "digest"), [("1", hashes.SHA1()), ("2", hashes.SHA256())])
async def test_bynder_sns_envelope_signature(version, digest):
    """Bynder events are SNS envelopes RSA-signed (SHA1 v1, SHA256 v2) by the served cert."""
    receiver, tick, _clock, cert = await _tick_and_collect("bynder", sns_version=version)
    public_key = _rsa_key(cert.content)
    seen = {}
    for request in receiver.requests:
        envelope = json.loads(request.content)
        assert envelope["SignatureVersion"] == version
        assert envelope["SigningCertURL"] == "http://localhost/_sim/sns/cert.pem"
        public_key.verify(
            base64.b64decode(envelope["Signature"]),
            _sns_canonical(envelope),
            padding.PKCS1v15(),
            digest,
        )
        assert request.headers["x-amz-sns-message-type"] == "Notification"
        assert request.headers["x-amz-sns-message-id"] == envelope["MessageId"]
        assert request.headers["x-amz-sns-topic-arn"] == envelope["TopicArn"]
        seen[json.loads(envelope["Message"])["media_id"]] = envelope["Subject"]
    assert {i: "asset_bank.media.create" for i in tick["added"]} == {
        i: s for i, s in seen.items() if i in tick["added"]
    }
    assert {"asset_bank.media.deleted"} == {seen[i] for i in tick["deleted"]}
    assert {seen[i] for i in tick["changed"]} <= {
        "asset_bank.media.updated",
        "asset_bank.media.meta_updated",
    }


async def test_bynder_tampered_envelope_fails_verification():
    """The independent check is real: a changed Message no longer verifies."""
    receiver, _tick, _clock, cert = await _tick_and_collect("bynder")
    envelope = json.loads(receiver.requests[0].content)
    envelope["Message"] = json.dumps({"media_id": "a-999999"})
    public_key = _rsa_key(cert.content)
    with pytest.raises(InvalidSignature):
        public_key.verify(
            base64.b64decode(envelope["Signature"]),
            _sns_canonical(envelope),
            padding.PKCS1v15(),
            hashes.SHA1(),
        )


async def test_sns_subscription_confirmation_is_sent_and_confirmed():
    """With sns_subscribe, the first delivery is a signed SubscriptionConfirmation whose
    SubscribeURL, when fetched, confirms the subscription."""
    receiver = Receiver()
    events = EventFeedOptions(
        style="bynder", webhook_url="http://r.test/", sns_subscribe=True, concurrency=1
    )
    app = create_dam_app(
        DamSimOptions(assets=5), events=events, event_transport=httpx.MockTransport(receiver)
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")
    async with client, app.state.events as feed:
        await feed.wait_idle(10)
        (request,) = receiver.requests
        envelope = json.loads(request.content)
        public_key = _rsa_key((await client.get("/_sim/sns/cert.pem")).content)
        public_key.verify(
            base64.b64decode(envelope["Signature"]),
            _sns_canonical(envelope),
            padding.PKCS1v15(),
            hashes.SHA1(),
        )
        before = (await client.get("/_sim/events/stats")).json()["subscription_confirmed"]
        bad = await client.get("/_sim/sns/confirm", params={"Token": "nope"})
        confirm = await client.get(envelope["SubscribeURL"].removeprefix("http://localhost"))
        after = (await client.get("/_sim/events/stats")).json()["subscription_confirmed"]
    assert "SubscriptionConfirmation" == envelope["Type"]
    assert "SubscriptionConfirmation" == request.headers["x-amz-sns-message-type"]
    assert (False, 400, 200, True) == (before, bad.status_code, confirm.status_code, after)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({}, "dam_sim.events.targets"),
        ({"webhook_url": "http://x/", "drop": 1.5}, "dam_sim.events.drop"),
        ({"webhook_url": "http://x/", "secret": "whsec_%%%"}, "dam_sim.events.secret"),
        ({"amqp_url": "amqp://guest:guest@h/"}, "dam_sim.events.amqp_routing_key"),
        ({"nats_url": "nats://h:4222"}, "dam_sim.events.nats_subject"),
        ({"webhook_url": "http://x/", "max_attempts": 0}, "dam_sim.events.max_attempts"),
    ],
)
def test_bad_event_options_name_the_key(kwargs, key):
    """Refused options raise ConfigError naming the key, never echoing a secret."""
    with pytest.raises(ConfigError) as caught:
        EventFeedOptions(**kwargs)
    assert key == caught.value.key
    assert "guest:guest" not in str(caught.value)


def test_secrets_and_urls_stay_out_of_repr():
    """The repr of the options shows neither URLs (credentials) nor secrets."""
    options = EventFeedOptions(
        webhook_url="http://hook.test/?token=t0k3n",
        secret=STANDARD_SECRET,
        amqp_url="amqp://user:pa55@h/",
        amqp_routing_key="q",
    )
    text = repr(options)
    assert not any(s in text for s in ("t0k3n", "pa55", STANDARD_SECRET))
