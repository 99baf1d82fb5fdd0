"""
Binary URLs resolve as a join on the base URL would, whether parsed alone (absolute http(s)) or
joined (anything else): same path on the wire, same credentials decision.
"""

from __future__ import annotations

import httpx
import pytest

from tests.sources.test_rest_origin import PNG, WINDOW, Dam, carries_credentials, source_for


@pytest.mark.parametrize(
    ("base", "binary_url", "path", "credentials"),
    [
        ("http://dam.test", "http://dam.test/x/../files/a1", "/files/a1", True),
        ("http://dam.test", "HTTP://DAM.TEST/files/a1", "/files/a1", True),
        ("https://dam.test", "https://dam.test:443/files/./a1", "/files/a1", True),
        ("http://dam.test", "https://dam.test/files/a1", "/files/a1", False),
        ("http://dam.test", "files/a1", "/files/a1", True),
        ("http://dam.test", "//cdn.test/files/a1", "/files/a1", False),
    ],
)
async def test_binary_url_forms_resolve_as_a_join(base, binary_url, path, credentials):
    """Dot segments, case and default ports are normalised; other origins get no credentials."""
    dam = Dam(base, "", binary_url)
    source = source_for(dam)
    asset = next(iter([p async for p in source.changes(WINDOW)])).assets[0]
    async with source.open_binary(asset) as chunks:
        body = b"".join([c async for c in chunks])
    await source.aclose()
    download: httpx.Request = dam.requests[-1]
    expected = httpx.URL(base).join(binary_url)
    assert (PNG, path, credentials) == (body, download.url.path, carries_credentials(download))
    assert (expected.host, expected.port) == (download.url.host, download.url.port)
