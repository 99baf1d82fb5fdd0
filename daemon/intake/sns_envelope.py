"""
The ``sns`` webhook style (Bynder): an AWS SNS envelope verified as AWS documents it.

Order of the checks: the envelope's shape and ``Type``; ``TopicArn`` against ``topic_arns``
(``topic``); ``SigningCertURL`` https on an allowed host (``certificate``); the certificate in
the cache (else :class:`~daemon.intake.signatures.CertificatePendingError` and a background
fetch); the RSA PKCS#1 v1.5 signature over the canonical string, SHA1 for ``SignatureVersion``
"1" and SHA256 for "2" (``signature``); ``Timestamp`` inside the window (``timestamp``).

A ``Notification`` is delivered with its ``Message`` JSON-decoded in place (when it is JSON) and
``MessageId`` as the event id. A ``SubscriptionConfirmation`` starts a background GET of its
``SubscribeURL`` (https, allowed host) and is acknowledged; an ``UnsubscribeConfirmation`` is
acknowledged and logged.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from daemon.intake.extract import parse_json
from daemon.intake.ports import EventParseError
from daemon.intake.signatures import (
    CertificatePendingError,
    Verdict,
    VerificationError,
    check_window,
)
from daemon.intake.sns import BackgroundJobs, CertificateCache, SnsHttp, allowed_url
from daemon.settings.event_intake import WebhookSettings

log = structlog.get_logger(__name__)

#: The keys of the string to sign, in order, per message type (AWS SNS documentation).
SIGNED_KEYS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SIGNED_KEYS["UnsubscribeConfirmation"] = SIGNED_KEYS["SubscriptionConfirmation"]

#: Keys that may be absent from the string to sign.
OPTIONAL_KEYS = frozenset({"Subject"})

#: Seconds SNS is asked to wait while the certificate is fetched.
CERTIFICATE_RETRY_AFTER = 5


def canonical_string(envelope: Mapping[str, object]) -> bytes:
    """
    The bytes SNS signs: each key of the type's list and its value on its own line.

    Raises:
        VerificationError: ``signature``, an unknown ``Type`` or a missing or non-string value.
    """
    keys = SIGNED_KEYS.get(str(envelope.get("Type")))
    if keys is None:
        raise VerificationError("signature", "not an SNS message type")
    lines: list[str] = []
    for key in keys:
        value = envelope.get(key)
        if value is None and key in OPTIONAL_KEYS:
            continue
        if not isinstance(value, str):
            raise VerificationError("signature", f"the envelope has no {key} string")
        lines.append(f"{key}\n{value}\n")
    return "".join(lines).encode()


def _algorithm(version: object) -> hashes.HashAlgorithm:
    if version == "1":
        return hashes.SHA1()
    if version == "2":
        return hashes.SHA256()
    raise VerificationError("signature", "unknown SignatureVersion")


def _timestamp(text: str) -> float:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise VerificationError("timestamp", "Timestamp is not ISO 8601") from None
    if when.tzinfo is None:
        raise VerificationError("timestamp", "Timestamp has no time zone")
    return when.timestamp()


class SnsVerifier:
    """
    Verifies SNS envelopes for one source.

    Args:
        settings: The source's ``[sources.webhook]`` (``topic_arns``, ``cert_hosts``,
            ``tolerance``).
        certificates: The shared certificate cache.
        http: Confirms subscriptions.
        jobs: Where confirmations run.
    """

    def __init__(
        self,
        settings: WebhookSettings,
        certificates: CertificateCache,
        http: SnsHttp,
        jobs: BackgroundJobs,
    ) -> None:
        self._topics = frozenset(settings.topic_arns)
        self._hosts = tuple(settings.cert_hosts)
        self._tolerance = settings.tolerance
        self._certificates = certificates
        self._http = http
        self._jobs = jobs

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verdict:
        try:
            envelope = parse_json(body)
        except EventParseError:
            raise VerificationError("signature", "the body is not an SNS envelope") from None
        if not isinstance(envelope, dict):
            raise VerificationError("signature", "the body is not an SNS envelope")
        signed = canonical_string(envelope)
        topic = envelope["TopicArn"]
        if self._topics and topic not in self._topics:
            raise VerificationError("topic", "TopicArn is not an accepted topic")
        cert_url = envelope.get("SigningCertURL")
        if not isinstance(cert_url, str) or not allowed_url(cert_url, self._hosts):
            raise VerificationError("certificate", "SigningCertURL is not https on an allowed host")
        algorithm = _algorithm(envelope.get("SignatureVersion"))
        try:
            signature = base64.b64decode(str(envelope.get("Signature", "")), validate=True)
        except (binascii.Error, ValueError):
            raise VerificationError("signature", "Signature is not base64") from None
        if not signature:
            raise VerificationError("signature", "no Signature")
        key = self._certificates.get(cert_url)
        if key is None:
            self._certificates.request(cert_url)
            raise CertificatePendingError(CERTIFICATE_RETRY_AFTER)
        try:
            key.verify(signature, signed, padding.PKCS1v15(), algorithm)
        except InvalidSignature:
            raise VerificationError("signature", "the SNS signature does not match") from None
        check_window(_timestamp(envelope["Timestamp"]), now, self._tolerance)
        kind = envelope["Type"]
        if kind == "Notification":
            return Verdict(id_hint=envelope["MessageId"], document=_decoded(envelope))
        if kind == "SubscriptionConfirmation":
            self._confirm(envelope["SubscribeURL"], topic)
        else:
            log.info("webhook.sns_unsubscribed", topic=topic)
        return Verdict(id_hint=envelope["MessageId"], deliver=False)

    def _confirm(self, url: str, topic: str) -> None:
        if not allowed_url(url, self._hosts):
            raise VerificationError("certificate", "SubscribeURL is not https on an allowed host")
        host = urlsplit(url).hostname

        async def confirm() -> None:
            try:
                await self._http.confirm(url)
            except Exception as exc:  # a background task: logged, SNS resends the confirmation
                log.warning(
                    "webhook.sns_subscription_failed",
                    topic=topic,
                    host=host,
                    kind=type(exc).__name__,
                )
            else:
                log.info("webhook.sns_subscription_confirmed", topic=topic, host=host)

        if not self._jobs.start(confirm, name="damsync-sns-confirm"):
            log.warning("webhook.sns_subscription_deferred", topic=topic, reason="busy")


def _decoded(envelope: dict[str, object]) -> dict[str, object]:
    """The envelope with its ``Message`` JSON-decoded in place (left a string if not JSON)."""
    message = envelope.get("Message")
    try:
        decoded = json.loads(message) if isinstance(message, str) else message
    except (ValueError, RecursionError):
        decoded = message
    return {**envelope, "Message": decoded}


__all__ = ["CERTIFICATE_RETRY_AFTER", "SIGNED_KEYS", "SnsVerifier", "canonical_string"]
