"""
The floor client's preparation (bench/floor.py), done before timing and not measured.

It reads the DAM once through damsync's own adapter and mapper, so every asset's JSON is exactly
what damsync would send; it creates the missing options, fetches a PIM token and builds every
bulk PATCH body (100 assets of one family, cut per family in listing order, as damsync's
batcher does) as bytes. In media mode each media value holds a marker that the upload's media
file code replaces; each binary gets its DAM path and its multipart envelope.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from daemon.core.records import BinaryRef
    from daemon.settings.connections import PimSettings
    from daemon.settings.root import SourceEntry

BATCH = 100
MARK = re.compile(rb'"@@floor-media-(\d+)@@"')
BOUNDARY = "floorboundary7f3a"


@dataclass(slots=True)
class Batch:
    """
    One bulk PATCH: its family, its assets, how many listed DAM items complete it, and its body
    in parts around the media slots (the uploads whose file codes go between them).
    """

    family: str
    assets: int
    ready_at: int
    parts: list[bytes]
    slots: list[int]


@dataclass(frozen=True, slots=True)
class Upload:
    """One binary: how many listed DAM items bring it, its DAM path, the multipart envelope."""

    ready_at: int
    dam_path: str
    head: bytes
    tail: bytes


@dataclass(slots=True)
class Prepared:
    """Everything built before timing."""

    pim_token: str
    dam_auth: str
    items: int  # DAM items listed, mapped or not
    assets: int  # mapped assets, to be written
    batches: list[Batch] = field(default_factory=list)  # in the order they complete
    uploads: list[Upload] = field(default_factory=list)  # in listing order


async def prepare(config: Path, mode: str) -> Prepared:
    """
    Read and map the DAM once with damsync's own code and build every request body.

    Args:
        config: The workload's daemon configuration (the same one damsync runs with).
        mode: ``link`` or ``media``.

    Returns:
        The pre-built batches, uploads and credentials.
    """
    from daemon.core.records import Window
    from daemon.engine.mapper_cache import MapperCache
    from daemon.engine.structure_cache import StructureCache
    from daemon.mapping import MappedAsset, MediaRequest, MissingOption, fill_media
    from daemon.pim import PimClient
    from daemon.settings.root import load_settings
    from daemon.sources import build_source

    settings = load_settings(config, {})
    entry = settings.sources[0]
    pim = PimClient.from_settings(settings.pim)
    source = build_source(entry.name, entry)
    pending: dict[str, list[dict[str, Any]]] = {}
    prep = Prepared(pim_token="", dam_auth=_dam_auth(entry), items=0, assets=0)
    options: set[MissingOption] = set()

    def cut(family: str) -> None:
        items = pending.pop(family)
        raw = json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode()
        pieces = MARK.split(raw)
        prep.batches.append(
            Batch(family, len(items), prep.items, pieces[0::2], [int(s) for s in pieces[1::2]])
        )

    try:
        mapper = await MapperCache(entry.mapping, StructureCache(pim, ttl=3600.0)).get()
        window = Window(None, datetime.now(UTC) + timedelta(days=1))
        async for page in source.changes(window):
            for asset in page.assets:
                prep.items += 1
                outcome = mapper.map_asset(asset)
                if not isinstance(outcome, MappedAsset):
                    continue
                options.update(outcome.missing_options)
                codes: dict[MediaRequest, str] = {}
                for media in outcome.media:
                    codes[media] = f"@@floor-media-{len(prep.uploads)}@@"
                    prep.uploads.append(_upload_job(prep.items, media.binary))
                family = outcome.asset.family
                pending.setdefault(family, []).append(fill_media(outcome, codes).to_json())
                prep.assets += 1
                if len(pending[family]) == BATCH:
                    cut(family)
        for family in list(pending):
            cut(family)
        for option in sorted(options, key=lambda o: (o.family, o.attribute, o.code)):
            await pim.upsert_attribute_option(option.family, option.attribute, option.code)
    finally:
        await source.aclose()
        await pim.aclose()
    if mode == "link" and prep.uploads:
        raise RuntimeError("link mode: the mapping asks for binaries")
    prep.pim_token = _pim_token(settings.pim)
    return prep


def _dam_auth(entry: SourceEntry) -> str:
    if entry.rest is None:
        raise RuntimeError("floor client: the source is not a REST DAM")
    auth = entry.rest.auth
    if auth.type == "none":
        return ""
    if auth.type != "bearer" or auth.token is None:
        raise RuntimeError(f"floor client: DAM auth {auth.type!r} is not supported")
    return f"Authorization: Bearer {auth.token.get_secret_value()}\r\n"


def _upload_job(ready_at: int, binary: BinaryRef) -> Upload:
    parts = urlsplit(binary.url or "")
    filename = binary.filename or "file"
    mime = binary.mime_type or "application/octet-stream"
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {mime}\r\n\r\n"
    )
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return Upload(ready_at, path, head.encode(), f"\r\n--{BOUNDARY}--\r\n".encode())


def _pim_token(pim: PimSettings) -> str:
    if pim.client_id is None or pim.secret is None or pim.password is None:
        raise RuntimeError("floor client: the PIM needs connection credentials")
    secret, password = pim.secret.get_secret_value(), pim.password.get_secret_value()
    answer = httpx.post(
        f"{str(pim.base_url).rstrip('/')}/api/oauth/v1/token",
        auth=(pim.client_id, secret),
        json={"grant_type": "password", "username": pim.username, "password": password},
        timeout=30.0,
    )
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token
