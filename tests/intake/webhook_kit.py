"""
Helpers of the webhook tests: signers for each style, a local SNS key and certificate, a fake
persist, a recording observer, a settable clock and a client on the app.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from daemon.core.errors import TransientError
from daemon.core.events import DamEvent, InboxAdded

NOW = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)
STANDARD_SECRET = "whsec_" + base64.b64encode(b"standard-key-0123456789abcdef").decode()
STANDARD_SECRET_2 = "whsec_" + base64.b64encode(b"rotated-key-fedcba9876543210").decode()
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:bynder"
SUBSCRIBE_URL = (
    "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=confirm-123"
)


class Clock:
    """The webhook app's clock, moved by the test."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class FakePersist:
    """Collects what the app stores; dedupes by (source, event id) like the inbox does."""

    events: list[DamEvent] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    down: bool = False
    calls: int = 0

    async def __call__(self, events: Sequence[DamEvent]) -> InboxAdded:
        self.calls += 1
        if self.down:
            raise TransientError("database unreachable")
        added = 0
        for event in events:
            self.events.append(event)
            key = (event.source, event.event_id)
            if key not in self.seen:
                self.seen.add(key)
                added += 1
        return InboxAdded(added=added, duplicates=len(events) - added)


@dataclass
class RecordingObserver:
    """Every observer call, as tuples."""

    received: list[tuple[str, str, int]] = field(default_factory=list)
    duplicates: list[tuple[str, str, int]] = field(default_factory=list)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)

    def events_received(self, source: str, origin: str, count: int) -> None:
        self.received.append((source, origin, count))

    def events_deduplicated(self, source: str, origin: str, count: int) -> None:
        self.duplicates.append((source, origin, count))

    def event_rejected(self, source: str, origin: str, reason: str) -> None:
        self.rejected.append((source, origin, reason))


def client(app: Any) -> httpx.AsyncClient:
    """An httpx client on the ASGI app (no network)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://damsync")


async def chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    """``body`` as a chunked upload (no Content-Length)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def standard_headers(
    body: bytes, msg_id: str, when: datetime, secret: str = STANDARD_SECRET
) -> dict[str, str]:
    """Standard Webhooks 1.0 headers for ``body``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    timestamp = str(int(when.timestamp()))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{signature}",
    }


def cloudinary_headers(body: bytes, when: datetime, secret: str) -> dict[str, str]:
    """Cloudinary's headers: hex SHA-1 of body + timestamp + api_secret (no HMAC)."""
    timestamp = str(int(when.timestamp()))
    digest = hashlib.sha1(body + timestamp.encode() + secret.encode()).hexdigest()
    return {"X-Cld-Timestamp": timestamp, "X-Cld-Signature": digest}


def frontify_headers(body: bytes, secret: str) -> dict[str, str]:
    """Frontify's header: base64 HMAC-SHA256 of the body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {"X-Frontify-Webhook-Signature": base64.b64encode(digest).decode()}


@dataclass(frozen=True)
class SnsSigner:
    """A local RSA key and its self-signed certificate, standing in for Amazon SNS's."""

    key: rsa.RSAPrivateKey
    pem: bytes

    @classmethod
    def create(cls) -> SnsSigner:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.now(UTC) - timedelta(days=1))
            .not_valid_after(datetime.now(UTC) + timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert.public_bytes(serialization.Encoding.PEM))

    def envelope(
        self,
        message: Mapping[str, Any] | str,
        *,
        kind: str = "Notification",
        subject: str | None = "asset_bank.media.updated",
        message_id: str = "da41e39f-0001",
        when: datetime = NOW,
        version: str = "1",
        topic: str = TOPIC,
        cert_url: str = CERT_URL,
        subscribe_url: str = SUBSCRIBE_URL,
    ) -> dict[str, str]:
        """A signed SNS envelope, canonical string built as AWS documents it."""
        text = message if isinstance(message, str) else json.dumps(message)
        envelope = {
            "Type": kind,
            "MessageId": message_id,
            "TopicArn": topic,
            "Message": text,
            "Timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
            "SignatureVersion": version,
            "SigningCertURL": cert_url,
        }
        if kind == "Notification":
            keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
            if subject is not None:
                envelope["Subject"] = subject
            envelope["UnsubscribeURL"] = "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe"
        else:
            keys = [
                "Message",
                "MessageId",
                "SubscribeURL",
                "Timestamp",
                "Token",
                "TopicArn",
                "Type",
            ]
            envelope["Token"] = "confirm-token-123"
            envelope["SubscribeURL"] = subscribe_url
        canonical = "".join(f"{k}\n{envelope[k]}\n" for k in keys if k in envelope)
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(canonical.encode(), padding.PKCS1v15(), algorithm)
        envelope["Signature"] = base64.b64encode(signature).decode()
        return envelope


class FakeSnsHttp:
    """The SNS certificate fetcher and subscription confirmer, without a network."""

    def __init__(self, certificates: Mapping[str, bytes]) -> None:
        self.certificates = dict(certificates)
        self.fetched: list[str] = []
        self.confirmed: list[str] = []

    async def fetch_certificate(self, url: str) -> bytes:
        self.fetched.append(url)
        if url not in self.certificates:
            raise httpx.ConnectError("no such certificate")
        return self.certificates[url]

    async def confirm(self, url: str) -> None:
        self.confirmed.append(url)

    async def aclose(self) -> None:
        return None
