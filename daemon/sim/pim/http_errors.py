"""
HTTP plumbing shared by the PIM simulator's routes: Akeneo-shaped error bodies and body checks.

Routes raise :class:`ApiError`; the app turns it into ``{"code": .., "message": .., "errors": ..}``.
Content-Type and JSON parsing follow the reference's exact messages.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

JSON_TYPE = "application/json"
NDJSON_TYPE = "application/vnd.akeneo.collection+json"
BAD_JSON = "Invalid json message received"
TOO_MANY = "Too many resources to process, 100 is the maximum allowed."
FAIR_USE = "You have exceeded the limit of API requests per second."
AUTH_REQUIRED = "Authentication is required"
API = "/api/rest/v1"


class ApiError(Exception):
    """An Akeneo error response: status, message and optional ``errors`` list."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """
        Render the error body.

        Returns:
            ``{"code", "message"[, "errors"]}``.
        """
        body: dict[str, Any] = {"code": self.status, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body

    def response(self) -> JSONResponse:
        """
        Render the error as a response.

        Returns:
            A JSON response with the status and headers.
        """
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """
    Build a plain Akeneo error response.

    Args:
        status: HTTP status.
        message: the ``message`` field.
        headers: extra headers.

    Returns:
        The JSON response.
    """
    return ApiError(status, message, headers=headers).response()


def media_type(request: Request) -> str | None:
    """
    The request's media type without parameters, lower-cased.

    Args:
        request: the request.

    Returns:
        e.g. ``application/json``, or None when the header is missing.
    """
    raw = request.headers.get("content-type")
    if raw is None:
        return None
    return raw.split(";", 1)[0].strip().lower()


def require_content_type(request: Request, expected: str) -> None:
    """
    Refuse a body whose Content-Type is missing or not ``expected`` (415).

    Args:
        request: the request.
        expected: the only accepted media type.
    """
    actual = media_type(request)
    if actual is None:
        raise ApiError(
            415, f"The 'Content-type' header is missing. '{expected}' has to specified as value."
        )
    if actual != expected:
        raw = request.headers.get("content-type", "")
        raise ApiError(
            415, f"'{raw}' in 'Content-type' header is not valid.  Only '{expected}' is allowed."
        )


def parse_json(raw: bytes) -> Any:
    """
    Parse a JSON body, or raise the documented 400.

    Args:
        raw: the body bytes.

    Returns:
        The decoded JSON value.
    """
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, BAD_JSON) from exc


async def json_body(request: Request) -> Any:
    """
    Check the Content-Type is JSON and parse the body.

    Args:
        request: the request.

    Returns:
        The decoded JSON value.
    """
    require_content_type(request, JSON_TYPE)
    return parse_json(await request.body())


async def json_object(request: Request, what: str) -> dict[str, Any]:
    """
    Parse a JSON body that must be an object (422 otherwise).

    Args:
        request: the request.
        what: the resource name for the format message, e.g. ``asset``.

    Returns:
        The decoded object.
    """
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(
            422,
            f"The {what} has an invalid format.",
            [
                {
                    "property": "",
                    "message": f"{json_kind(body)} value found, but an object is required",
                }
            ],
        )
    return body


def json_kind(value: Any) -> str:
    """
    Name a JSON value's type the way JSON-schema messages do.

    Args:
        value: a decoded JSON value.

    Returns:
        ``String``, ``Integer``, ``Number``, ``Boolean``, ``Array``, ``Object`` or ``NULL``.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Number"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    return "Object"


def base_url(request: Request) -> str:
    """
    The absolute base URL the client used (scheme, host, port).

    Args:
        request: the request.

    Returns:
        e.g. ``http://localhost:8081``.
    """
    return str(request.base_url).rstrip("/")


def upserted(created: bool, location: str) -> Response:
    """
    The empty 201/204 answer of an upsert, with ``Location``.

    Args:
        created: True for 201.
        location: absolute URL of the resource.

    Returns:
        The response.
    """
    return Response(status_code=201 if created else 204, headers={"Location": location})


def compact(value: Any) -> str:
    """
    Encode JSON compactly, as PHP's ``json_encode`` does.

    Args:
        value: a JSON-able value.

    Returns:
        The text.
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
