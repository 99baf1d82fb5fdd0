"""The PIM client gets the same per-attempt bounds as the DAM: body cap and total deadlines."""

from __future__ import annotations

import time

import pytest

from daemon.core.errors import PimProtocolError, PimUnavailable
from daemon.pim import PimClient
from daemon.settings.connections import PimSettings
from tests.upstream.loopback import Loopback, endless, trickle


def settings(url: str, **http: object) -> PimSettings:
    return PimSettings.model_validate(
        {"base_url": url, "token": "app-t0ken", "http": {"retry": {"attempts": 1}, **http}}
    )


async def test_an_endless_pim_answer_stops_at_pim_http_max_body_bytes():
    """An endless asset-family page fails at the PIM's own cap, naming ``pim.http``'s key."""
    async with Loopback(endless()) as server:
        client = PimClient.from_settings(settings(server.url, max_body_bytes=1024 * 1024))
        try:
            with pytest.raises(PimProtocolError) as info:
                await client.get_asset_family("packshots")
        finally:
            await client.aclose()
    assert "(limit: pim.http.max_body_bytes)" in str(info.value)
    assert server.sent < 32 * 1024 * 1024, server.sent


async def test_a_trickling_media_download_ends_at_the_transfer_deadline():
    """A media file trickling one byte every 50 ms fails at ``pim.http.timeouts.transfer``."""
    data = b"\xff\xd8" + b"j" * 300
    async with Loopback(trickle(data, every=0.05, content_type="image/jpeg")) as server:
        client = PimClient.from_settings(settings(server.url, timeouts={"transfer": 0.5}))
        started = time.monotonic()
        try:
            with pytest.raises(PimUnavailable) as info:
                async with client.download_media_file("a/b/c.jpg") as download:
                    await download.read()
        finally:
            await client.aclose()
        elapsed = time.monotonic() - started
    assert "download interrupted" in str(info.value)
    assert "limit: pim.http.timeouts.transfer" in str(info.value.__cause__)
    assert elapsed < 3.0, elapsed
