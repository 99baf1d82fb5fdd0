"""
Helper endpoints of the event feed (no auth, no faults, like every ``/_sim/`` route).

- ``GET /_sim/events/stats``: the feed's counters (:class:`EventStats`); 404 without a feed.
- ``GET /_sim/sns/cert.pem``: the certificate SNS envelopes name in ``SigningCertURL``.
- ``GET /_sim/sns/confirm?Token=...``: the ``SubscribeURL`` of a ``SubscriptionConfirmation``.
- ``GET /_sim/sns/unsubscribe``: the ``UnsubscribeURL`` (answers, changes nothing).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from daemon.sim.dam.event_feed import EventFeed
from daemon.sim.dam.plumbing import json_body

_CONFIRMED = (
    '<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
    "<ConfirmSubscriptionResult><SubscriptionArn>{arn}:damsync</SubscriptionArn>"
    "</ConfirmSubscriptionResult></ConfirmSubscriptionResponse>"
)


def event_routes(feed: EventFeed | None) -> list[Route]:
    """
    Args:
        feed: the app's event feed, or ``None`` when it sends no events.

    Returns:
        The routes above.
    """

    def missing() -> Response:
        return JSONResponse({"error": "no event feed configured"}, status_code=404)

    async def stats(_request: Request) -> Response:
        if feed is None:
            return missing()
        return json_body({**feed.stats.as_dict(), "pending": feed.pending})

    async def cert(_request: Request) -> Response:
        if feed is None or feed.signer is None:
            return missing()
        return Response(feed.signer.cert_pem, media_type="application/x-pem-file")

    async def confirm(request: Request) -> Response:
        if feed is None or feed.signer is None:
            return missing()
        if not feed.confirm_subscription(request.query_params.get("Token", "")):
            return JSONResponse({"error": "unknown token"}, status_code=400)
        body = _CONFIRMED.format(arn=feed.options.topic_arn)
        return Response(body, media_type="text/xml")

    async def unsubscribe(_request: Request) -> Response:
        if feed is None or feed.signer is None:
            return missing()
        return Response("<UnsubscribeResponse/>", media_type="text/xml")

    return [
        Route("/_sim/events/stats", stats, methods=["GET"]),
        Route("/_sim/sns/cert.pem", cert, methods=["GET"]),
        Route("/_sim/sns/confirm", confirm, methods=["GET"]),
        Route("/_sim/sns/unsubscribe", unsubscribe, methods=["GET"]),
    ]


__all__ = ["event_routes"]
