"""
Every Akeneo answer is judged here: status mapping to ``PimError`` classes and defensive reads.

One ``handle_*`` function per kind of answer (JSON document, upsert 201/204, bulk array, NDJSON,
media upload) is passed to :meth:`daemon.upstream.session.Upstream.request`, which hands it every
non-transient response. Transient statuses (408/429/5xx) and 401 never reach these functions:
the upstream retries or refreshes them first.

Status mapping (the only place it is written down):

- 400, 422, 409, 413 and any other 4xx -> :class:`PimRejected` with Akeneo's ``message`` and the
  ``errors`` array as :class:`FieldError` (product errors keep ``attribute``/``locale``/``scope``);
- 403 -> :class:`PimRejected` whose message starts ``permission denied``;
- 404 -> :class:`PimNotFound`;
- 405, 406, 415 -> :class:`PimProtocolError` (client and server disagree on the API itself);
- an unexpected 2xx/3xx, a non-JSON body, a wrong content type, truncated JSON, JSON of the wrong
  shape, a missing header -> :class:`PimProtocolError`.

Every error names the endpoint template, method and status. Nothing here raises a bare
``KeyError``/``TypeError``: shape checks go through :func:`expect`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, NoReturn, TypeVar

import httpx

from daemon.core.errors import FieldError, PimError, PimNotFound, PimProtocolError, PimRejected
from daemon.core.json_limits import loads_bounded
from daemon.upstream.policy import RequestSpec

T = TypeVar("T")

#: Statuses that mean the client and the server disagree about the API itself.
PROTOCOL_STATUSES = frozenset({405, 406, 415})


def excerpt(text: str, limit: int = 300) -> str:
    """A one-line, bounded excerpt of a body for error fields."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def protocol_error(
    spec: RequestSpec, response: httpx.Response, message: str, *, keep_body: bool = True
) -> PimProtocolError:
    """
    An answer that breaks the API contract.

    Args:
        spec: The request (its endpoint template and method name the error).
        response: The answer.
        message: What is wrong with it.
        keep_body: ``False`` for answers that may carry secrets (the token endpoint).

    Returns:
        The error, to raise.
    """
    ctype = response.headers.get("content-type", "<none>")
    body = excerpt(response.text) if keep_body and response.is_stream_consumed else ""
    return PimProtocolError(
        f"{message} (content-type {ctype})",
        endpoint=spec.endpoint,
        method=spec.method,
        status_code=response.status_code,
        body=body,
    )


def expect(value: Any, kind: type[T], spec: RequestSpec, response: httpx.Response, what: str) -> T:
    """
    Return ``value`` if it is a ``kind``, else raise a protocol error naming ``what``.

    Returns:
        ``value``, typed.
    """
    if isinstance(value, bool) and kind is not bool:
        raise protocol_error(spec, response, f"{what}: expected {kind.__name__}, got bool")
    if not isinstance(value, kind):
        got = type(value).__name__
        raise protocol_error(spec, response, f"{what}: expected {kind.__name__}, got {got}")
    return value


def parse_json(spec: RequestSpec, response: httpx.Response, *, keep_body: bool = True) -> Any:
    """
    Parse a JSON body (``application/json`` or Akeneo's ``+json`` types).

    Returns:
        The decoded document.
    """
    ctype = response.headers.get("content-type", "").lower()
    if "json" not in ctype:
        raise protocol_error(spec, response, "expected a JSON answer", keep_body=keep_body)
    try:
        # A too-deep document is a ValueError here (JsonTooDeepError), not a RecursionError.
        return loads_bounded(response.content)
    except ValueError as exc:
        raise protocol_error(
            spec, response, f"unreadable JSON ({exc})", keep_body=keep_body
        ) from exc


def field_errors(raw: Any) -> tuple[FieldError, ...]:
    """
    Read Akeneo's ``errors`` array; unreadable entries are kept as text, never dropped.

    Returns:
        One :class:`FieldError` per entry (products' ``scope`` goes to ``channel``).
    """
    if not isinstance(raw, list):
        return ()
    found = []
    for item in raw:
        if not isinstance(item, dict):
            found.append(FieldError(property="", message=str(item)))
            continue

        def text(key: str, entry: dict[str, Any] = item) -> str | None:
            value = entry.get(key)
            return None if value is None else str(value)

        found.append(
            FieldError(
                property=text("property") or "",
                message=text("message") or "",
                attribute=text("attribute"),
                locale=text("locale"),
                channel=text("scope") or text("channel"),
            )
        )
    return tuple(found)


def error_for(spec: RequestSpec, response: httpx.Response) -> PimError:
    """
    The error for a non-success answer; the only status-to-class mapping of the client.

    Returns:
        The error, to raise or to attach to per-item results.
    """
    status = response.status_code
    message = ""
    errors: tuple[FieldError, ...] = ()
    readable = False
    if "json" in response.headers.get("content-type", "").lower():
        try:
            document = loads_bounded(response.content)
        except ValueError:
            document = None
        if isinstance(document, dict):
            readable = True
            message = str(document.get("message") or "")
            errors = field_errors(document.get("errors"))
    if not readable:
        ctype = response.headers.get("content-type", "<none>")
        message = f"non-JSON error answer (content-type {ctype})"
    common: dict[str, Any] = {
        "endpoint": spec.endpoint,
        "method": spec.method,
        "status_code": status,
        "body": excerpt(response.text),
    }
    if status == 404:
        return PimNotFound(message or "not found", **common)
    if status == 403:
        return PimRejected(f"permission denied: {message or 'access forbidden'}", **common)
    if status in PROTOCOL_STATUSES:
        return PimProtocolError(message or f"HTTP {status}", **common)
    if 400 <= status < 500:
        return PimRejected(message or f"HTTP {status}", errors=errors, **common)
    return protocol_error(spec, response, f"unexpected HTTP {status}")


def fail(spec: RequestSpec, response: httpx.Response) -> NoReturn:
    """Raise :func:`error_for` of this answer."""
    raise error_for(spec, response)


def require_status(spec: RequestSpec, response: httpx.Response, ok: Collection[int]) -> None:
    """Raise the mapped error unless the status is one of ``ok``."""
    if response.status_code not in ok:
        fail(spec, response)


def handle_json(spec: RequestSpec) -> Callable[[httpx.Response], Any]:
    """
    A handler for ``GET`` documents: 200 with a JSON body.

    Returns:
        A function for :meth:`Upstream.request` returning the decoded document.
    """

    def handle(response: httpx.Response) -> Any:
        require_status(spec, response, (200,))
        return parse_json(spec, response)

    return handle


def handle_upsert(spec: RequestSpec) -> Callable[[httpx.Response], int]:
    """
    A handler for single-resource ``PATCH`` upserts: 201 created or 204 updated.

    Returns:
        A function returning the status code (201 or 204).
    """

    def handle(response: httpx.Response) -> int:
        require_status(spec, response, (201, 204))
        return response.status_code

    return handle


def handle_delete(spec: RequestSpec) -> Callable[[httpx.Response], None]:
    """
    A handler for ``DELETE``: 204 (404 becomes :class:`PimNotFound`).

    Returns:
        A function returning ``None``.
    """

    def handle(response: httpx.Response) -> None:
        require_status(spec, response, (204,))

    return handle


def handle_media_upload(spec: RequestSpec) -> Callable[[httpx.Response], str]:
    """
    A handler for ``POST /asset-media-files``: 201 with an ``Asset-media-file-code`` header.

    Returns:
        A function returning the media file code.
    """

    def handle(response: httpx.Response) -> str:
        require_status(spec, response, (201,))
        # httpx headers are case-insensitive: Asset-media-file-code or Asset-Media-File-Code.
        code = str(response.headers.get("asset-media-file-code", "")).strip()
        if not code:
            raise protocol_error(spec, response, "201 without an Asset-media-file-code header")
        return code

    return handle


__all__ = [
    "error_for",
    "excerpt",
    "expect",
    "fail",
    "field_errors",
    "handle_delete",
    "handle_json",
    "handle_media_upload",
    "handle_upsert",
    "parse_json",
    "protocol_error",
    "require_status",
]
