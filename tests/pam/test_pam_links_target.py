"""
Product links across instances, the target's side: a missing product collection attribute is
created (reference_data_name = the family), a different one is a report line and its values are
not written; product models are linked like products; --dry-run plans the links and writes
nothing. End to end through the CLI: PAM CSV exports -> damsync -> the PIM simulator.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result
from rich.console import Console

from daemon.cli.migrate_pam import migrate_pam
from daemon.cli.migrate_pam_output import ProgressView
from daemon.pam.pam_products import ApiProducts, ProductLinks, ProductRowError
from daemon.sim.pim import create_pim_app
from tests.pam.helpers import FIXTURES

EXPORT = FIXTURES / "export_40"
FILES = FIXTURES / "files"
FAMILY = "pam_assets"
PRODUCTS = ["tshirt_red", "bridge_model", "lamp", "no_links"]


def _seed(notices_family: str | None) -> dict[str, Any]:
    """The target: products and models, no asset_pictures attribute; asset_notices bound to
    ``notices_family`` (None: absent too)."""
    attributes = []
    if notices_family is not None:
        attributes.append(
            {
                "code": "asset_notices",
                "type": "pim_catalog_asset_collection",
                "reference_data_name": notices_family,
            }
        )
    return {
        "users": [{"client_id": "c", "secret": "s", "username": "u", "password": "p"}],
        "locales": ["de_DE", "en_US", "fr_FR"],
        "channels": [
            {"code": "ecommerce", "locales": ["de_DE", "en_US", "fr_FR"]},
            {"code": "mobile", "locales": ["en_US"]},
            {"code": "print", "locales": ["en_US", "fr_FR"]},
        ],
        "asset_families": [{"code": "notices"}],
        "product_attributes": attributes,
        "products": [{"identifier": p} for p in PRODUCTS],
        "product_models": [{"code": "shirt_model"}, {"code": "lamp_model"}],
    }


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "damsync.toml"
    config.write_text(
        '[pim]\nbase_url = "http://pim.test"\nclient_id = "c"\nsecret = "s"\n'
        'username = "u"\npassword = "p"\n',
        encoding="utf-8",
    )
    return config


def _models_csv(tmp_path: Path) -> Path:
    path = tmp_path / "models.csv"
    path.write_text(
        "code;asset_pictures;asset_notices\n"
        "shirt_model;tshirt;user_manual\n"
        "lamp_model;logo_copy,old-asset;\n"
        "gone_model;bridge;\n",
        encoding="utf-8",
    )
    return path


def _run(tmp_path: Path, pim_app: Any, *extra: object) -> Result:
    args = ["--from-csv", EXPORT, "--files", FILES, "--config", _config(tmp_path)]
    args += ["--products-csv", FIXTURES / "products.csv"]
    args += ["--product-models-csv", _models_csv(tmp_path)]
    args += ["--report", tmp_path / "r.csv", "--progress", tmp_path / "p.sqlite", *extra]
    obj = {"pim_transport": httpx.ASGITransport(app=pim_app)}
    return CliRunner().invoke(migrate_pam, [str(a) for a in args], obj=obj, catch_exceptions=False)


def _values(pim_app: Any, kind: str, key: str, attribute: str) -> list[str] | None:
    store = pim_app.state.pim.products if kind == "product" else pim_app.state.pim.product_models
    found = next(p for p in store.values() if p.key == key)
    values = found.body.get("values", {}).get(attribute)
    return None if values is None else list(values[0]["data"])


def _report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def test_a_missing_attribute_is_created_and_a_different_one_is_reported(tmp_path):
    """asset_pictures is missing: created (collection of pam_assets, group other) and the
    products' and models' pictures written and verified. asset_notices links another family:
    one report line, left as it is, no notices value written."""
    pim_app = create_pim_app(_seed("notices"))
    result = _run(tmp_path, pim_app)
    assert 0 == result.exit_code, result.output
    created = pim_app.state.pim.product_attributes["asset_pictures"]
    assert ("pim_catalog_asset_collection", FAMILY, False, False, "other") == (
        created["type"],
        created["reference_data_name"],
        created["localizable"],
        created["scopable"],
        created["group"],
    )
    assert ["tshirt", "bridge"] == _values(pim_app, "product", "tshirt_red", "asset_pictures")
    assert ["logo_copy", "gone_binary"] == _values(pim_app, "product", "lamp", "asset_pictures")
    assert ["tshirt"] == _values(pim_app, "model", "shirt_model", "asset_pictures")
    assert ["logo_copy"] == _values(pim_app, "model", "lamp_model", "asset_pictures")
    for kind, key in (("product", "tshirt_red"), ("model", "shirt_model")):
        assert None is _values(pim_app, kind, key, "asset_notices")
    assert "notices" == pim_app.state.pim.product_attributes["asset_notices"]["reference_data_name"]
    out = " ".join(result.output.split())
    # Not a terminal: the last pam.progress line counts the uploads the summary gives.
    assert "binaries: 11 uploaded, 1 reused" in out
    assert '"files_uploaded": 11' in out
    assert (
        "5 product(s) and 3 product model(s) read, 5 written in 2 PATCH(es), 1 unchanged, "
        "2 not in the target"
    ) in out  # one PATCH per kind
    assert "1 collection attribute(s) bound (1 created), 1 not" in out
    assert "verify: 6 collection value(s) read back, passed" in out  # 4 products + 2 models
    reasons = [row["reason"] for row in _report(tmp_path / "r.csv")]
    assert any(
        r.startswith("product attribute asset_notices: the target links it to family notices")
        and "left as it is, its values are not written" in r
        for r in reasons
    )
    assert (
        "product attribute asset_pictures: created as pim_catalog_asset_collection of "
        + (f"{FAMILY} (group other)")
        in reasons
    )
    assert "product model gone_model is not in the target PIM: its collections are not written" in (
        reasons
    )
    assert any(
        r.startswith("product model lamp_model: asset old-asset was not migrated") for r in reasons
    )


def test_the_dry_run_plans_the_links_and_writes_nothing(tmp_path):
    """--dry-run with --config: the target is only read; the attribute that would be created,
    the one that differs, and how many products / models would get which collection."""
    pim_app = create_pim_app(_seed("notices"))
    result = _run(tmp_path, pim_app, "--dry-run")
    assert 0 == result.exit_code, result.output
    out = "\n".join(" ".join(line.split()) for line in result.output.splitlines())
    assert "product links (nothing written):" in out
    assert (
        "attribute asset_pictures -> pam_assets: would be created as "
        "pim_catalog_asset_collection of pam_assets"
    ) in out
    assert "attribute asset_notices -> pam_assets: the target links it to family notices" in out
    assert "product asset_pictures 4 7" in out  # 4 products with pictures, 7 codes
    assert "product model asset_pictures 3 4" in out
    assert "5 product(s), 3 product model(s) read, 2 unreadable row(s); 1 attribute(s) would" in (
        out
    )
    assert "asset_pictures" not in pim_app.state.pim.product_attributes
    assert None is _values(pim_app, "product", "tshirt_red", "asset_pictures")
    assert ["notices"] == list(pim_app.state.pim.families)  # no structure written either


def test_the_dry_run_without_a_target_leaves_the_attributes_unchecked(tmp_path):
    args = ["--from-csv", EXPORT, "--dry-run", "--report", tmp_path / "r.csv"]
    args += ["--products-csv", FIXTURES / "products.csv"]
    result = CliRunner().invoke(migrate_pam, [str(a) for a in args], catch_exceptions=False)
    assert 0 == result.exit_code, result.output
    out = " ".join(result.output.split())
    assert "attribute asset_pictures -> pam_assets: target not read (no --config)" in out
    assert "0 attribute(s) would be created" in out


class _Pages:
    """A legacy API with products and product models (the reader's paging seam)."""

    page_limit = 100

    def __init__(self, models: list[Any] | None) -> None:
        self.models = models
        self.paths: list[str] = []

    async def _pages(self, path: str, endpoint: str, params: dict[str, str]) -> AsyncIterator[Any]:
        self.paths.append(path)
        if path.endswith("/attributes"):
            yield [
                {"code": "pics", "type": "pim_assets_collection", "labels": {"en_US": "Pics"}},
                {"code": "name", "type": "pim_catalog_text"},
            ]
        elif path.endswith("/products"):
            yield [{"identifier": "p1", "values": {"pics": [{"data": ["a"]}]}}]
        elif self.models is None:
            from daemon.core.errors import SourceProtocolError

            raise SourceProtocolError("404 Not Found", endpoint=endpoint, method="GET")
        else:
            yield self.models


async def test_the_api_reads_products_then_models_and_the_labels():
    api = _Pages([{"code": "m1", "values": {"pics": [{"data": ["b", "a"]}]}}, {"values": {}}])
    reader = ApiProducts(api)
    assert ["pics"] == await reader.collection_attributes()
    assert {"en_US": "Pics"} == reader.labels("pics")
    reads = [r async for r in reader.products(["pics"])]
    assert [("product", "p1", ("a",)), ("product_model", "m1", ("b", "a"))] == [
        (r.kind, r.identifier, r.collections["pics"]) for r in reads if isinstance(r, ProductLinks)
    ]
    (bad,) = [r for r in reads if isinstance(r, ProductRowError)]
    assert ("no code", True) == (bad.reason, bad.row)


async def test_a_legacy_pim_without_product_models_gives_one_note():
    reads = [r async for r in ApiProducts(_Pages(None)).products(["pics"])]
    assert isinstance(reads[0], ProductLinks)
    note = reads[1]
    assert isinstance(note, ProductRowError) and not note.row
    assert note.reason.startswith("the legacy PIM lists no product models")


def test_the_progress_bars_count_fetches_and_uploads_apart():
    """A terminal: the 'files uploaded' bar moves on uploads only, 'files fetched' on fetches."""
    console = Console(force_terminal=True, file=io.StringIO())
    with ProgressView(3, console) as view:
        view.file()
        view.file()
        view.uploaded()
        assert view.bars is not None
        tasks = {t.description: t.completed for t in view.bars.tasks}
    assert {"assets": 0, "files fetched": 2, "files uploaded": 1} == tasks
