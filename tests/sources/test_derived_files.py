"""
Files named in an asset's metadata (``derived`` binary references, from a mapping's ``file``
source): a REST DAM fetches them at their own URL, never through the asset's download endpoint,
with its credentials only on its own origin; a hot folder opens them only under its root.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon.core.errors import SourceAssetError
from daemon.core.records import BinaryRef, DamAsset
from daemon.mapping.file_refs import file_reader
from daemon.mapping.rules import FileKeys
from daemon.sources import build_source, load_source_settings
from tests.sources.test_folder import put, read, source
from tests.sources.test_rest_origin import carries_credentials, table

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OWN = b"%PDF the asset's own binary"
MANUAL = b"%PDF the French manual"


class Dam:
    """A REST DAM with a per-asset download endpoint; every other path is a binary."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/download"):
            return httpx.Response(200, json={"u": "https://s3.test/own.pdf?sig=abc"})
        body = MANUAL if "manual" in request.url.path else OWN
        return httpx.Response(200, content=body, headers={"content-type": "application/pdf"})


def rest_source(dam: Dam, *, download: bool) -> Any:
    settings = table("https://dam.test")
    if download:
        settings["rest"]["download"] = {"path_template": "/media/{id}/download", "url_path": "u"}
    return build_source(
        "origin", load_source_settings(settings), transport=httpx.MockTransport(dam.handler)
    )


def derived(url: str, data: bytes = MANUAL) -> BinaryRef:
    """A file as the mapping reads it from the metadata (``file = ...``)."""
    raw = {"url": url, "sha256": hashlib.sha256(data).hexdigest()}
    return file_reader(FileKeys(checksum="sha256"))(raw)


def asset_with(binary: BinaryRef) -> DamAsset:
    own = BinaryRef(url="/files/a1", filename="a1.pdf", size=len(OWN))
    return dataclasses.replace(DamAsset(id="a1", updated_at=T0, binary=own), binary=binary)


async def body_of(src: Any, asset: DamAsset) -> bytes:
    async with src.open_binary(asset) as chunks:
        return b"".join([c async for c in chunks])


def test_files_read_from_metadata_are_derived():
    """The mapping marks what a ``file`` source gives; the asset's own binary is not."""
    assert derived("/manuals/fr.pdf").derived
    assert not BinaryRef(url="/files/a1").derived


@pytest.mark.parametrize("download", [True, False])
@pytest.mark.parametrize(
    ("url", "path", "credentials"),
    [
        ("/manuals/fr.pdf", "/manuals/fr.pdf", True),
        ("https://dam.test:443/manuals/fr.pdf", "/manuals/fr.pdf", True),
        ("https://cdn.test/manuals/fr.pdf", "/manuals/fr.pdf", False),
        ("http://dam.test/manuals/fr.pdf", "/manuals/fr.pdf", False),
    ],
)
async def test_a_rest_dam_fetches_a_derived_file_at_its_own_url(download, url, path, credentials):
    """
    Never through the download endpoint (it answers the asset's own binary); the credentials
    go with it only on the DAM's origin, as with any binary URL.
    """
    dam = Dam()
    src = rest_source(dam, download=download)
    try:
        assert MANUAL == await body_of(src, asset_with(derived(url)))
    finally:
        await src.aclose()
    (request,) = dam.requests
    assert (path, credentials) == (request.url.path, carries_credentials(request))
    assert httpx.URL("https://dam.test").join(url).host == request.url.host


async def test_the_asset_own_binary_still_goes_through_the_download_endpoint():
    """Not derived: the endpoint is asked, its presigned URL fetched without credentials."""
    dam = Dam()
    src = rest_source(dam, download=True)
    try:
        own = BinaryRef(url=None, filename="a1.pdf", size=len(OWN))
        assert OWN == await body_of(src, asset_with(own))
    finally:
        await src.aclose()
    assert ["/media/a1/download", "/own.pdf"] == [r.url.path for r in dam.requests]
    assert [True, False] == [carries_credentials(r) for r in dam.requests]


def folder_asset(root: Path, value: str, data: bytes = MANUAL) -> DamAsset:
    put(root / "products" / "a1.pdf", OWN)
    binary = derived(value, data)
    return DamAsset(id="products/a1.pdf", updated_at=T0, binary=binary)


@pytest.mark.parametrize("value", ["manuals/a1_fr.pdf", "products/../manuals/a1_fr.pdf"])
async def test_a_folder_opens_a_derived_file_under_its_root(tmp_path, value):
    """A path relative to the root, as ids are: that file, not the asset's own."""
    put(tmp_path / "manuals" / "a1_fr.pdf", MANUAL)
    assert MANUAL == await body_of(source(tmp_path), folder_asset(tmp_path, value))


@pytest.mark.parametrize(
    "value",
    [
        "https://dam.test/manuals/a1_fr.pdf?sig=s3cret",
        "//cdn.test/a1_fr.pdf",
        "/etc/passwd",
        "../outside.pdf",
        "manuals/../../outside.pdf",
        ".",
    ],
)
async def test_a_folder_refuses_a_derived_file_it_cannot_own(tmp_path, value):
    """A URL, an absolute path or one out of the root: one per-asset error, nothing read."""
    put(tmp_path.parent / "outside.pdf", MANUAL)
    src = source(tmp_path / "root")
    asset = folder_asset(tmp_path / "root", value)
    with pytest.raises(SourceAssetError) as info:
        await body_of(src, asset)
    error = info.value
    assert ("products/a1.pdf", "file") == (error.asset_id, error.field)
    assert "a folder source opens only the asset's own file" in str(error)
    assert "s3cret" not in str(error)


async def test_a_folder_refuses_a_derived_symlink_out_of_its_root(tmp_path):
    """Under the root by name, outside by its link: refused by the containment rule."""
    root = tmp_path / "root"
    put(tmp_path / "secret.pdf", MANUAL)
    (root / "manuals").mkdir(parents=True)
    (root / "manuals" / "a1_fr.pdf").symlink_to(tmp_path / "secret.pdf")
    with pytest.raises(SourceAssetError, match="symlink leads out of the folder"):
        await body_of(source(root), folder_asset(root, "manuals/a1_fr.pdf"))


async def test_a_folder_checks_a_derived_file_against_its_own_checksum(tmp_path):
    """The file's announced sha256 is verified, not the asset's own."""
    put(tmp_path / "manuals" / "a1_fr.pdf", b"%PDF another file")
    with pytest.raises(SourceAssetError):
        await body_of(source(tmp_path), folder_asset(tmp_path, "manuals/a1_fr.pdf"))


async def test_a_folder_asset_from_its_sidecar_manual_end_to_end(tmp_path):
    """The sidecar names the manual; the listing's own asset still opens its own file."""
    put(tmp_path / "a1.pdf", OWN)
    put(tmp_path / "a1.pdf.json", json.dumps({"manual": "manuals/a1_fr.pdf"}).encode())
    put(tmp_path / "manuals" / "a1_fr.pdf", MANUAL)
    assets, errors = await read(source(tmp_path))
    own = next(a for a in assets if a.id == "a1.pdf")
    assert [] == errors
    assert OWN == await body_of(source(tmp_path), own)
    manual = file_reader(FileKeys())(own.metadata["manual"])
    target = dataclasses.replace(own, binary=manual)
    assert MANUAL == await body_of(source(tmp_path), target)


async def test_a_derived_checksum_is_told_by_its_size_not_the_sources_algorithm():
    """The DAM's own checksums are md5; the manual's sha256 (file_keys) is still verified."""
    dam = Dam()
    settings = table("https://dam.test")
    settings["rest"]["fields"]["checksum_algorithm"] = "md5"
    src = build_source(
        "origin", load_source_settings(settings), transport=httpx.MockTransport(dam.handler)
    )
    try:
        assert MANUAL == await body_of(src, asset_with(derived("/manuals/fr.pdf")))
        with pytest.raises(SourceAssetError):
            await body_of(src, asset_with(derived("/manuals/fr.pdf", b"other bytes")))
    finally:
        await src.aclose()
