"""
Hostile HTTP clients of the daemon's ``/metrics``, ``/healthz`` and ``/readyz`` (``corpus.py``).

Each case speaks raw bytes to the real server (uvicorn with the daemon's guarded protocol) on
127.0.0.1: a clear status for what it can read, a refusal or a closed connection for what it
cannot, within the request-head limits, and ``/healthz`` answers the next client every time.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry

from daemon.service.endpoints import ServerLimits, build_app
from daemon.service.readiness import Check
from tests.reliability.corpus import Case, params
from tests.service.test_server_limits import ReadyProbe, running

LIMITS = ServerLimits(max_connections=8, header_timeout=2.0)
CLOSE = b"Connection: close\r\n"
PASSWORD = b"hunter2-db-pass"


@dataclass(frozen=True)
class Send:
    """What the client sends, at once or one byte every ``every`` seconds."""

    data: bytes
    every: float | None = None


@dataclass(frozen=True)
class Answered:
    """Expected: these statuses, in order; ``absent`` nowhere in the answer."""

    statuses: tuple[int, ...]
    absent: bytes = b"\x00never"


@dataclass(frozen=True)
class Shed:
    """Expected: no answer, or a 4xx refusal; the connection closed either way."""


class BrokenProbe:
    """A readiness probe failing with a database URL (and its password) in the message."""

    async def checks(self) -> Sequence[Check]:
        raise RuntimeError(f"cannot connect to postgresql://damsync:{PASSWORD.decode()}@db/x")


def get(path: bytes, *headers: bytes, method: bytes = b"GET") -> bytes:
    return method + b" " + path + b" HTTP/1.1\r\nHost: d\r\n" + b"".join(headers) + CLOSE + b"\r\n"


CASES = [
    Case(
        "header-100kb",
        "bounded memory",
        Send(get(b"/healthz", b"X-Big: " + b"a" * 100_000 + b"\r\n")),
        Answered((200,)),
    ),
    Case(
        "header-never-ends",
        "bounded memory",
        Send(b"GET /healthz HTTP/1.1\r\nHost: d\r\n" + b"X-Pad: aaaaaaaaaa\r\n" * 60_000),
        Shed(),
    ),
    Case(
        "headers-3000",
        "bounded memory",
        Send(get(b"/healthz", *(b"X-%d: v\r\n" % i for i in range(3000)))),
        Answered((200,)),
    ),
    Case("query-200kb", "bounded memory", Send(get(b"/metrics?" + b"q" * 200_000)), Shed()),
    Case(
        "unsent-10mb-body",
        "bounded memory",
        Send(get(b"/healthz", b"Content-Length: 10000000\r\n") + b"abc"),
        Answered((200,)),
    ),
    Case(
        "post-metrics",
        "clear error",
        Send(get(b"/metrics", b"Content-Length: 0\r\n", method=b"POST")),
        Answered((405,)),
    ),
    Case("unknown-method", "clear error", Send(get(b"/healthz", method=b"BREW")), Answered((405,))),
    Case("garbage-request-line", "clear error", Send(b"GARBAGE\r\n\r\n"), Answered((400,))),
    Case("nul-in-path", "clear error", Send(get(b"/heal\x00thz")), Answered((400,))),
    Case(
        "duplicate-host",
        "clear error",
        Send(b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n" + CLOSE + b"\r\n"),
        Answered((400,)),
    ),
    Case(
        "tls-client-hello",
        "clear error",
        Send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40),
        Answered((400,)),
    ),
    Case(
        "http2-preface",
        "clear error",
        Send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        Answered((404, 400)),
    ),
    Case(
        "path-traversal",
        "nothing leaked",
        Send(get(b"/../../etc/passwd")),
        Answered((404,), absent=b"root:"),
    ),
    Case(
        "absolute-form-other-host",
        "nothing leaked",
        Send(get(b"http://evil.test/healthz")),
        Answered((404,)),
    ),
    Case(
        "pipelined-requests",
        "nothing lost",
        Send(b"GET /healthz HTTP/1.1\r\nHost: d\r\n\r\n" + get(b"/readyz")),
        Answered((200, 200)),
    ),
    Case(
        "slowloris-within-timeout",
        "nothing lost",
        Send(get(b"/healthz"), every=0.02),
        Answered((200,)),
    ),
    Case(
        "slowloris-past-timeout",
        "bounded memory",
        Send(b"GET /healthz HTTP/1.1\r\n" + b"X: y\r\n" * 40, every=0.1),
        Shed(),
    ),
    Case(
        "readyz-error-with-password",
        "nothing leaked",
        Send(get(b"/readyz")),
        Answered((503,), absent=PASSWORD),
    ),
]


async def exchange(port: int, send: Send) -> bytes:
    """Send, then read the whole answer; ``b""`` when the server closed without one."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if send.every is None:
            writer.write(send.data)
            await writer.drain()
        else:
            for index in range(len(send.data)):  # bounded by the data
                writer.write(send.data[index : index + 1])
                await writer.drain()
                await asyncio.sleep(send.every)
                if reader.at_eof():
                    break
        return await asyncio.wait_for(reader.read(), 20)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        writer.close()


def statuses(answer: bytes) -> tuple[int, ...]:
    """The status of every answer in ``answer`` (a pipelined answer follows a body directly)."""
    return tuple(int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer))


@pytest.mark.parametrize("case", params(CASES))
async def test_http_client(case: Case) -> None:
    """One hostile client: a clear status or a shed connection; the next client is served."""
    probe = BrokenProbe() if case.id == "readyz-error-with-password" else ReadyProbe()
    async with running(build_app(CollectorRegistry(), probe), LIMITS) as port:
        answer = await asyncio.wait_for(exchange(port, case.input), 60)
        after = await asyncio.wait_for(exchange(port, Send(get(b"/healthz"))), 20)
    assert (200,) == statuses(after)
    if isinstance(case.expect, Shed):
        assert statuses(answer) in ((), (400,), (413,), (414,), (431,)), answer[:200]
        return
    assert (case.expect.statuses, False) == (statuses(answer), case.expect.absent in answer), (
        answer[:300]
    )
