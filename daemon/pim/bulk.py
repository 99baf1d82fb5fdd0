"""
Bulk writes: asset upserts (JSON array) and product / product-model upserts (NDJSON).

Any number of items is split into requests of at most 100 (the API maximum), sent concurrently
within the upstream's limiter, and answered with one typed result per input item *in input
order*. An item the client can already see is unsendable (no code, a line over 1,000,000
characters) is ``rejected`` locally and the rest goes on. A request that fails as a whole
(after the upstream's retries) marks each of its items ``failed`` with the error attached, so
no item is ever silently lost and the caller can tell transient from permanent failures.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import partial
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

import httpx

from daemon.core.errors import FieldError, PimError
from daemon.core.json_limits import dump_bytes
from daemon.core.records import PimAsset
from daemon.pim.models import AssetUpsertResult, LineKey, LineResult, Outcome
from daemon.pim.responses import error_for, field_errors, parse_json, protocol_error
from daemon.pim.urls import ASSETS, path
from daemon.upstream.policy import RequestSpec
from daemon.upstream.session import Upstream

MAX_ITEMS = 100
MAX_LINE_CHARS = 1_000_000
NDJSON = "application/vnd.akeneo.collection+json"
#: The header of a JSON body (shared, never mutated: the upstream copies it per attempt).
JSON_HEADERS: Mapping[str, str] = MappingProxyType({"Content-Type": "application/json"})

ASSETS_ENDPOINT = ASSETS
PRODUCT_ENDPOINTS: Mapping[LineKey, str] = {
    "identifier": "/api/rest/v1/products",
    "uuid": "/api/rest/v1/products-uuid",
    "code": "/api/rest/v1/product-models",
}


_OUTCOMES: dict[int, Outcome] = {201: "created", 204: "updated"}


def _outcome(status: int) -> Outcome:
    return _OUTCOMES.get(status, "rejected")


def _chunks(items: Sequence[Any], size: int = MAX_ITEMS) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class _Placed(Protocol):
    """A per-item result: it knows the item's position in the caller's input."""

    @property
    def index(self) -> int: ...


R = TypeVar("R", bound=_Placed)
S = TypeVar("S")


async def _sent_in_order(
    results: list[R | None],
    sendable: Sequence[S],
    send: Callable[[Sequence[S]], Awaitable[list[R]]],
    failed: Callable[[Sequence[S], PimError], list[R]],
) -> list[R]:
    """
    Send ``sendable`` by requests of at most 100 items, concurrently, and return ``results``
    (``None`` where an item was to be sent) filled with each item's result at its index.

    ``send`` makes one request; when it fails as a whole (after the upstream's retries),
    ``failed`` gives each of its items its ``failed`` result: no item is lost.
    """

    async def one(chunk: Sequence[S]) -> list[R]:
        try:
            return await send(chunk)
        except PimError as exc:
            return failed(chunk, exc)

    batches = await asyncio.gather(*(one(chunk) for chunk in _chunks(sendable)))
    for batch in batches:
        for result in batch:
            results[result.index] = result
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


# --- assets ---------------------------------------------------------------------------------


def _asset_body(family: str, item: PimAsset | Mapping[str, Any]) -> dict[str, Any] | FieldError:
    """The JSON body of one asset, or why it cannot be sent."""
    if isinstance(item, PimAsset):
        if item.family != family:
            return FieldError(
                property="family",
                message=f"asset belongs to family {item.family!r}, not {family!r}",
            )
        return item.to_json()
    if not isinstance(item, Mapping):
        return FieldError(
            property="", message=f"expected an asset object, got {type(item).__name__}"
        )
    code = item.get("code")
    if not isinstance(code, str) or not code:
        return FieldError(property="code", message="missing or not a string")
    return dict(item)


async def upsert_assets(
    upstream: Upstream, family: str, assets: Iterable[PimAsset | Mapping[str, Any]]
) -> list[AssetUpsertResult]:
    """
    Upsert any number of assets of ``family``, at most 100 per request.

    Args:
        upstream: The PIM upstream.
        family: The asset family code.
        assets: Records from ``mapping/`` or raw JSON objects (each with a string ``code``).

    Returns:
        One result per input item, in input order.
    """
    results: list[AssetUpsertResult | None] = []
    sendable: list[tuple[int, str, dict[str, Any]]] = []
    for index, item in enumerate(assets):
        body = _asset_body(family, item)
        if isinstance(body, FieldError):
            code = getattr(item, "code", None) if isinstance(item, PimAsset) else None
            if code is None and isinstance(item, Mapping) and isinstance(item.get("code"), str):
                code = item["code"]
            results.append(
                AssetUpsertResult(
                    index=index,
                    code=code,
                    outcome="rejected",
                    message=f"{body.property or 'asset'}: {body.message}; not sent",
                    errors=(body,),
                )
            )
            continue
        results.append(None)
        sendable.append((index, body["code"], body))
    return await _sent_in_order(
        results, sendable, partial(_send_assets, upstream, family), _failed_assets
    )


async def _send_assets(
    upstream: Upstream, family: str, chunk: Sequence[tuple[int, str, dict[str, Any]]]
) -> list[AssetUpsertResult]:
    # Encoded once, here: every attempt (a retry after a 503) sends these same bytes.
    spec = RequestSpec(
        method="PATCH",
        url=path(ASSETS_ENDPOINT, family=family),
        endpoint=ASSETS_ENDPOINT,
        headers=JSON_HEADERS,
        body=dump_bytes([body for _, _, body in chunk]),
    )
    codes = [code for _, code, _ in chunk]

    def handle(response: httpx.Response) -> list[AssetUpsertResult]:
        return _read_asset_answer(spec, response, chunk, codes)

    return await upstream.request(spec, handle)


def _failed_assets(
    chunk: Sequence[tuple[int, str, dict[str, Any]]], exc: PimError
) -> list[AssetUpsertResult]:
    return [
        AssetUpsertResult(
            index=index,
            code=code,
            outcome="failed",
            status_code=exc.status_code,
            message=str(exc),
            error=exc,
        )
        for index, code, _ in chunk
    ]


def _read_asset_answer(
    spec: RequestSpec,
    response: httpx.Response,
    chunk: Sequence[tuple[int, str, dict[str, Any]]],
    codes: list[str],
) -> list[AssetUpsertResult]:
    if response.status_code != 200:
        raise error_for(spec, response)
    answer = parse_json(spec, response)
    if not isinstance(answer, list):
        raise protocol_error(spec, response, f"expected a JSON array, got {type(answer).__name__}")
    if len(answer) != len(chunk):
        raise protocol_error(
            spec, response, f"sent {len(chunk)} assets, the answer has {len(answer)} items"
        )
    results = []
    for (index, code, _), item in zip(chunk, answer, strict=True):
        status = item.get("status_code") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(status, int) or isinstance(status, bool):
            raise protocol_error(spec, response, f"answer item for asset {code!r} is unreadable")
        if item.get("code") != code:
            raise protocol_error(
                spec,
                response,
                f"answer items out of order: expected {code!r}, got {item.get('code')!r}",
            )
        results.append(
            AssetUpsertResult(
                index=index,
                code=code,
                outcome=_outcome(status),
                status_code=status,
                message=str(item.get("message") or ""),
                errors=field_errors(item.get("errors")),
            )
        )
    assert codes == [r.code for r in results]
    return results


# --- products and product models (NDJSON) --------------------------------------------------


def _line(index: int, key: LineKey, item: Mapping[str, Any]) -> tuple[str | None, str | LineResult]:
    """Encode one line, or explain locally why it cannot be sent."""
    value = item.get(key)
    if not isinstance(value, str) or not value:
        return None, LineResult(
            index=index,
            key=key,
            value=None,
            line=None,
            outcome="rejected",
            message=f"{key} is missing or not a string: not sent",
            errors=(FieldError(property=key, message="missing or not a string"),),
        )
    body = {k: v for k, v in item.items() if k != "_links"}
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    if len(text) > MAX_LINE_CHARS:
        return value, LineResult(
            index=index,
            key=key,
            value=value,
            line=None,
            outcome="rejected",
            status_code=413,
            message=f"line of {len(text)} characters is over the 1,000,000 limit: not sent",
        )
    return value, text


async def upsert_lines(
    upstream: Upstream, key: LineKey, items: Iterable[Mapping[str, Any]]
) -> list[LineResult]:
    """
    Bulk-PATCH products (``identifier``/``uuid``) or product models (``code``) as NDJSON.

    Args:
        upstream: The PIM upstream.
        key: Which collection: ``identifier`` -> products, ``uuid`` -> products-uuid,
            ``code`` -> product-models.
        items: Product JSON objects; ``_links`` is stripped.

    Returns:
        One result per input item, in input order.
    """
    results: list[LineResult | None] = []
    sendable: list[tuple[int, str, str]] = []
    for index, item in enumerate(items):
        value, encoded = _line(index, key, item)
        if isinstance(encoded, LineResult):
            results.append(encoded)
            continue
        assert value is not None
        results.append(None)
        sendable.append((index, value, encoded))
    return await _sent_in_order(
        results, sendable, partial(_send_lines, upstream, key), partial(_failed_lines, key)
    )


async def _send_lines(
    upstream: Upstream, key: LineKey, chunk: Sequence[tuple[int, str, str]]
) -> list[LineResult]:
    endpoint = PRODUCT_ENDPOINTS[key]
    payload = "\n".join(text for _, _, text in chunk).encode("utf-8")  # no trailing newline
    spec = RequestSpec(
        method="PATCH",
        url=endpoint,
        endpoint=endpoint,
        headers={"Content-Type": NDJSON},
        content=lambda: payload,
    )

    def handle(response: httpx.Response) -> list[LineResult]:
        return _read_lines(spec, response, key, chunk)

    return await upstream.request(spec, handle)


def _failed_lines(
    key: LineKey, chunk: Sequence[tuple[int, str, str]], exc: PimError
) -> list[LineResult]:
    return [
        LineResult(
            index=index,
            key=key,
            value=value,
            line=n,
            outcome="failed",
            status_code=exc.status_code,
            message=str(exc),
            error=exc,
        )
        for n, (index, value, _) in enumerate(chunk, start=1)
    ]


def _read_lines(
    spec: RequestSpec, response: httpx.Response, key: LineKey, chunk: Sequence[tuple[int, str, str]]
) -> list[LineResult]:
    if response.status_code != 200:
        raise error_for(spec, response)
    if "json" not in response.headers.get("content-type", "").lower():
        raise protocol_error(spec, response, "expected an NDJSON answer")
    try:
        text = response.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise protocol_error(spec, response, "answer is not UTF-8") from exc
    answers: dict[int, dict[str, Any]] = {}
    for raw in text.split("\n"):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError as exc:
            raise protocol_error(spec, response, f"unreadable NDJSON line ({exc})") from exc
        line = item.get("line") if isinstance(item, dict) else None
        status = item.get("status_code") if isinstance(item, dict) else None
        if not isinstance(line, int) or not isinstance(status, int) or line in answers:
            raise protocol_error(spec, response, "NDJSON answer line without line/status_code")
        answers[line] = item
    if sorted(answers) != list(range(1, len(chunk) + 1)):
        raise protocol_error(
            spec, response, f"sent {len(chunk)} lines, the answer covers {len(answers)}"
        )
    results = []
    for n, (index, value, _) in enumerate(chunk, start=1):
        item = answers[n]
        # Lines that were not valid JSON on the server's side carry no key; others must match.
        if key in item and item[key] != value:
            raise protocol_error(
                spec, response, f"line {n}: expected {key} {value!r}, got {item[key]!r}"
            )
        status = item["status_code"]
        results.append(
            LineResult(
                index=index,
                key=key,
                value=value,
                line=n,
                outcome=_outcome(status),
                status_code=status,
                message=str(item.get("message") or ""),
                errors=field_errors(item.get("errors")),
            )
        )
    return results


__all__ = [
    "ASSETS_ENDPOINT",
    "MAX_ITEMS",
    "NDJSON",
    "PRODUCT_ENDPOINTS",
    "upsert_assets",
    "upsert_lines",
]
