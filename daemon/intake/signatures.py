"""
Webhook verification for the shared-secret styles: ``standard``, ``hmac`` and ``token``.

Each verifier checks one request (lower-case header names, raw body, the time now) against a
source's :class:`~daemon.settings.event_intake.WebhookSettings` and returns a :class:`Verdict`,
or raises :class:`VerificationError` carrying a fixed reason label (a metric label value) and a
fixed one-line detail. Every configured secret and every offered signature is tried, always with
:func:`hmac.compare_digest`; no secret, signature or body ever reaches an error's text.

- ``standard``: Standard Webhooks 1.0 (``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature`` = space-separated ``v1,<base64>``); HMAC-SHA256 of
  ``"{id}.{timestamp}.{body}"``; ``whsec_<base64>`` secrets.
- ``hmac``: one header; HMAC(secret, signed) or, with ``digest = "append_secret"`` (Cloudinary),
  hash(signed + secret); ``signed`` is the body, plus the timestamp header's value when set.
- ``token``: a shared token in a header or at a body path (Canto's ``secure_token``).

The SNS style (Bynder) lives in :mod:`daemon.intake.sns_envelope`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from daemon.intake.extract import JsonPath, parse_json
from daemon.intake.ports import EventParseError
from daemon.settings.event_intake import WebhookSettings

#: Why a request was refused before any processing (``event_rejected`` reasons).
RejectReason = Literal["signature", "timestamp", "certificate", "topic"]

#: Signatures one ``webhook-signature`` header may offer (rotation needs two or three).
MAX_SIGNATURES = 16


class VerificationError(Exception):
    """A request that is not proven to come from the DAM: 401, never processed."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: RejectReason = reason
        self.detail = detail


class CertificatePendingError(Exception):
    """The SNS signing certificate is being fetched: answer 503 so that SNS redelivers."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the signing certificate is not cached yet")
        self.retry_after = retry_after


class _NotParsed:
    """The body was verified without being decoded."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_PARSED"


#: :attr:`Verdict.document` when the verifier did not decode the body.
NOT_PARSED: Final = _NotParsed()


@dataclass(frozen=True, slots=True)
class Verdict:
    """
    A verified request.

    Args:
        id_hint: The delivery id the style carries (``webhook-id``, SNS ``MessageId``).
        document: The decoded body when verifying needed it (a body token, the SNS envelope
            with ``Message`` decoded), else :data:`NOT_PARSED`.
        deliver: False for a control message (an SNS subscription), acknowledged with no event.
    """

    id_hint: str | None = None
    document: object = NOT_PARSED
    deliver: bool = True


class Verifier(Protocol):
    """Verifies one request of one source."""

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verdict:
        """
        Args:
            headers: The request headers, looked up by lower-case name.
            body: The raw body.
            now: Unix seconds now.

        Raises:
            VerificationError: not signed, wrongly signed, or outside the timestamp window.
            CertificatePendingError: (SNS) the certificate is being fetched.
        """
        ...


def check_window(timestamp: float, now: float, tolerance: float) -> None:
    """
    Refuse a signed timestamp more than ``tolerance`` seconds away from ``now`` (a replay).

    Raises:
        VerificationError: ``timestamp``.
    """
    if not abs(now - timestamp) <= tolerance:
        raise VerificationError("timestamp", f"signed time is more than {tolerance:g}s off")


def _unix_seconds(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        raise VerificationError("timestamp", "the timestamp header is not Unix seconds")
    return int(text)


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name.lower())
    if not value:
        raise VerificationError("signature", f"no {name} header")
    return value


def _any_equal(expected: list[bytes], offered: list[bytes]) -> bool:
    """True if any pair matches; every pair is compared (constant time, no early exit)."""
    matched = False
    for want in expected:
        for got in offered:
            matched |= hmac.compare_digest(want, got)
    return matched


def standard_key(secret: str) -> bytes:
    """
    The HMAC key of a Standard Webhooks secret (``whsec_<base64>``; the prefix is optional).

    Raises:
        ValueError: not base64 (the message never quotes the secret).
    """
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a standard webhook secret is whsec_ and base64") from None


class StandardVerifier:
    """Standard Webhooks 1.0 (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``)."""

    def __init__(self, settings: WebhookSettings) -> None:
        self._keys = [standard_key(s.get_secret_value()) for s in settings.secrets]
        self._tolerance = settings.tolerance

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verdict:
        msg_id = _header(headers, "webhook-id")
        timestamp = _header(headers, "webhook-timestamp")
        offered = [
            part[3:].encode()
            for part in _header(headers, "webhook-signature").split()[:MAX_SIGNATURES]
            if part.startswith("v1,")
        ]
        signed = f"{msg_id}.{timestamp}.".encode() + body
        expected = [
            base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()) for key in self._keys
        ]
        if not _any_equal(expected, offered):
            raise VerificationError("signature", "no webhook-signature matches")
        check_window(_unix_seconds(timestamp), now, self._tolerance)
        return Verdict(id_hint=msg_id)


class HmacVerifier:
    """One signature header: HMAC or hash-with-secret, hex or base64, SHA-1 or SHA-256."""

    def __init__(self, settings: WebhookSettings) -> None:
        self._secrets = [s.get_secret_value().encode() for s in settings.secrets]
        self._header = settings.signature_header
        self._prefix = settings.signature_prefix
        self._timestamp_header = settings.timestamp_header
        self._algorithm = settings.algorithm
        self._encoding = settings.encoding
        self._append = settings.digest == "append_secret"
        self._tolerance = settings.tolerance

    def _encode(self, digest: bytes) -> bytes:
        return digest.hex().encode() if self._encoding == "hex" else base64.b64encode(digest)

    def _digest(self, secret: bytes, signed: bytes) -> bytes:
        if self._append:
            return hashlib.new(self._algorithm, signed + secret).digest()
        return hmac.new(secret, signed, self._algorithm).digest()

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verdict:
        value = _header(headers, self._header).strip()
        if self._prefix:
            if not value.lower().startswith(self._prefix.lower()):
                raise VerificationError("signature", f"{self._header} lacks its prefix")
            value = value[len(self._prefix) :]
        offered = (value.lower() if self._encoding == "hex" else value).encode()
        signed = body
        timestamp: str | None = None
        if self._timestamp_header is not None:
            timestamp = _header(headers, self._timestamp_header).strip()
            signed = body + timestamp.encode()
        expected = [self._encode(self._digest(secret, signed)) for secret in self._secrets]
        if not _any_equal(expected, [offered]):
            raise VerificationError("signature", f"{self._header} does not match")
        if timestamp is not None:
            check_window(_unix_seconds(timestamp), now, self._tolerance)
        return Verdict()


class TokenVerifier:
    """A shared token in a header or at a body path (Canto)."""

    def __init__(self, settings: WebhookSettings) -> None:
        self._tokens = [s.get_secret_value().encode() for s in settings.secrets]
        self._header = settings.token_header
        path = settings.token_path
        self._path = None if path is None else JsonPath(path, key="webhook.token_path")

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verdict:
        document: object = NOT_PARSED
        if self._path is None:
            assert self._header is not None  # the settings require one of the two
            token = _header(headers, self._header)
        else:
            try:
                document = parse_json(body)
            except EventParseError:
                raise VerificationError("signature", "no token: the body is not JSON") from None
            found = self._path.find(document)
            if isinstance(found, list) and len(found) == 1 and isinstance(found[0], str):
                token = found[0]
            else:
                raise VerificationError("signature", f"no token string at {self._path.text!r}")
        if not _any_equal(self._tokens, [token.encode()]):
            raise VerificationError("signature", "the token does not match")
        return Verdict(document=document)


__all__ = [
    "MAX_SIGNATURES",
    "NOT_PARSED",
    "CertificatePendingError",
    "HmacVerifier",
    "RejectReason",
    "StandardVerifier",
    "TokenVerifier",
    "Verdict",
    "VerificationError",
    "Verifier",
    "check_window",
    "standard_key",
]
