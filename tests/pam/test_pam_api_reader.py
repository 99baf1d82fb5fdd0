"""The API reader against the legacy PAM simulator: every asset, typed, streamed, downloadable."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import httpx
import pytest

from daemon.core.errors import PimAuthError, SourceAssetError, SourceAuthError
from daemon.pam import PamApi, PamAsset, PamSkip
from daemon.pam.pam_parse import parse_asset
from daemon.sim.pam import PamDataset, PamSimOptions
from tests.pam.helpers import BASE, pam_reader, sim_app


async def _all(api: PamApi) -> list[PamAsset]:
    """Every record of the listing; the simulator's items all have a code."""
    reads = [read async for read in api.assets()]
    assets = [read for read in reads if isinstance(read, PamAsset)]
    assert len(assets) == len(reads)
    return assets


async def test_reads_every_asset_once_in_code_order_with_files():
    """250 assets over 3 pages: each once, with its references and variations keyed right."""
    app = sim_app(assets=250)
    async with pam_reader(app) as api:
        reads = await _all(api)
    assert 250 == len(reads)
    codes = [r.code for r in reads]
    assert (
        sorted(codes)
        == codes
        == [PamDataset(PamSimOptions(assets=250)).code_of(i) for i in range(250)]
    )
    localizable = reads[1]
    assert localizable.localizable is True
    assert {"de_DE", "en_US", "fr_FR"} == set(localizable.references)
    assert ("mobile", "en_US") in localizable.variations
    plain = reads[0]
    assert [None] == list(plain.references)
    assert (
        plain.references[None].url
        == f"{BASE}/api/rest/v1/assets/pam_000000/reference-files/no-locale/download"
    )
    assert date(2028, 1, 1) == plain.end_of_use
    stats = app.state.requests
    assert {"200": 3} == dict(stats["GET /api/rest/v1/assets"])


async def test_each_page_body_is_released_once_parsed(monkeypatch):
    """
    Issue 18: httpx's response sits in a reference cycle freed only by a full pass of the cyclic
    garbage collector, so the reader drops each page's body once it is parsed (a page of 100
    assets is about 350 KB: held until that pass, the listing grew with the assets).
    """
    app = sim_app(assets=250)
    sent: list[httpx.Response] = []
    async with pam_reader(app) as api:
        client = api.upstream.client
        send = client.send

        async def recording(request: httpx.Request, *, stream: bool = False) -> httpx.Response:
            response = await send(request, stream=stream)
            sent.append(response)
            return response

        monkeypatch.setattr(client, "send", recording)
        assert 250 == len(await _all(api))
    pages = [r for r in sent if r.request.url.path == "/api/rest/v1/assets"]
    assert [200, 200, 200] == [r.status_code for r in pages]
    assert [b"", b"", b""] == [r.content for r in pages]


async def test_api_pitfalls_become_notes_not_errors():
    """No reference at all, a failed variation, a bad tag: notes and values, never a traceback."""
    async with pam_reader(sim_app(assets=30)) as api:
        reads = {r.code: r for r in await _all(api)}
    assert ["no_reference"] == [n.kind for n in reads["pam_000002"].notes]
    assert ("mobile", None) not in reads["pam_000003"].variations
    assert "summer-2019" in reads["pam_000009"].tags


async def test_download_streams_to_disk_with_checksum_and_name(tmp_path):
    """The file lands on disk; SHA-256 and original name come with it; shared content, same sum."""
    async with pam_reader(sim_app(assets=60)) as api:
        reads = {r.code: r for r in await _all(api)}
        first = await api.download(
            "pam_000000", reads["pam_000000"].references[None], tmp_path / "a"
        )
        shared = await api.download(
            "pam_000051", reads["pam_000051"].references[None], tmp_path / "b"
        )
    content = (tmp_path / "a").read_bytes()
    assert first.checksum == hashlib.sha256(content).hexdigest()
    assert (first.size, first.original_name, first.mime_type) == (
        len(content),
        "Bridge 0.jpg",
        "image/jpeg",
    )
    assert first.checksum == shared.checksum  # index 0 and 51 share the logo content
    assert reads["pam_000000"].references[None].key != reads["pam_000051"].references[None].key


async def test_a_binary_gone_from_storage_is_one_asset_error(tmp_path):
    """404 on a listed file: SourceAssetError naming the asset and the key; the next one works."""
    async with pam_reader(sim_app(assets=10)) as api:
        reads = {r.code: r for r in await _all(api)}
        gone = reads["pam_000006"].references[None]
        with pytest.raises(SourceAssetError) as caught:
            await api.download("pam_000006", gone, tmp_path / "x")
        ok = await api.download("pam_000008", reads["pam_000008"].references[None], tmp_path / "y")
    assert "pam_000006" in str(caught.value) and gone.key in str(caught.value)
    assert ok.size > 0


async def test_no_locale_refused_is_retried_with_the_pre_release_spelling(tmp_path):
    """§3.4: a server that knows only no_locale gets the fallback once."""
    from daemon.pam import PamFile

    app = sim_app(
        assets=3, locale_word="no_locale", channel_key="channel", end_of_use_offset="+0000"
    )
    async with pam_reader(app) as api:
        reads = await _all(api)
        built = PamFile(
            key="k", url=f"{BASE}/api/rest/v1/assets/pam_000000/reference-files/no-locale/download"
        )
        found = await api.download("pam_000000", built, tmp_path / "z")
    assert ("ecommerce", None) in reads[0].variations  # the channel key is read
    assert date(2028, 1, 1) == reads[0].end_of_use
    assert found.size > 0
    assert {"404": 1, "200": 1} == dict(
        app.state.requests["GET /api/rest/v1/assets/{code}/reference-files/{locale}/download"]
    )


async def test_server_errors_are_retried():
    """Seeded 500s on a third of the requests: the listing still completes, every asset once."""
    app = sim_app(assets=120, fault_rate=0.3, rng_seed=3)
    async with pam_reader(app) as api:
        reads = await _all(api)
    assert 120 == len({r.code for r in reads})
    assert sum(c["500"] for c in app.state.requests.values()) > 0


async def test_a_user_without_the_list_right_is_an_auth_error():
    """403 on the listing: an authentication error, not a protocol one."""
    async with pam_reader(sim_app(assets=3), username="no_list") as api:
        with pytest.raises(SourceAuthError, match="not allowed to list assets"):
            await _all(api)


async def test_wrong_credentials_fail_at_the_token():
    """The password grant refused: the token error, with the server's message."""
    async with pam_reader(sim_app(assets=3), username="nobody") as api:
        with pytest.raises(PimAuthError, match="No user found"):
            await _all(api)


async def test_categories_and_tags_are_read():
    """Asset categories with parents and labels; tag codes."""
    async with pam_reader(sim_app(assets=3, tags=4)) as api:
        categories = {c.code: c async for c in api.categories()}
        tags = [t async for t in api.tags()]
    assert "Vues de face" == categories["front_views"].labels["fr_FR"]
    assert 5 == len(tags)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (None, "an item without a code"),
        ({"code": ""}, "an item without a code"),
    ],
)
def test_unreadable_items_are_skips(item, expected):
    """An item without a code is a skip line, never an exception."""
    read = parse_asset(item, "asset #1")
    assert isinstance(read, PamSkip) and expected == read.reason


def test_odd_shapes_become_notes():
    """localized synonym, +0200 dates, _links on entries, bad lists: read or noted."""
    read = parse_asset(
        {
            "code": "a",
            "localized": True,
            "end_of_use": "2030-02-03T00:00:00+0200",
            "tags": "not a list",
            "categories": ["x", "x", ""],
            "reference_files": [
                {"locale": "en_US", "code": "k1", "_links": {"download": {"href": "/d"}}},
                {"locale": None, "code": "k0"},
                {"locale": "fr_FR"},
            ],
            "variation_files": [{"locale": "en_US", "code": "k2"}],
        },
        "asset #1",
    )
    assert isinstance(read, PamAsset)
    assert (True, date(2030, 2, 3), (), ("x",)) == (
        read.localizable,
        read.end_of_use,
        read.tags,
        read.categories,
    )
    assert ["en_US"] == list(read.references) and "/d" == read.references["en_US"].url
    kinds = sorted(n.kind for n in read.notes)
    assert ["bad_value", "bad_value", "bad_value", "conflict", "duplicate_codes"] == kinds


@pytest.mark.slow
def test_listing_memory_stays_flat_whatever_the_number_of_assets():
    """The listing holds one page: 10x the assets, the same peak (pages differ by a few KB).

    Measured in a fresh interpreter: in the test session, what earlier tests left behind (their
    log configuration, collector settings, closing servers) showed up in tracemalloc's peak.
    """
    script = """
import asyncio, gc, json, tracemalloc
from daemon.pam import PamAsset
from tests.pam.helpers import pam_reader, sim_app

async def peak(count):
    app = sim_app(assets=count)
    async with pam_reader(app) as api:
        gc.collect()
        tracemalloc.start()
        seen = 0
        async for read in api.assets():
            seen += isinstance(read, PamAsset)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return seen, top

async def main():
    return [await peak(400), await peak(4_000)]

print(json.dumps(asyncio.run(main())))
"""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert 0 == done.returncode, done.stderr[-3000:]
    (small_count, small_peak), (big_count, big_peak) = json.loads(done.stdout.splitlines()[-1])
    assert (400, 4_000) == (small_count, big_count)
    # A reader keeping the records would hold 3,600 more assets, over 1 KB each.
    assert big_peak < small_peak + 2 * 1024 * 1024, (small_peak, big_peak)
