"""
The webhook server: ``POST /webhooks/{source}``, verified, read, persisted, then acknowledged.

One request, in order:

1. the source must be configured (404 ``unknown_source``) and the method POST (405 ``method``);
2. the body is read up to ``[events] max_body_bytes`` while it streams: a larger
   ``Content-Length`` is refused at once, a chunked body when it passes the cap (413
   ``too_large``);
3. the source's verifier proves the DAM sent it (401 ``signature``, ``timestamp``,
   ``certificate``, ``topic``; SNS with a certificate not cached yet: 503 + ``Retry-After``);
4. the verified body is read as events (400 ``unparsable``; an ignored kind: 200, no event);
5. ``await persist(events)`` stores them in the inbox, and only then the answer is 200
   (persist-then-ack); a :class:`~daemon.core.errors.TransientError` (the database is down) is
   503 + ``Retry-After`` ``store_unavailable``.

Nothing on this path calls out: SNS certificates and confirmations are fetched in the
background (:mod:`daemon.intake.sns`). Every refusal is counted through the
:class:`~daemon.intake.ports.IntakeObserver` and logged as one ``webhook.rejected`` line
(source, reason, remote address; never a secret or the body).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import structlog
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from daemon.core.errors import TransientError
from daemon.core.events import DamEvent
from daemon.intake.extract import EventReader, utc_now
from daemon.intake.ports import EventParseError, IntakeObserver, Persist
from daemon.intake.signatures import (
    NOT_PARSED,
    CertificatePendingError,
    HmacVerifier,
    StandardVerifier,
    TokenVerifier,
    Verdict,
    VerificationError,
    Verifier,
)
from daemon.intake.sns import BackgroundJobs, CertificateCache, SnsHttp, SnsHttpClient
from daemon.intake.sns_envelope import SnsVerifier
from daemon.settings.event_intake import EventFields, EventSettings, WebhookSettings

log = structlog.get_logger(__name__)

#: Seconds a sender is asked to wait when the inbox cannot be written.
STORE_RETRY_AFTER = 5
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: Longest source name quoted in a log line (it comes from the request path).
_NAME_CUT = 64


class _TooLargeError(Exception):
    """The body passed the cap."""


async def read_capped(request: Request, limit: int) -> bytes:
    """
    The request body, ``limit`` bytes at most, counted while it streams.

    Raises:
        _TooLargeError: ``Content-Length`` or the bytes received pass ``limit``.
        ClientDisconnect: the client went away.
    """
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _TooLargeError
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _TooLargeError
    return bytes(body)


class WebhookIntake:
    """
    The verifiers and readers of the webhook sources, and the background work of SNS.

    ``app.state.webhooks`` of the app from :func:`build_webhook_app`; the service calls
    :meth:`aclose` when it stops the server.
    """

    def __init__(
        self,
        sources: Mapping[str, tuple[WebhookSettings, EventFields]],
        sns_http: SnsHttp | None,
    ) -> None:
        self._sns_http = sns_http
        self._jobs = BackgroundJobs()
        self._own_http: SnsHttp | None = None
        self.certificates = CertificateCache(self._fetch, jobs=self._jobs)
        self.verifiers: dict[str, Verifier] = {}
        self.readers: dict[str, EventReader] = {}
        for name, (webhook, fields) in sources.items():
            self.verifiers[name] = self._verifier(webhook)
            self.readers[name] = EventReader(name, fields)

    def _verifier(self, settings: WebhookSettings) -> Verifier:
        if settings.style == "standard":
            return StandardVerifier(settings)
        if settings.style == "hmac":
            return HmacVerifier(settings)
        if settings.style == "token":
            return TokenVerifier(settings)
        if not settings.topic_arns:
            # Anyone can subscribe this URL to a topic of their own and have AWS sign for it.
            log.warning("webhook.sns_any_topic", hint="set topic_arns to the DAM's topic")
        return SnsVerifier(settings, self.certificates, self._http(), self._jobs)

    def _http(self) -> SnsHttp:
        if self._sns_http is None:
            # Created lazily, and only for SNS sources: other styles never call out.
            self._own_http = self._sns_http = SnsHttpClient()
        return self._sns_http

    async def _fetch(self, url: str) -> bytes:
        return await self._http().fetch_certificate(url)

    async def wait_idle(self) -> None:
        """Wait for the background fetches and confirmations (tests; a graceful stop)."""
        await self._jobs.wait_idle()

    async def aclose(self) -> None:
        """Cancel the background work and close the SNS client this intake opened."""
        await self._jobs.aclose()
        if self._own_http is not None:
            await self._own_http.aclose()


class _Endpoint:
    """``/webhooks/{source}``: one request from its path to its answer (module docstring)."""

    def __init__(
        self,
        intake: WebhookIntake,
        limit: int,
        persist: Persist,
        observer: IntakeObserver,
        clock: Callable[[], datetime],
    ) -> None:
        self._intake = intake
        self._limit = limit
        self._persist = persist
        self._observer = observer
        self._clock = clock

    def _refuse(
        self,
        request: Request,
        source: str,
        reason: str,
        status: int,
        *,
        detail: str | None = None,
        retry_after: int | None = None,
    ) -> Response:
        """Count a refusal, log it in one line, and answer it."""
        self._observer.event_rejected(source, "webhook", reason)
        remote = request.client.host if request.client is not None else None
        extra = {"detail": detail} if detail else {}
        log.warning(
            "webhook.rejected", source=source, reason=reason, status=status, remote=remote, **extra
        )
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        if status == 405:
            headers["allow"] = "POST"
        return JSONResponse({"error": reason}, status_code=status, headers=headers)

    async def receive(self, request: Request) -> Response:
        name = request.path_params["source"]
        verifier = self._intake.verifiers.get(name)
        reader = self._intake.readers.get(name)
        if verifier is None or reader is None:
            # Counted as "unknown": a label an attacker cannot pick; the name is logged cut short.
            return self._refuse(request, "unknown", "unknown_source", 404, detail=name[:_NAME_CUT])
        if request.method != "POST":
            return self._refuse(request, name, "method", 405)
        try:
            body = await read_capped(request, self._limit)
        except _TooLargeError:
            return self._refuse(request, name, "too_large", 413, detail=f"over {self._limit} bytes")
        except ClientDisconnect:
            return Response(status_code=400)
        now = self._clock()
        try:
            verdict = verifier.verify(request.headers, body, now.timestamp())
        except VerificationError as exc:
            return self._refuse(request, name, exc.reason, 401, detail=exc.detail)
        except CertificatePendingError as exc:
            return self._refuse(
                request, name, "certificate", 503, detail=str(exc), retry_after=exc.retry_after
            )
        if not verdict.deliver:
            return JSONResponse({"status": "ok", "events": 0})
        try:
            events = self._read(reader, verdict, body, now)
        except EventParseError as exc:
            return self._refuse(request, name, "unparsable", 400, detail=exc.reason)
        if events:
            try:
                added = await self._persist(events)
            except TransientError as exc:
                return self._refuse(
                    request,
                    name,
                    "store_unavailable",
                    503,
                    detail=type(exc).__name__,
                    retry_after=STORE_RETRY_AFTER,
                )
            if added.added:
                self._observer.events_received(name, "webhook", added.added)
            if added.duplicates:
                self._observer.events_deduplicated(name, "webhook", added.duplicates)
        return JSONResponse({"status": "ok", "events": len(events)})

    @staticmethod
    def _read(reader: EventReader, verdict: Verdict, body: bytes, now: datetime) -> list[DamEvent]:
        if verdict.document is NOT_PARSED:
            return reader.read(body, origin="webhook", received_at=now, id_hint=verdict.id_hint)
        return reader.events(
            verdict.document, raw=body, id_hint=verdict.id_hint, origin="webhook", received_at=now
        )


def build_webhook_app(
    sources: Mapping[str, tuple[WebhookSettings, EventFields]],
    settings: EventSettings,
    persist: Persist,
    observer: IntakeObserver,
    *,
    clock: Callable[[], datetime] = utc_now,
    sns_http: SnsHttp | None = None,
) -> Starlette:
    """
    The ASGI app serving ``POST /webhooks/{source}``.

    Args:
        sources: ``{source name: (its [sources.webhook], its [sources.events])}``.
        settings: ``[events]`` (``max_body_bytes``).
        persist: Stores events in the inbox; raises ``TransientError`` when it cannot.
        observer: Counts what was taken and refused.
        clock: Aware UTC now: the events' ``received_at`` and the timestamp windows.
        sns_http: SNS certificate fetches and confirmations (default: :class:`SnsHttpClient`,
            created only when an SNS source is configured).

    Returns:
        The app; ``app.state.webhooks`` is its :class:`WebhookIntake` (``aclose()`` on stop).

    Raises:
        ConfigError: a source's event paths cannot be read.
    """
    intake = WebhookIntake(sources, sns_http)
    endpoint = _Endpoint(intake, settings.max_body_bytes, persist, observer, clock)
    # Every method is routed here, so that a wrong one is counted and logged like any refusal.
    app = Starlette(routes=[Route("/webhooks/{source}", endpoint.receive, methods=_ALL_METHODS)])
    app.state.webhooks = intake
    return app


__all__ = ["STORE_RETRY_AFTER", "WebhookIntake", "build_webhook_app", "read_capped"]
