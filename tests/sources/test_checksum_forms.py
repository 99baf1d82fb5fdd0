"""
Announced checksums in every form DAMs use: bare hex, ``algorithm:hex``, base64 (S3's
Content-MD5); an unreadable one is a per-asset error naming asset, field and the value's problem.
Binary URLs other than http(s) are a permanent per-asset error, never a request.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from daemon.core.errors import PermanentError, SourceAssetError
from daemon.core.records import Window
from daemon.sources import build_source, load_source_settings
from daemon.sources.checksums import (
    ChecksumFormatError,
    UnusableBinaryError,
    parse_checksum,
    verified,
)

PNG = b"\x89PNG" + b"x" * 100
SHA256 = hashlib.sha256(PNG)
MD5 = hashlib.md5(PNG, usedforsecurity=False)
SHA1 = hashlib.sha1(PNG, usedforsecurity=False)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(days=1))


def b64(digest: bytes, *, urlsafe: bool = False, pad: bool = True) -> str:
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(digest).decode()
    return text if pad else text.rstrip("=")


@pytest.mark.parametrize(
    ("value", "algorithm", "key"),
    [
        (SHA256.hexdigest(), "sha256", f"sha256:{SHA256.hexdigest()}"),
        (SHA256.hexdigest().upper(), "sha256", f"sha256:{SHA256.hexdigest()}"),
        (f"  {SHA256.hexdigest()}\n", "sha256", f"sha256:{SHA256.hexdigest()}"),
        (f"sha256:{SHA256.hexdigest()}", "sha256", f"sha256:{SHA256.hexdigest()}"),
        (f"SHA-256:{SHA256.hexdigest()}", "sha256", f"sha256:{SHA256.hexdigest()}"),
        (f"sha256:{b64(SHA256.digest())}", "md5", f"sha256:{SHA256.hexdigest()}"),
        # the prefix chooses, whatever checksum_algorithm says
        (f"md5:{MD5.hexdigest()}", "sha256", f"md5:{MD5.hexdigest()}"),
        (f"sha1:{SHA1.hexdigest()}", "sha256", f"sha1:{SHA1.hexdigest()}"),
        (f"sha-1:{SHA1.hexdigest()}", "md5", f"sha1:{SHA1.hexdigest()}"),
        # S3's Content-MD5: base64 of the 16 digest bytes
        (b64(MD5.digest()), "md5", f"md5:{MD5.hexdigest()}"),
        (b64(MD5.digest(), urlsafe=True, pad=False), "md5", f"md5:{MD5.hexdigest()}"),
        (b64(SHA256.digest()), "sha256", f"sha256:{SHA256.hexdigest()}"),
        (MD5.hexdigest(), "md5", f"md5:{MD5.hexdigest()}"),
        # no configured algorithm: told by the digest's size (media dedupe keys)
        (MD5.hexdigest(), None, f"md5:{MD5.hexdigest()}"),
        (b64(SHA1.digest()), None, f"sha1:{SHA1.hexdigest()}"),
        (SHA256.hexdigest(), None, f"sha256:{SHA256.hexdigest()}"),
    ],
)
def test_every_announced_form_reads_as_one_normalised_key(value, algorithm, key):
    """Hex of any case, prefixed and base64 forms all normalise to ``algorithm:lower-hex``."""
    assert key == parse_checksum(value, algorithm).key


@pytest.mark.parametrize(
    ("value", "algorithm", "problem"),
    [
        ("", "sha256", "empty value"),
        ("   ", "sha256", "empty value"),
        ("sha256:", "sha256", "empty digest"),
        ("not-a-checksum!", "sha256", "neither hex nor base64"),
        (f"crc32c:{b64(b'1234')}", "sha256", "unsupported algorithm 'crc32c'"),
        (f"sha512:{SHA256.hexdigest()}", "sha256", "unsupported algorithm 'sha512'"),
        ("abc123", "sha256", "6 hex digits; a sha256 digest is 64 hex digits"),
        (MD5.hexdigest(), "sha256", "an md5 digest? prefix it 'md5:' or set checksum_algorithm"),
        (b64(MD5.digest()), "sha256", "base64 of 16 bytes"),
        (f"sha256:{MD5.hexdigest()}", "md5", "32 hex digits; a sha256 digest is 64"),
        ("deadbeef", None, "expected an md5, sha1 or sha256 digest"),
    ],
)
def test_unreadable_values_say_what_is_wrong(value, algorithm, problem):
    """A value that is no digest of a supported algorithm says why, in words."""
    with pytest.raises(ChecksumFormatError) as info:
        parse_checksum(value, algorithm)
    assert problem in str(info.value)


def test_a_prefixed_digest_of_the_wrong_size_gets_no_setting_hint():
    """The hint about checksum_algorithm is for bare values only; a prefix already chose."""
    with pytest.raises(ChecksumFormatError) as info:
        parse_checksum(f"sha256:{MD5.hexdigest()}", "sha256")
    assert "checksum_algorithm" not in str(info.value)


async def chunks_of(data: bytes):
    for start in range(0, len(data), 7):
        yield data[start : start + 7]


async def stream(checksum: str | None, algorithm: str = "sha256", data: bytes = PNG) -> bytes:
    out = verified(
        chunks_of(data),
        source="dam",
        asset_id="a1",
        path="binary",
        expected_size=len(data),
        content_length=None,
        checksum=checksum,
        algorithm=algorithm,
    )
    return b"".join([c async for c in out])


@pytest.mark.parametrize(
    ("checksum", "algorithm"),
    [
        (f"sha256:{SHA256.hexdigest()}", "sha256"),
        (f"md5:{MD5.hexdigest()}", "sha256"),
        (b64(MD5.digest()), "md5"),
        (f"md5:{b64(MD5.digest())}", "sha1"),
        (SHA1.hexdigest().upper(), "sha1"),
        (None, "sha256"),
    ],
)
async def test_verified_streams_accept_every_form(checksum, algorithm):
    """Before the fix, ``sha256:<hex>`` failed every binary as a checksum mismatch."""
    assert PNG == await stream(checksum, algorithm)


async def test_wrong_bytes_still_fail_in_the_announced_algorithm():
    """A prefixed checksum of other bytes is a mismatch in the prefix's algorithm."""
    other = hashlib.md5(b"other", usedforsecurity=False).hexdigest()
    with pytest.raises(SourceAssetError) as info:
        await stream(f"md5:{other}")
    assert ("a1", "checksum") == (info.value.asset_id, info.value.field)
    assert info.value.reason.startswith("md5 mismatch: announced")
    assert not isinstance(info.value, UnusableBinaryError)  # a corrupted transfer: worth a retry


async def test_an_unreadable_checksum_is_a_per_asset_error_naming_value_and_problem():
    """Asset, field and what is wrong with the value; nothing is streamed first."""
    with pytest.raises(SourceAssetError) as info:
        await stream("sha256:zz!not!hex")
    error = info.value
    assert ("dam", "a1", "checksum") == (error.source, error.asset_id, error.field)
    assert "announced checksum 'sha256:zz!not!hex' cannot be read" in error.reason
    assert "neither hex nor base64" in error.reason
    # only a change of the DAM's record helps: marked apart from a truncated download
    assert isinstance(error, UnusableBinaryError) and isinstance(error, PermanentError)


async def test_a_very_long_bad_value_is_shortened_in_the_error():
    """An error quotes at most 80 characters of the value."""
    with pytest.raises(SourceAssetError) as info:
        await stream("x" * 5000)
    assert len(info.value.reason) < 300


# --- the REST source, end to end ------------------------------------------------------------


def item(asset_id: str, **file: Any) -> Any:
    return {
        "id": asset_id,
        "updated_at": "2026-01-01T01:00:00Z",
        "file": {
            "url": f"http://dam.test/files/{asset_id}",
            "filename": f"{asset_id}.png",
            "size": len(PNG),
            **file,
        },
    }


def make(items: list[Any], algorithm: str = "sha256", requests: list[str] | None = None) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        if requests is not None:
            requests.append(str(request.url))
        if request.url.path == "/assets":
            return httpx.Response(200, json={"items": items, "next_cursor": None})
        return httpx.Response(200, content=PNG, headers={"content-length": str(len(PNG))})

    settings = load_source_settings(
        {
            "name": "dam",
            "kind": "rest",
            "http": {"retry": {"attempts": 1}},
            "rest": {
                "base_url": "http://dam.test",
                "changes_path": "/assets",
                "items_path": "items",
                "paging": {"style": "cursor", "param": "cursor", "cursor_path": "next_cursor"},
                "fields": {
                    "binary_url": "file.url",
                    "filename": "file.filename",
                    "size": "file.size",
                    "checksum": "file.checksum",
                    "checksum_algorithm": algorithm,
                },
            },
        }
    )
    return build_source("dam", settings, transport=httpx.MockTransport(handler))


async def download_all(source) -> dict[str, bytes | SourceAssetError]:
    pages = [page async for page in source.changes(WINDOW)]
    out: dict[str, bytes | SourceAssetError] = {}
    for asset in (a for p in pages for a in p.assets):
        try:
            async with source.open_binary(asset) as chunks:
                out[asset.id] = b"".join([c async for c in chunks])
        except SourceAssetError as exc:
            out[asset.id] = exc
    return out


async def test_rest_binaries_with_prefixed_and_base64_checksums_download():
    """The DAM's prefixed and base64 checksums verify; a bad one fails its asset alone."""
    source = make(
        [
            item("hex", checksum=SHA256.hexdigest()),
            item("prefixed", checksum=f"sha256:{SHA256.hexdigest()}"),
            item("md5", checksum=f"md5:{MD5.hexdigest()}"),
            item("s3", checksum=f"md5:{b64(MD5.digest())}"),
            item("bad", checksum="sha256:0xNOPE"),
        ]
    )
    got = await download_all(source)
    await source.aclose()
    assert {"hex": PNG, "prefixed": PNG, "md5": PNG, "s3": PNG} == {
        k: v for k, v in got.items() if k != "bad"
    }
    bad = got["bad"]
    assert isinstance(bad, SourceAssetError)
    assert ("bad", "checksum") == (bad.asset_id, bad.field)
    assert "'sha256:0xNOPE' cannot be read" in bad.reason


async def test_content_md5_style_checksums_with_the_md5_setting():
    """checksum_algorithm = "md5" with S3-style base64 values (Content-MD5)."""
    source = make([item("a", checksum=b64(MD5.digest()))], algorithm="md5")
    assert {"a": PNG} == await download_all(source)
    await source.aclose()


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("ftp://files.dam.test/a.png", "'ftp'"),
        ("file:///etc/passwd", "'file'"),
        ("data:image/png;base64,AAAA", "'data'"),
    ],
)
async def test_a_binary_url_of_another_scheme_is_a_permanent_asset_error(url, scheme):
    """No request is made; the error is the asset's (permanent), not the DAM's (transient)."""
    requests: list[str] = []
    source = make([item("a1", url=url)], requests=requests)
    got = await download_all(source)
    await source.aclose()
    error = got["a1"]
    assert isinstance(error, UnusableBinaryError) and isinstance(error, PermanentError)
    assert ("a1", "binary_url") == (error.asset_id, error.field)
    assert f"unsupported URL scheme {scheme}" in error.reason
    assert url not in str(error)  # a signed URL is never quoted
    assert all(r.startswith("http://dam.test/assets") for r in requests)
