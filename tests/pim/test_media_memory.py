"""
Uploading a binary held in memory: one multipart body built once, the same bytes on every attempt.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from daemon.pim import PasswordAuth, PimClient
from daemon.pim.media import HeldBinary, InMemoryBinary
from tests.pim.helpers import Recorder, make_client

sim = pytest.importorskip("daemon.sim.pim")

SEED = Path(__file__).resolve().parents[2] / "config" / "sim" / "pim-seed.json"
PAYLOAD = b"\x89PNG" + bytes(range(256)) * 8


def created(code: str = "a/b/c/abc_shot.png") -> httpx.Response:
    return httpx.Response(201, headers={"asset-media-file-code": code})


async def test_held_binary_goes_as_one_sized_body_resent_unchanged_on_retry():
    """A 503 is retried with the very same body; it has a length, it is not chunked."""
    answers = iter([httpx.Response(503), created()])
    rec = Recorder(lambda request: next(answers))
    async with make_client(rec) as client:
        code = await client.upload_media_file(InMemoryBinary(PAYLOAD), filename='sh"ot.png')
    first, second = rec.api
    boundary = re.fullmatch(
        r"multipart/form-data; boundary=([0-9a-f]{32})", second.headers["content-type"]
    )
    assert boundary is not None
    expected = (
        (
            f"--{boundary[1]}\r\n"
            'Content-Disposition: form-data; name="file"; filename="sh%22ot.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + PAYLOAD
        + f"\r\n--{boundary[1]}--\r\n".encode()
    )
    assert ("a/b/c/abc_shot.png", expected, expected) == (code, first.content, second.content)
    assert (str(len(expected)), None) == (
        second.headers.get("content-length"),
        second.headers.get("transfer-encoding"),
    )


async def test_held_binary_needs_a_filename():
    """Like a stream, bytes have no name of their own."""
    async with make_client(Recorder(lambda request: created())) as client:
        with pytest.raises(ValueError, match="filename"):
            await client.upload_media_file(InMemoryBinary(PAYLOAD))


async def test_held_binary_is_also_a_stream_factory():
    """Called, it streams its bytes once per call, as any stream factory does."""
    held = InMemoryBinary(PAYLOAD)
    first = b"".join([chunk async for chunk in held()])
    second = b"".join([chunk async for chunk in held()])
    assert (PAYLOAD, PAYLOAD, "InMemoryBinary(2052 bytes)") == (first, second, repr(held))
    assert isinstance(held, HeldBinary)


async def test_held_binary_round_trips_through_the_simulator():
    """The simulator parses the body as multipart and serves the same bytes back."""
    app = sim.create_pim_app(
        sim.load_seed(SEED), options=sim.PimSimOptions(base_url="http://pim.sim")
    )
    auth = PasswordAuth(
        client_id="demo_client", secret="demo_secret", username="demo", password="demo"
    )
    transport = httpx.ASGITransport(app=app)
    async with PimClient("http://pim.sim", auth=auth, transport=transport) as client:
        code = await client.upload_media_file(
            InMemoryBinary(PAYLOAD), filename="front.png", mime_type="image/png"
        )
        async with client.download_media_file(code) as download:
            body = await download.read()
    assert (PAYLOAD, "image/png") == (body, download.mime_type)
