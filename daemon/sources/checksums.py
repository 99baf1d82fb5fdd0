"""
Announced checksums and verified binary streams.

A DAM announces a binary's checksum in one of these forms (whitespace around it is ignored):

- a bare digest, hex (any case) or base64 (standard or URL-safe, padding optional; S3's
  ``Content-MD5``), of the source's ``checksum_algorithm``;
- ``algorithm:digest`` (``sha256:9f86…``, ``md5:1B2M2Y8AsgTpgAmY7PhCfg==``): the prefix chooses
  the algorithm for that value, whatever ``checksum_algorithm`` says, so a DAM may mix them.
  ``sha-256``/``sha-1`` (RFC 9530 spellings) are accepted too, in any case.

:func:`parse_checksum` turns the text into a :class:`Checksum`; its :attr:`Checksum.key`
(``sha256:<lower hex>``) is the one form media dedupe is keyed by. A value that is no digest of
a supported algorithm is a :class:`ChecksumFormatError` saying what is wrong with it.

:func:`verified` counts and hashes a stream while it passes, never buffering the file. A stream
that ends short of (or runs past) the size the DAM announced, whose digest differs from the
announced checksum, or whose announced checksum cannot be read raises
:class:`~daemon.core.errors.SourceAssetError` naming the asset, so a truncated or corrupted file
never reaches the PIM.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import string
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from daemon.core.errors import SourceAssetError, UnusableBinaryError

#: Supported algorithms (``hashlib`` names) and their digest sizes in bytes.
DIGEST_SIZES: Mapping[str, int] = {"md5": 16, "sha1": 20, "sha256": 32}

#: Other spellings of the supported algorithms in a prefix (compared in lower case).
_ALIASES: Mapping[str, str] = {"sha-1": "sha1", "sha-256": "sha256"}

_HEX = frozenset(string.hexdigits)

#: How much of a bad value an error message quotes.
_SHOWN = 80


class ChecksumFormatError(ValueError):
    """An announced checksum that is no digest of a supported algorithm; the text says why."""


@dataclass(frozen=True, slots=True)
class Checksum:
    """A digest and the algorithm that made it."""

    algorithm: str
    digest: bytes

    @property
    def hex(self) -> str:
        """The digest in lower-case hex."""
        return self.digest.hex()

    @property
    def key(self) -> str:
        """The normalised form media dedupe is keyed by: ``algorithm:hex``."""
        return f"{self.algorithm}:{self.hex}"


def _algorithm(prefix: str) -> str:
    name = prefix.strip().lower()
    name = _ALIASES.get(name, name)
    if name not in DIGEST_SIZES:
        raise ChecksumFormatError(
            f"unsupported algorithm {prefix.strip()!r} (supported: {', '.join(DIGEST_SIZES)})"
        )
    return name


def _base64(text: str) -> bytes | None:
    """The bytes of a standard or URL-safe base64 text (padding optional), or None."""
    if not text or len(text) % 4 == 1:
        return None
    padded = text.translate(str.maketrans("-_", "+/")) + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _digest(text: str, algorithm: str | None, *, configured: bool = False) -> Checksum:
    """
    Read ``text`` as a hex or base64 digest.

    ``algorithm`` None: tell it by the digest's size (each supported algorithm has its own).
    ``configured``: the algorithm is the source's setting (not a prefix), so a digest of
    another algorithm's size earns a hint.
    """
    if not text:
        raise ChecksumFormatError("empty digest")
    sizes = {algorithm: DIGEST_SIZES[algorithm]} if algorithm else dict(DIGEST_SIZES)
    is_hex = all(c in _HEX for c in text)
    if is_hex:
        for name, size in sizes.items():
            if len(text) == 2 * size:
                return Checksum(name, bytes.fromhex(text))
    raw = _base64(text)
    if raw is not None:
        for name, size in sizes.items():
            if len(raw) == size:
                return Checksum(name, raw)
    wanted = (
        f"a {algorithm} digest is {2 * sizes[algorithm]} hex digits or {sizes[algorithm]} "
        "base64-encoded bytes"
        if algorithm
        else "expected an md5, sha1 or sha256 digest"
    )
    if is_hex:
        found = f"{len(text)} hex digits"
    elif raw is not None:
        found = f"base64 of {len(raw)} bytes"
    else:
        found = "neither hex nor base64"
    hint = ""
    if configured and algorithm and (is_hex or raw is not None):
        size = len(text) // 2 if is_hex else len(raw or b"")
        other = next((n for n, s in DIGEST_SIZES.items() if s == size), None)
        if other is not None:
            hint = f" (an {other} digest? prefix it '{other}:' or set checksum_algorithm)"
    raise ChecksumFormatError(f"{found}; {wanted}{hint}")


def parse_checksum(value: str, algorithm: str | None = "sha256") -> Checksum:
    """
    Read an announced checksum.

    Args:
        value: ``digest`` or ``algorithm:digest``; the digest in hex or base64.
        algorithm: The source's ``checksum_algorithm``, for a value without a prefix; ``None``
            tells it by the digest's size (md5, sha1 and sha256 digests differ in size).

    Returns:
        The algorithm and the digest's bytes.

    Raises:
        ChecksumFormatError: the value is no digest of a supported algorithm.
    """
    text = value.strip()
    if not text:
        raise ChecksumFormatError("empty value")
    prefix, colon, rest = text.partition(":")
    if colon:
        return _digest(rest.strip(), _algorithm(prefix))
    if algorithm is None:
        return _digest(text, None)
    return _digest(text, _algorithm(algorithm), configured=True)


def unusable(value: str, error: ChecksumFormatError) -> str:
    """The reason given for an announced checksum that cannot be read."""
    shown = value if len(value) <= _SHOWN else f"{value[:_SHOWN]}..."
    return f"announced checksum {shown!r} cannot be read: {error}"


async def verified(
    chunks: AsyncIterator[bytes],
    *,
    source: str,
    asset_id: str,
    path: str,
    expected_size: int | None,
    content_length: int | None,
    checksum: str | None = None,
    algorithm: str = "sha256",
) -> AsyncIterator[bytes]:
    """
    Pass ``chunks`` through, checking length and checksum.

    Args:
        chunks: The raw body.
        source: Source name, for the error.
        asset_id: The asset, for the error.
        path: Where the binary came from (endpoint template or file path), for the error.
        expected_size: The size the asset record announced.
        content_length: The ``Content-Length`` the answer announced.
        checksum: The announced checksum, in any form :func:`parse_checksum` reads.
        algorithm: ``checksum_algorithm``: the algorithm of a checksum without a prefix.

    Returns:
        An iterator of the same chunks.
    """

    def fail(field: str, reason: str) -> SourceAssetError:
        return SourceAssetError(
            asset_id=asset_id, field=field, path=path, reason=reason, source=source
        )

    expected: Checksum | None = None
    if checksum:
        try:
            expected = parse_checksum(checksum, algorithm)
        except ChecksumFormatError as exc:
            raise UnusableBinaryError(
                asset_id=asset_id,
                field="checksum",
                path=path,
                reason=unusable(checksum, exc),
                source=source,
            ) from None
    if expected_size is not None and content_length is not None and expected_size != content_length:
        raise fail(
            "size",
            f"wrong content length: answer announces {content_length} bytes, "
            f"asset record says {expected_size}",
        )
    limit = content_length if content_length is not None else expected_size
    digest = (
        hashlib.new(expected.algorithm, usedforsecurity=False) if expected is not None else None
    )
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if limit is not None and received > limit:
            raise fail("size", f"download longer than the announced {limit} bytes")
        if digest is not None:
            digest.update(chunk)
        yield chunk
    if limit is not None and received != limit:
        raise fail("size", f"truncated download: {received} of {limit} bytes")
    if digest is not None and expected is not None and digest.digest() != expected.digest:
        raise fail(
            "checksum",
            f"{expected.algorithm} mismatch: announced {expected.hex}, got {digest.hexdigest()}",
        )


__all__ = [
    "DIGEST_SIZES",
    "Checksum",
    "ChecksumFormatError",
    "UnusableBinaryError",
    "parse_checksum",
    "unusable",
    "verified",
]
