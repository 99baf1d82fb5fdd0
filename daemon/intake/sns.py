"""
AWS SNS plumbing off the request path: the signing-certificate cache, its background fetch, and
subscription confirmations.

A webhook request never waits for an outbound call. A request whose ``SigningCertURL`` is not
cached gets 503 (SNS redelivers) and starts one background fetch of that URL
(:class:`CertificateCache`); a verified ``SubscriptionConfirmation`` starts one background GET of
its ``SubscribeURL``. Both run as tasks of a bounded :class:`BackgroundJobs`, through an
:class:`SnsHttp` (:class:`SnsHttpClient` in production: https only, no redirect, short timeout,
size-capped certificate).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import structlog
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

log = structlog.get_logger(__name__)

#: Largest certificate (PEM) fetched; SNS's are about 2 KiB.
MAX_CERT_BYTES = 32 * 1024
#: Seconds a certificate fetch or a subscription confirmation may take.
FETCH_TIMEOUT = 5.0
#: Background fetches and confirmations running at once; more are dropped (SNS redelivers).
MAX_BACKGROUND = 8


def allowed_url(url: str, host_patterns: Iterable[str]) -> bool:
    """
    True for an ``https`` URL, default port, no user info, whose host fully matches a pattern.

    Args:
        url: A ``SigningCertURL`` or ``SubscribeURL``.
        host_patterns: Regular expressions (``WebhookSettings.cert_hosts``).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host = parts.hostname or ""
    if parts.scheme != "https" or port not in (None, 443) or parts.username is not None:
        return False
    return any(re.fullmatch(pattern, host) for pattern in host_patterns)


class SnsHttp(Protocol):
    """The outbound calls of the SNS style (tests pass a fake)."""

    async def fetch_certificate(self, url: str) -> bytes:
        """The PEM at ``url``; raises ``httpx.HTTPError`` (or ``ValueError``) on failure."""
        ...

    async def confirm(self, url: str) -> None:
        """GET a ``SubscribeURL``; raises ``httpx.HTTPError`` on failure."""
        ...

    async def aclose(self) -> None:
        """Close the connections."""
        ...


class SnsHttpClient:
    """:class:`SnsHttp` over httpx: short timeout, no redirect, certificates size-capped."""

    def __init__(self, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(
            timeout=FETCH_TIMEOUT, follow_redirects=False, transport=transport
        )

    async def fetch_certificate(self, url: str) -> bytes:
        async with self._client.stream("GET", url) as response:
            response.raise_for_status()
            if response.status_code != 200:
                raise httpx.HTTPStatusError(
                    f"certificate answer {response.status_code}",
                    request=response.request,
                    response=response,
                )
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_CERT_BYTES:
                    raise httpx.DecodingError(f"certificate over {MAX_CERT_BYTES} bytes")
            return bytes(body)

    async def confirm(self, url: str) -> None:
        async with self._client.stream("GET", url) as response:
            response.raise_for_status()

    async def aclose(self) -> None:
        await self._client.aclose()


class BackgroundJobs:
    """At most ``limit`` tasks at once, awaited or cancelled on :meth:`aclose`."""

    def __init__(self, limit: int = MAX_BACKGROUND) -> None:
        self._limit = limit
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, job: Callable[[], Coroutine[Any, Any, None]], name: str) -> bool:
        """Start ``job()`` as a task; False (nothing started) when ``limit`` tasks run."""
        if len(self._tasks) >= self._limit:
            return False
        task = asyncio.get_running_loop().create_task(job(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def wait_idle(self) -> None:
        """Wait until no task runs (tests, and a graceful stop)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def aclose(self) -> None:
        """Cancel the running tasks and wait for them."""
        for task in list(self._tasks):
            task.cancel()
        while self._tasks:
            await asyncio.wait(set(self._tasks))


class CertificateCache:
    """
    SNS signing certificates' public keys by URL, least recently used out past ``max_size``.

    Args:
        fetch: Gets a URL's PEM (``SnsHttp.fetch_certificate``).
        max_size: Certificates kept (SNS rotates them rarely; one per region in use).
        retry_after: Seconds before a URL whose fetch failed is fetched again.
        jobs: Where fetches run (one per URL at a time).
        clock: Monotonic seconds.
    """

    def __init__(
        self,
        fetch: Callable[[str], Awaitable[bytes]],
        *,
        max_size: int = 32,
        retry_after: float = 30.0,
        jobs: BackgroundJobs | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._max_size = max_size
        self._retry_after = retry_after
        self._jobs = jobs or BackgroundJobs()
        self._clock = clock
        self._keys: OrderedDict[str, RSAPublicKey] = OrderedDict()
        self._fetching: set[str] = set()
        self._failed: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, url: str) -> RSAPublicKey | None:
        """The cached key of ``url``, or None."""
        key = self._keys.get(url)
        if key is not None:
            self._keys.move_to_end(url)
        return key

    def put(self, url: str, pem: bytes) -> None:
        """
        Cache the RSA key of the certificate ``pem`` under ``url``.

        Raises:
            ValueError: not a PEM certificate, not RSA, or not valid now.
        """
        cert = x509.load_pem_x509_certificate(pem)
        now = datetime.now(UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise ValueError("the certificate is not valid now")
        key = cert.public_key()
        if not isinstance(key, RSAPublicKey):
            raise ValueError("the certificate's key is not RSA")
        self._keys[url] = key
        self._keys.move_to_end(url)
        while len(self._keys) > self._max_size:
            self._keys.popitem(last=False)

    def request(self, url: str) -> None:
        """Start a background fetch of ``url`` unless one runs or one failed recently."""
        if url in self._keys or url in self._fetching:
            return
        failed = self._failed.get(url)
        if failed is not None and self._clock() - failed < self._retry_after:
            return
        if self._jobs.start(lambda: self._load(url), name="damsync-sns-certificate"):
            self._fetching.add(url)

    async def _load(self, url: str) -> None:
        host = urlsplit(url).hostname
        try:
            self.put(url, await self._fetch(url))
        except Exception as exc:  # a background task: every failure is logged, none escapes
            self._failed[url] = self._clock()
            while len(self._failed) > self._max_size:
                self._failed.popitem(last=False)
            log.warning("webhook.sns_certificate_failed", host=host, kind=type(exc).__name__)
        else:
            self._failed.pop(url, None)
            log.info("webhook.sns_certificate_cached", host=host)
        finally:
            self._fetching.discard(url)

    async def wait_idle(self) -> None:
        """Wait for the running fetches."""
        await self._jobs.wait_idle()

    async def aclose(self) -> None:
        """Cancel the running fetches."""
        await self._jobs.aclose()


__all__ = [
    "FETCH_TIMEOUT",
    "MAX_BACKGROUND",
    "MAX_CERT_BYTES",
    "BackgroundJobs",
    "CertificateCache",
    "SnsHttp",
    "SnsHttpClient",
    "allowed_url",
]
