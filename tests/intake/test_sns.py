"""AWS SNS envelopes (Bynder): certificates, topics, subscription confirmation, the cache."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from daemon.intake.sns import MAX_CERT_BYTES, CertificateCache, SnsHttpClient, allowed_url
from daemon.intake.webhook_app import build_webhook_app
from daemon.settings.event_intake import SNS_CERT_HOSTS, EventFields, EventSettings, WebhookSettings

from .webhook_kit import (
    CERT_URL,
    NOW,
    SUBSCRIBE_URL,
    Clock,
    FakePersist,
    FakeSnsHttp,
    RecordingObserver,
    SnsSigner,
    client,
)

SIGNER = SnsSigner.create()
OTHER = SnsSigner.create()
FIELDS = EventFields(ids="Message.media_id", kind="Subject", deleted=["asset_bank.media.deleted"])


class Sns:
    def __init__(self, certificates: dict[str, bytes] | None = None, **webhook: Any) -> None:
        self.http = FakeSnsHttp({CERT_URL: SIGNER.pem} if certificates is None else certificates)
        self.persist, self.observer = FakePersist(), RecordingObserver()
        settings = WebhookSettings.model_validate({"style": "sns", **webhook})
        self.app = build_webhook_app(
            {"bynder": (settings, FIELDS)},
            EventSettings(),
            self.persist,
            self.observer,
            clock=Clock(),
            sns_http=self.http,
        )
        self.intake = self.app.state.webhooks

    async def post(self, envelope: dict[str, str]) -> httpx.Response:
        async with client(self.app) as http:
            return await http.post("/webhooks/bynder", content=json.dumps(envelope))


@pytest.mark.parametrize("version", ["1", "2"])
async def test_sha1_and_sha256(version):
    """SignatureVersion 1 (SHA1) and 2 (SHA256) both verify; the event id is MessageId."""
    sns = Sns()
    sns.intake.certificates.put(CERT_URL, SIGNER.pem)
    envelope = SIGNER.envelope(
        {"media_id": "M1"}, version=version, subject="asset_bank.media.deleted"
    )
    assert 200 == (await sns.post(envelope)).status_code
    [event] = sns.persist.events
    assert (("M1",), "deleted", "da41e39f-0001") == (event.dam_ids, event.kind, event.event_id)


async def test_unknown_certificate_then_ok():
    """A certificate not cached yet: 503 + Retry-After and a background fetch; then 200."""
    sns = Sns()
    envelope = SIGNER.envelope({"media_id": "M1"})
    with capture_logs() as logs:
        response = await sns.post(envelope)
    assert 503 == response.status_code
    assert int(response.headers["retry-after"]) > 0
    assert 0 == sns.persist.calls
    assert [("bynder", "webhook", "certificate")] == sns.observer.rejected
    assert 1 == len([e for e in logs if e["event"] == "webhook.rejected"])
    await sns.intake.wait_idle()
    assert [CERT_URL] == sns.http.fetched
    assert 200 == (await sns.post(envelope)).status_code
    assert 1 == len(sns.persist.events)
    await sns.intake.aclose()


async def test_failed_fetch_is_not_retried_at_once():
    """A certificate that cannot be fetched is not asked for again on every request."""
    sns = Sns(certificates={})
    envelope = SIGNER.envelope({"media_id": "M1"})
    assert 503 == (await sns.post(envelope)).status_code
    await sns.intake.wait_idle()
    assert 503 == (await sns.post(envelope)).status_code
    await sns.intake.wait_idle()
    assert [CERT_URL] == sns.http.fetched


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com/cert.pem",
        "http://sns.eu-west-1.amazonaws.com/cert.pem",
        "https://user@sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/cert.pem",
        "not a url",
    ],
)
async def test_certificate_host_not_allowed(url):
    """A SigningCertURL off the allow-list is 401 `certificate` and is never fetched."""
    sns = Sns()
    response = await sns.post(SIGNER.envelope({"media_id": "M1"}, cert_url=url))
    assert 401 == response.status_code
    await sns.intake.wait_idle()
    assert [] == sns.http.fetched
    assert [("bynder", "webhook", "certificate")] == sns.observer.rejected


async def test_topic_not_allowed():
    """A TopicArn outside `topic_arns` is 401 `topic`."""
    sns = Sns(topic_arns=["arn:aws:sns:eu-west-1:123456789012:other"])
    sns.intake.certificates.put(CERT_URL, SIGNER.pem)
    assert 401 == (await sns.post(SIGNER.envelope({"media_id": "M1"}))).status_code
    assert [("bynder", "webhook", "topic")] == sns.observer.rejected


async def test_signed_by_another_key():
    """An envelope signed by a key that is not the certificate's is 401 `signature`."""
    sns = Sns()
    sns.intake.certificates.put(CERT_URL, SIGNER.pem)
    assert 401 == (await sns.post(OTHER.envelope({"media_id": "M1"}))).status_code
    assert [("bynder", "webhook", "signature")] == sns.observer.rejected


async def test_unknown_signature_version_and_type():
    """An unknown SignatureVersion or Type is refused as `signature`."""
    sns = Sns()
    sns.intake.certificates.put(CERT_URL, SIGNER.pem)
    assert 401 == (await sns.post(SIGNER.envelope({"media_id": "M1"}, version="3"))).status_code
    envelope = SIGNER.envelope({"media_id": "M1"})
    envelope["Type"] = "Other"
    assert 401 == (await sns.post(envelope)).status_code
    assert 0 == sns.persist.calls


async def test_subscription_confirmation():
    """A verified SubscriptionConfirmation: 200 now, SubscribeURL GET in the background."""
    sns = Sns()
    sns.intake.certificates.put(CERT_URL, SIGNER.pem)
    envelope = SIGNER.envelope("You have chosen to subscribe", kind="SubscriptionConfirmation")
    with capture_logs() as logs:
        assert 200 == (await sns.post(envelope)).status_code
        await sns.intake.wait_idle()
    assert [SUBSCRIBE_URL] == sns.http.confirmed
    assert 0 == sns.persist.calls
    events = [e["event"] for e in logs]
    assert "webhook.sns_subscription_confirmed" in events
    assert "confirm-123" not in repr(logs)


async def test_subscription_confirmation_to_another_host():
    """A SubscribeURL off the allow-list is refused and never called."""
    sns = Sns()
    sns.intake.certificates.put(CERT_URL, SIGNER.pem)
    envelope = SIGNER.envelope(
        "x", kind="SubscriptionConfirmation", subscribe_url="https://evil.example/confirm"
    )
    assert 401 == (await sns.post(envelope)).status_code
    await sns.intake.wait_idle()
    assert [] == sns.http.confirmed


async def test_forged_subscription_is_not_confirmed():
    """An unsigned SubscriptionConfirmation is refused and its URL never called."""
    sns = Sns()
    sns.intake.certificates.put(CERT_URL, SIGNER.pem)
    envelope = OTHER.envelope("x", kind="SubscriptionConfirmation")
    assert 401 == (await sns.post(envelope)).status_code
    await sns.intake.wait_idle()
    assert [] == sns.http.confirmed


async def test_unsubscribe_confirmation_is_acknowledged():
    """A verified UnsubscribeConfirmation gets 200 and no event."""
    sns = Sns()
    sns.intake.certificates.put(CERT_URL, SIGNER.pem)
    envelope = SIGNER.envelope("bye", kind="UnsubscribeConfirmation")
    assert 200 == (await sns.post(envelope)).status_code
    await sns.intake.wait_idle()
    assert ([], 0) == (sns.http.confirmed, sns.persist.calls)


async def test_cache_is_bounded_and_refuses_bad_pem():
    """The cache keeps at most `max_size` certificates (least recently used out)."""

    async def fetch(url):
        raise AssertionError("not fetched")

    cache = CertificateCache(fetch, max_size=2)
    cache.put("https://a/1", SIGNER.pem)
    cache.put("https://a/2", OTHER.pem)
    assert cache.get("https://a/1") is not None
    cache.put("https://a/3", SIGNER.pem)
    assert cache.get("https://a/2") is None
    assert cache.get("https://a/1") is not None
    assert 2 == len(cache)
    with pytest.raises(ValueError):
        cache.put("https://a/4", b"-----BEGIN CERTIFICATE-----\nnope\n")
    await cache.aclose()


def test_allowed_url():
    """Only https URLs on a host fully matching a pattern pass."""
    assert allowed_url(CERT_URL, SNS_CERT_HOSTS)
    assert allowed_url("https://sns.cn-north-1.amazonaws.com.cn/x.pem", SNS_CERT_HOSTS)
    assert not allowed_url("https://SNS.eu-west-1.amazonaws.com.attacker/x", SNS_CERT_HOSTS)
    assert not allowed_url("https://xsns.eu-west-1.amazonaws.com/x", SNS_CERT_HOSTS)


async def test_http_client_fetch_limits():
    """The default fetcher reads at most MAX_CERT_BYTES, follows no redirect, and needs 200."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/big.pem":
            return httpx.Response(200, content=b"x" * (MAX_CERT_BYTES + 1))
        if request.url.path == "/moved.pem":
            return httpx.Response(302, headers={"location": "https://evil.example/c.pem"})
        if request.url.path == "/confirm":
            return httpx.Response(200, text="<ConfirmSubscriptionResponse/>")
        return httpx.Response(200, content=SIGNER.pem)

    http = SnsHttpClient(transport=httpx.MockTransport(answer))
    assert SIGNER.pem == await http.fetch_certificate("https://sns.x.amazonaws.com/ok.pem")
    for path in ("/big.pem", "/moved.pem"):
        with pytest.raises(httpx.HTTPError):
            await http.fetch_certificate(f"https://sns.x.amazonaws.com{path}")
    await http.confirm("https://sns.x.amazonaws.com/confirm")
    await http.aclose()


async def test_sns_replay_window_uses_timestamp():
    """An envelope whose Timestamp is outside the window is 401 `timestamp`."""
    from datetime import timedelta

    sns = Sns()
    sns.intake.certificates.put(CERT_URL, SIGNER.pem)
    envelope = SIGNER.envelope({"media_id": "M1"}, when=NOW - timedelta(hours=1))
    assert 401 == (await sns.post(envelope)).status_code
    assert [("bynder", "webhook", "timestamp")] == sns.observer.rejected
