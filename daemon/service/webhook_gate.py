"""
The webhook server's front: one ASGI app for the process, forwarding to the webhook app of the
configuration in force.

The server listens on ``[events]`` host and port for the life of the process (a reload that
changes them takes effect after a restart); a reload installs the new configuration's app
(secrets rotated, sources added) without dropping the socket, and closes the old one's
background work. Before an app is installed, and after the last one is removed, requests get
503 with ``Retry-After``: the DAM retries, nothing is lost.
"""

from __future__ import annotations

import structlog
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = structlog.get_logger(__name__)

#: Seconds a DAM is asked to wait while no webhook app is installed.
RETRY_AFTER = 5


class WebhookGate:
    """The process's webhook ASGI app; :meth:`install` swaps the app behind it."""

    def __init__(self) -> None:
        self._app: ASGIApp | None = None

    @property
    def installed(self) -> bool:
        return self._app is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app
        if app is None:
            if scope["type"] != "http":
                return
            response = JSONResponse(
                {"error": "not ready"}, status_code=503, headers={"Retry-After": str(RETRY_AFTER)}
            )
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    async def install(self, app: ASGIApp | None) -> None:
        """Serve ``app`` from now on (``None``: answer 503); close the previous app's work."""
        old, self._app = self._app, app
        await _close(old)

    async def aclose(self) -> None:
        await self.install(None)


async def _close(app: ASGIApp | None) -> None:
    state = getattr(app, "state", None)
    intake = getattr(state, "webhooks", None) if state is not None else None
    if intake is not None:
        await intake.aclose()


__all__ = ["RETRY_AFTER", "WebhookGate"]
