"""
How the simulated DAM signs its webhooks, written from the references alone.

- Standard Webhooks 1.0 (sync-engineering.md §3): ``webhook-id``, ``webhook-timestamp`` (Unix
  seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``,
  the key being the base64 text after ``whsec_``.
- Cloudinary (dam-apis.md §2.6): ``X-Cld-Timestamp`` and ``X-Cld-Signature`` = hex
  SHA-1 (or SHA-256) of ``body + timestamp + api_secret``: a plain digest, not an HMAC.
- Frontify (dam-apis.md §6): ``X-Frontify-Webhook-Signature`` = base64 HMAC-SHA256 of the body.
- Bynder through AWS SNS (dam-apis.md §1.5): an RSA signature over the envelope's canonical
  string, SHA1 for ``SignatureVersion`` 1 and SHA256 for 2, checked with the certificate at
  ``SigningCertURL``. :class:`SnsSigner` generates a key and a self-signed certificate, or
  loads given ones.

Canto signs nothing: its ``secure_token`` travels in the body (see ``event_shapes``).
Nothing here is shared with the daemon's verifier (``daemon/intake/``): both follow the references.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from daemon.core.errors import ConfigError

SECRET_PREFIX = "whsec_"
SnsVersion = Literal["1", "2"]
DigestName = Literal["sha1", "sha256"]

#: The envelope keys signed, in order, per message type (AWS SNS "verify signatures").
SNS_SIGNED_KEYS: dict[str, tuple[str, ...]] = {
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
SNS_SIGNED_KEYS["UnsubscribeConfirmation"] = SNS_SIGNED_KEYS["SubscriptionConfirmation"]


def new_standard_secret() -> str:
    """
    Returns:
        A fresh Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64.
    """
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def standard_key(secret: str) -> bytes:
    """
    Args:
        secret: ``whsec_<base64>`` (the prefix is optional, as in the reference libraries).

    Returns:
        The HMAC key bytes.

    Raises:
        ConfigError: the secret is not base64.
    """
    text = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise ConfigError("is not whsec_<base64>", key="dam_sim.events.secret") from exc


def standard_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """
    Args:
        secret: ``whsec_<base64>``.
        msg_id: the message id (the same on every retry and duplicate).
        timestamp: Unix seconds of this attempt.
        body: the raw body.

    Returns:
        ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (``v1,<base64>``).
    """
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def cloudinary_headers(
    secret: str, timestamp: int, body: bytes, algorithm: DigestName = "sha1"
) -> dict[str, str]:
    """
    Args:
        secret: the account's ``api_secret``.
        timestamp: Unix seconds of this attempt.
        body: the raw body.
        algorithm: ``sha1`` (Cloudinary's default) or ``sha256``.

    Returns:
        ``X-Cld-Timestamp`` and ``X-Cld-Signature`` (hex digest of body + timestamp + secret).
    """
    digest = hashlib.new(algorithm, body + str(timestamp).encode() + secret.encode())
    return {"X-Cld-Timestamp": str(timestamp), "X-Cld-Signature": digest.hexdigest()}


def frontify_headers(secret: str, body: bytes) -> dict[str, str]:
    """
    Args:
        secret: the webhook's secret.
        body: the raw body.

    Returns:
        ``X-Frontify-Webhook-Signature``: base64 HMAC-SHA256 of the body.
    """
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {"X-Frontify-Webhook-Signature": base64.b64encode(digest).decode()}


def sns_string_to_sign(envelope: Mapping[str, str]) -> bytes:
    """
    Build the canonical string of an SNS message: each signed key and its value on lines of
    their own, every line ending in ``\\n``, keys in the documented order; ``Subject`` only
    when present.

    Args:
        envelope: the SNS message (``Type`` decides the keys).

    Returns:
        The UTF-8 bytes to sign.
    """
    keys = SNS_SIGNED_KEYS[envelope["Type"]]
    return "".join(f"{key}\n{envelope[key]}\n" for key in keys if key in envelope).encode()


class SnsSigner:
    """
    Signs SNS envelopes with an RSA key; its certificate is what ``SigningCertURL`` serves.

    Args:
        key_pem: a PEM private key (RSA); ``None`` generates a 2048-bit key.
        cert_pem: the PEM certificate of that key; ``None`` makes a self-signed one.
    """

    def __init__(self, key_pem: bytes | None = None, cert_pem: bytes | None = None) -> None:
        if key_pem is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            loaded = serialization.load_pem_private_key(key_pem, password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ConfigError("must be an RSA private key", key="dam_sim.events.sns_key")
            key = loaded
        self._key = key
        self.cert_pem = cert_pem if cert_pem is not None else _self_signed(key)

    @classmethod
    def from_files(cls, key_path: Path | None, cert_path: Path | None) -> SnsSigner:
        """
        Args:
            key_path: a PEM private key file, or ``None`` to generate one.
            cert_path: its PEM certificate, or ``None`` for a self-signed one.

        Returns:
            The signer.
        """
        key = key_path.read_bytes() if key_path is not None else None
        cert = cert_path.read_bytes() if cert_path is not None else None
        if key is None and cert is not None:
            raise ConfigError("a certificate needs its key", key="dam_sim.events.sns_key")
        return cls(key, cert)

    def sign(self, envelope: dict[str, str], version: SnsVersion) -> dict[str, str]:
        """
        Args:
            envelope: the SNS message without ``Signature`` and ``SignatureVersion``.
            version: ``"1"`` (RSA SHA1) or ``"2"`` (RSA SHA256).

        Returns:
            The envelope with ``SignatureVersion`` and the base64 ``Signature``.
        """
        algorithm: hashes.HashAlgorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self._key.sign(sns_string_to_sign(envelope), padding.PKCS1v15(), algorithm)
        return {
            **envelope,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode(),
        }

    def __repr__(self) -> str:
        return "SnsSigner(<rsa key>)"


def _self_signed(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.damsync-sim.invalid")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


__all__ = [
    "SECRET_PREFIX",
    "SNS_SIGNED_KEYS",
    "DigestName",
    "SnsSigner",
    "SnsVersion",
    "cloudinary_headers",
    "frontify_headers",
    "new_standard_secret",
    "sns_string_to_sign",
    "standard_headers",
    "standard_key",
]
