"""
Reading a REST DAM by id: the current state of given ids, and every live id.

:func:`fetch_ids` asks the DAM for chosen assets in the way it allows (an ids parameter on the
changes endpoint, one search per id, or one item endpoint per id); :func:`endpoint_ids` walks a
dedicated ids endpoint. Answers anchor the DAM's clock like listing answers do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import httpx

from daemon.core.errors import SourceAssetError, SourceAuthError, SourceProtocolError
from daemon.core.json_limits import JsonTooDeepError
from daemon.core.records import DamAsset, SourcePage
from daemon.sources.fields import dig_optional
from daemon.sources.rest_calls import RestCalls, fill_path, quote, render
from daemon.upstream.policy import RequestSpec
from daemon.upstream.session import read_json


async def fetch_ids(calls: RestCalls, ids: Sequence[str]) -> SourcePage:
    """
    The current state of ``ids`` (deleted ones included when the DAM lists them).

    Uses ``ids_param`` on the changes endpoint, else ``ids_body_template`` (one search per
    id), else ``item_path_template`` per id; an id the DAM does not return is a per-asset
    error (field ``id``).
    """
    s = calls.settings
    found: dict[str, DamAsset] = {}
    errors: list[SourceAssetError] = []
    wanted = list(dict.fromkeys(ids))
    if s.ids_param is not None:
        size = s.paging.page_size
        for start in range(0, len(wanted), size):
            chunk = wanted[start : start + size]
            params = {**s.params, s.ids_param: ",".join(chunk), **calls.query_auth}
            params[s.paging.limit_param] = str(len(chunk))
            spec = RequestSpec("GET", s.changes_path, s.changes_path, params=params)
            await _collect(calls, spec, set(chunk), found, errors)
    elif s.ids_body_template is not None:
        for asset_id in wanted:
            spec = RequestSpec(
                "POST",
                s.changes_path,
                s.changes_path,
                params={**s.params, **calls.query_auth} or None,
                json=render(s.ids_body_template, {"{id}": quote(asset_id)}),
            )
            await _collect(calls, spec, {asset_id}, found, errors)
    elif s.item_path_template is not None:
        for asset_id in wanted:
            one = await _fetch_one(calls, asset_id)
            if isinstance(one, SourceAssetError):
                errors.append(one)
            elif one is not None:
                found[one.id] = one
    else:
        raise SourceProtocolError(
            "this source cannot fetch by id: configure ids_param, ids_body_template "
            "or item_path_template",
            endpoint=s.changes_path,
        )
    dam_now = calls.clock.now()
    if dam_now is not None:
        # A retry must not write what the listing refuses (changes()).
        horizon = dam_now + timedelta(seconds=s.future_tolerance)
        for asset_id, asset in list(found.items()):
            if asset.updated_at >= horizon:
                del found[asset_id]
                errors.append(calls.future(asset, dam_now))
    reported = {e.asset_id for e in errors}
    for asset_id in wanted:
        if asset_id not in found and asset_id not in reported:
            errors.append(
                SourceAssetError(
                    asset_id=asset_id,
                    field="id",
                    path=s.item_path_template or s.changes_path,
                    reason="not found on the DAM",
                    source=calls.name,
                )
            )
    assets = sorted(found.values(), key=lambda a: a.cursor)
    return SourcePage(assets=assets, errors=errors)


async def _collect(
    calls: RestCalls,
    spec: RequestSpec,
    wanted: set[str],
    found: dict[str, DamAsset],
    errors: list[SourceAssetError],
) -> None:
    """Read one answer of a fetch, keeping the wanted assets and every unreadable record."""
    body, response = await calls.get_json(spec)
    calls.clock.remember(body, response, spec)
    for raw in calls.items(body, spec):
        item = calls.parse(raw)
        if isinstance(item, SourceAssetError):
            errors.append(item)
        elif item.id in wanted:
            found[item.id] = item


async def _fetch_one(calls: RestCalls, asset_id: str) -> DamAsset | SourceAssetError | None:
    """One asset from the item endpoint; ``None`` when the DAM says it is gone (404, 410)."""
    template = calls.settings.item_path_template
    assert template is not None
    spec = RequestSpec(
        "GET",
        fill_path(template, asset_id),
        template,
        params=calls.query_auth or None,
    )

    def handle(response: httpx.Response) -> Any:
        if response.status_code in (404, 410):
            return None
        if response.status_code in (401, 403):
            raise SourceAuthError(
                "access refused", endpoint=template, status_code=response.status_code
            )
        if response.status_code >= 300:
            raise calls.upstream.protocol_error(spec, response, "unexpected answer")
        try:
            body = read_json(calls.upstream, spec, response)
        except SourceProtocolError as exc:
            if not isinstance(exc.__cause__, JsonTooDeepError):
                raise
            # The record itself is unreadable, not the DAM: this asset fails alone.
            return SourceAssetError(
                asset_id=asset_id,
                field="metadata",
                path=template,
                reason=str(exc.__cause__),
                source=calls.name,
            )
        calls.clock.remember(body, response, spec)
        return body

    body = await calls.upstream.request(spec, handle)
    if body is None or isinstance(body, SourceAssetError):
        return body
    return calls.parse(body)


async def endpoint_ids(calls: RestCalls, ids_path: str) -> AsyncIterator[Sequence[str]]:
    """Every live id, page by page, from the ids endpoint at ``ids_path``."""
    s = calls.settings
    cursor: str | None = None
    guard = calls.page_guard(ids_path)
    while True:
        params = {**calls.query_auth}
        if cursor is not None:
            params[s.paging.param if s.paging.style == "cursor" else "cursor"] = cursor
        spec = RequestSpec("GET", ids_path, ids_path, params=params or None)
        guard.request()
        body, _ = await calls.get_json(spec)
        ids = dig_optional(body, s.ids_items_path)
        if not isinstance(ids, list):
            raise SourceProtocolError(f"no id list at {s.ids_items_path!r}", endpoint=ids_path)
        if ids:
            yield [str(i) for i in ids]
        nxt = dig_optional(body, s.ids_cursor_path)
        if not nxt or not ids:
            return
        cursor = str(nxt)
        guard.token(cursor)


__all__ = ["endpoint_ids", "fetch_ids"]
