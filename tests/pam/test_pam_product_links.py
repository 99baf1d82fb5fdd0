"""
Product links kept across instances: legacy products' PAM collections -> the target's asset
collections, in-process (legacy PAM simulator or product CSV -> damsync -> PIM simulator).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import httpx

from daemon.cli.migrate_pam_target import product_source
from daemon.engine.pam_links import LinkCounts, PamLinker, collect_skipped
from daemon.engine.pam_migrate import PamPlan, build_plan, survey_source
from daemon.engine.pam_report import ReportLine
from daemon.engine.pam_strategy import PamOptions
from daemon.engine.pam_write import PamWriter
from daemon.pam import BinariesDir, CsvExport, PamApi, PamAsset, PamRead
from daemon.pam.pam_fetch import ApiFetcher, DirectoryFetcher
from daemon.pam.pam_products import ApiProducts, CsvProducts, ProductLinks, split_codes
from daemon.pam.pam_progress import ProgressFile
from daemon.pim import PasswordAuth, PimClient
from daemon.sim.pim import create_pim_app
from tests.pam.helpers import FAST_RETRY, FIXTURES, pam_reader, sim_app

PIM = "http://pim.test"
FAMILY = "pam_assets"
PRODUCTS_PATH = "/api/rest/v1/products"


def _seed(products: Iterable[str], attributes: Iterable[str]) -> dict[str, Any]:
    return {
        "users": [{"client_id": "c", "secret": "s", "username": "u", "password": "p"}],
        "locales": ["de_DE", "en_US", "fr_FR"],
        "channels": [
            {"code": "ecommerce", "locales": ["de_DE", "en_US", "fr_FR"]},
            {"code": "mobile", "locales": ["en_US"]},
            {"code": "print", "locales": ["en_US", "fr_FR"]},
        ],
        "asset_families": [],
        "product_attributes": [
            {"code": a, "type": "pim_catalog_asset_collection", "reference_data_name": FAMILY}
            for a in attributes
        ],
        "products": [{"identifier": p} for p in products],
    }


class _Counting(httpx.AsyncBaseTransport):
    """The PIM simulator in-process, counting requests per (method, path)."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.calls: Counter[tuple[str, str]] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls[(request.method, request.url.path)] += 1
        return await self.inner.handle_async_request(request)


class _ApiSource:
    def __init__(self, api: PamApi) -> None:
        self.api = api

    def reads(self) -> AsyncIterator[PamRead]:
        return self.api.assets()


class _CsvSource:
    def __init__(self, export: CsvExport) -> None:
        self.export = export

    async def reads(self) -> AsyncIterator[PamRead]:
        for read in self.export:
            yield read


def _resolve(_: PamAsset) -> str:
    return FAMILY


async def _plan(source: Any) -> PamPlan:
    options = PamOptions()
    return build_plan(await survey_source(source, _resolve, options), options)


def _pim(transport: httpx.AsyncBaseTransport) -> PimClient:
    auth = PasswordAuth(client_id="c", secret="s", username="u", password="p")
    return PimClient(PIM, auth=auth, transport=transport, retry=FAST_RETRY)


async def _migrate(
    source: Any, fetcher: Any, products: Any, transport: _Counting, progress: Path
) -> tuple[LinkCounts, list[ReportLine], PimClient]:
    """Assets, then links: as ``migrate_pam_target.write`` does."""
    lines: list[ReportLine] = []
    plan = await _plan(source)
    async with _pim(transport) as pim:
        with ProgressFile(progress) as store:
            tracked, skipped = collect_skipped(lines.append)
            await PamWriter(pim, fetcher, store, tracked).run(plan, source, _resolve)
        linker = PamLinker(pim, lines.append, skipped)
        counts = await linker.run(plan, products)
    return counts, lines, pim


def _collection(pim_app: Any, identifier: str, attribute: str) -> list[str] | None:
    product = next(p for p in pim_app.state.pim.products.values() if p.key == identifier)
    values = product.body["values"].get(attribute)
    return None if values is None else list(values[0]["data"])


def _notes(lines: list[ReportLine], text: str) -> list[ReportLine]:
    return [line for line in lines if line.kind == "note" and text in line.reason]


async def test_api_mode_writes_the_collections_in_few_patches_and_verifies(tmp_path):
    """150 legacy products: collections written (2 PATCHes), skipped/dangling codes and an
    unknown product reported, an attribute missing in the target created (reference_data_name =
    the family, the legacy labels) and its values written, verify passes."""
    pam_app = sim_app(assets=40, products=150)
    identifiers = [f"product_{i:05d}" for i in range(150)]
    pim_app = create_pim_app(
        _seed([i for i in identifiers if i != "product_00003"], ["asset_pictures"])
    )
    transport = _Counting(pim_app)
    async with pam_reader(pam_app) as api:
        counts, lines, _ = await _migrate(
            _ApiSource(api), ApiFetcher(api), ApiProducts(api), transport, tmp_path / "p.json"
        )
    assert ["pam_000000", "pam_000001"] == _collection(pim_app, "product_00000", "asset_pictures")
    assert ["pam_000005"] == _collection(pim_app, "product_00002", "asset_pictures")
    assert transport.calls[("PATCH", PRODUCTS_PATH)] <= math.ceil(150 / 100)
    assert 2 == counts.patches
    assert (150, 1, 0, 0) == (counts.products, counts.unknown, counts.refused, counts.rows_skipped)
    assert 149 == counts.written + counts.unchanged
    assert (2, 1, 0) == (counts.attributes, counts.attributes_created, counts.attributes_refused)
    created = pim_app.state.pim.product_attributes["asset_notices"]
    assert ("pim_catalog_asset_collection", FAMILY, "other") == (
        created["type"],
        created["reference_data_name"],
        created["group"],
    )
    assert (False, False, {"en_US": "Asset Notices"}) == (
        created["localizable"],
        created["scopable"],
        created["labels"],
    )
    assert ["pam_000007"] == _collection(pim_app, "product_00000", "asset_notices")
    skipped = _notes(lines, "asset pam_000004-old was not migrated")
    linking_it = [f"product_{i:05d}" for i in range(2, 150, 20)]  # (2i, 2i+1) % 40 hold 4
    assert linking_it == [line.reason.split(":")[0].split()[-1] for line in skipped]
    assert "asset_pictures" == skipped[0].field
    assert _notes(lines, "product product_00006: asset pam_deleted_asset is not in family")
    assert _notes(lines, "product product_00003 is not in the target PIM")
    assert _notes(lines, "product attribute asset_notices: created as pim_catalog_asset_collection")
    assert 149 + 49 == counts.verified_values  # every picture value; notices: every third product
    assert 0 == counts.verify_failures
    assert not _notes(lines, "verify:")


async def test_csv_mode_writes_the_collections_and_reports_each_left_out_piece(tmp_path):
    """The product CSV fixture: written, left-out codes, unknown product, bad rows, verified."""
    export = CsvExport(
        FIXTURES / "export_40" / "assets.csv",
        FIXTURES / "export_40" / "variations.csv",
        BinariesDir(FIXTURES / "files"),
    )
    pim_app = create_pim_app(
        _seed(
            ["tshirt_red", "bridge_model", "lamp", "no_links"], ["asset_pictures", "asset_notices"]
        )
    )
    transport = _Counting(pim_app)
    products = CsvProducts(FIXTURES / "products.csv")
    counts, lines, _ = await _migrate(
        _CsvSource(export), DirectoryFetcher(), products, transport, tmp_path / "p.json"
    )
    assert ["tshirt", "bridge"] == _collection(pim_app, "tshirt_red", "asset_pictures")
    assert ["user_manual"] == _collection(pim_app, "tshirt_red", "asset_notices")
    assert ["bridge"] == _collection(pim_app, "bridge_model", "asset_pictures")
    assert ["logo_copy", "gone_binary"] == _collection(pim_app, "lamp", "asset_pictures")
    assert None is _collection(pim_app, "no_links", "asset_pictures")
    assert 1 == transport.calls[("PATCH", PRODUCTS_PATH)] == counts.patches
    assert (5, 3, 1, 1, 2) == (
        counts.products,
        counts.written,
        counts.unchanged,
        counts.unknown,
        counts.rows_skipped,
    )
    assert 1 == counts.codes_left_out
    (old,) = _notes(lines, "asset old-asset was not migrated")
    assert ("old-asset", "asset_pictures", "products.csv line 3") == (
        old.code,
        old.field,
        old.where,
    )
    assert _notes(lines, "product mug_unknown is not in the target PIM")
    assert 2 == len(_notes(lines, "product row left out"))
    assert (0, 8) == (counts.verify_failures, counts.verified_values)  # 4 products x 2


async def test_a_rerun_sends_no_patch_and_verify_catches_a_deleted_asset(tmp_path):
    """Same products again: nothing to PATCH. An asset deleted afterwards fails verification."""
    pam_app = sim_app(assets=20, products=5, pitfalls=False)
    pim_app = create_pim_app(_seed([f"product_{i:05d}" for i in range(5)], ["asset_pictures"]))
    transport = _Counting(pim_app)
    async with pam_reader(pam_app) as api:
        source, products = _ApiSource(api), ApiProducts(api)
        first, _, _ = await _migrate(
            source, ApiFetcher(api), products, transport, tmp_path / "p.json"
        )
        assert (1, 4, 1) == (first.patches, first.written, first.unchanged)  # product 4: empty
        again, _, _ = await _migrate(
            source, ApiFetcher(api), products, transport, tmp_path / "p.json"
        )
        assert (0, 5, 0) == (again.patches, again.unchanged, again.verify_failures)
        plan = await _plan(source)
    del pim_app.state.pim.families[FAMILY].assets["pam_000000"]
    lines: list[ReportLine] = []
    async with _pim(transport) as pim:
        linker = PamLinker(pim, lines.append, {})
        linker.families = {"asset_pictures": plan.families[0].code}
        chunk = {"product_00000": ProductLinks("product_00000", where="here")}
        await linker.verify(
            {"product_00000": {"asset_pictures": ["pam_000000", "pam_000001"]}}, chunk
        )
    assert 1 == linker.counts.verify_failures
    (line,) = _notes(lines, "verify:")
    assert "asset pam_000000 of asset_pictures is not in family pam_assets" in line.reason


def test_product_source_follows_the_mode(tmp_path):
    """In place: none (relink commands instead); --products-csv wins; else the legacy API."""
    csv_path = tmp_path / "p.csv"
    api: Any = object()
    assert None is product_source({"in_place": True, "products_csv": csv_path}, api)
    assert isinstance(
        product_source({"in_place": False, "products_csv": csv_path}, api), CsvProducts
    )
    assert isinstance(product_source({"in_place": False, "products_csv": None}, api), ApiProducts)
    assert None is product_source({"in_place": False}, None)


async def test_csv_reader_layout(tmp_path):
    """Identifier column by name, comma delimiter guessed, unread columns ignored, codes split."""
    path = tmp_path / "products.csv"
    path.write_text('family,identifier,pics\nshoes,p1,"a, b,,a"\n', encoding="utf-8")
    reader = CsvProducts(path)
    assert ["family", "pics"] == await reader.collection_attributes()
    reads = [r async for r in reader.products(["pics"])]
    assert [ProductLinks("p1", {"pics": ("a", "b")}, "products.csv line 2")] == reads
    assert ("a", "b") == split_codes(" a,b ,, a")


def test_the_cli_keeps_the_links_of_an_api_migration(tmp_path):
    """migrate-pam --from-api into a PIM: the links pass runs after the assets, is printed and
    its lines land in the report CSV."""
    from click.testing import CliRunner

    from daemon.cli.migrate_pam import migrate_pam
    from tests.pam.helpers import BASE, CREDENTIALS

    config = tmp_path / "damsync.toml"
    config.write_text(
        '[pim]\nbase_url = "http://pim.test"\nclient_id = "c"\nsecret = "s"\n'
        'username = "u"\npassword = "p"\n',
        encoding="utf-8",
    )
    present = [f"product_{i:05d}" for i in range(12) if i != 3]
    pim_app = create_pim_app(_seed(present, ["asset_pictures", "asset_notices"]))
    obj = {
        "pam_transport": httpx.ASGITransport(app=sim_app(assets=40)),
        "pim_transport": httpx.ASGITransport(app=pim_app),
    }
    report = tmp_path / "r.csv"
    args = ["--from-api", BASE, "--config", str(config), "--report", str(report)]
    args += ["--progress", str(tmp_path / "p.sqlite")]
    result = CliRunner().invoke(migrate_pam, args, env=CREDENTIALS, obj=obj, catch_exceptions=False)
    assert 0 == result.exit_code, result.output
    out = " ".join(result.output.split())
    assert (
        "product links: 12 product(s) and 0 product model(s) read, 10 written in 1 PATCH(es), "
        "1 unchanged, 1 not"
    ) in out
    assert "verify: 14 collection value(s) read back, passed" in out  # 11 + 3 notices
    assert ["pam_000000", "pam_000001"] == _collection(pim_app, "product_00000", "asset_pictures")
    assert "product product_00003 is not in the target PIM" in report.read_text(encoding="utf-8")


async def test_the_simulator_serves_legacy_products_and_attributes():
    """GET /attributes (pim_assets_collection), /products pages and one product by identifier."""
    from tests.pam.helpers import sim_client

    async with sim_client(sim_app(assets=40, products=3)) as (client, auth):
        attributes = (await client.get("/api/rest/v1/attributes", headers=auth)).json()
        types = {a["code"]: a["type"] for a in attributes["_embedded"]["items"]}
        assert "pim_assets_collection" == types["asset_pictures"] == types["asset_notices"]
        page = await client.get(
            PRODUCTS_PATH, params={"limit": "2", "attributes": "asset_pictures"}, headers=auth
        )
        items = page.json()["_embedded"]["items"]
        assert ["product_00000", "product_00001"] == [p["identifier"] for p in items]
        assert {"asset_pictures"} == set(items[0]["values"])
        one = (await client.get(f"{PRODUCTS_PATH}/product_00002", headers=auth)).json()
        assert [{"locale": None, "scope": None, "data": ["pam_000004-old", "pam_000005"]}] == (
            one["values"]["asset_pictures"]
        )
        missing = await client.get(f"{PRODUCTS_PATH}/product_00003", headers=auth)
        assert 404 == missing.status_code


async def test_binding_checks_each_target_attribute_against_the_collection_map():
    """Mapped and matching: bound. Other family, other type, unmapped: one line each, not bound."""
    from daemon.engine.pam_migrate import CollectionLink

    seed = _seed([], ["asset_pictures"])
    seed["product_attributes"] += [
        {"code": "asset_notices", "type": "pim_catalog_asset_collection"}
        | {"reference_data_name": "notices"},
        {"code": "name", "type": "pim_catalog_text"},
    ]
    links = tuple(CollectionLink(a, FAMILY) for a in ("asset_pictures", "asset_notices", "name"))
    plan = PamPlan(options=PamOptions(), families=(), links=links)
    lines: list[ReportLine] = []
    async with _pim(httpx.ASGITransport(app=create_pim_app(seed))) as pim:
        linker = PamLinker(pim, lines.append, {})
        found = await linker.bind(plan, ["asset_pictures", "asset_notices", "name", "extra"])
    assert {"asset_pictures": FAMILY} == found
    assert (1, 3) == (linker.counts.attributes, linker.counts.attributes_refused)
    reasons = [line.reason for line in lines]
    assert "links it to family notices, the migration put its assets in pam_assets" in reasons[0]
    assert "the target has it as pim_catalog_text" in reasons[1]
    assert reasons[2].startswith("collection attribute extra is bound to no family")
