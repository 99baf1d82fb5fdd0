"""Rules mode, pure parts: the naming convention in Python, placeholders, searches, verdicts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest

from daemon.core.errors import PimNotFound, PimRejected
from daemon.core.records import AssetAttribute, AssetFamily, BinaryRef, PimValue
from daemon.engine.link_readiness import RulesMode, check_family
from daemon.engine.link_rule_checks import (
    MAX_IN,
    SCAN_LIMIT,
    ProductFields,
    Query,
    RuleCheck,
    RuleSkipped,
    Selection,
    fill,
    plan_queries,
    resolve_rule,
    run_checks,
    selects,
)
from daemon.engine.naming_checks import (
    NamingConvention,
    PatternError,
    SampledAsset,
    compile_convention_pattern,
    readable_values,
    run_convention,
)
from daemon.mapping.results import MediaRequest
from daemon.pim.models import Product, ProductAttribute, ProductValue

PATTERN = "/^(?P<product_ref>[a-z]+_[0-9]+)_(?P<view>[a-z]+)$/"
FAMILY = AssetFamily(
    code="model_pictures",
    attributes={
        "main_image": AssetAttribute("main_image", "media_file"),
        "product_ref": AssetAttribute("product_ref", "text"),
        "view": AssetAttribute("view", "single_option"),
        "width": AssetAttribute("width", "number"),
        "title": AssetAttribute("title", "text", value_per_locale=True),
    },
    options={"view": frozenset({"front", "back"})},
    attribute_as_main_media="main_image",
)
SKU = ProductFields("sku", frozenset({"name", "colour"}))


def convention(pattern: str = PATTERN, *, source: str = "code", abort: bool = True):
    found = NamingConvention.from_json(
        {
            "source": {"property": source, "locale": None, "channel": None},
            "pattern": pattern,
            "abort_asset_creation_on_error": abort,
        }
    )
    assert found is not None
    return found


def media(filename: str | None) -> dict[str, tuple[PimValue, ...]]:
    request = MediaRequest("main_image", None, None, BinaryRef(url="u", filename=filename))
    return {"main_image": (PimValue(request),)}


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("/(?P<ref>.*)-.*/", "abc-front", {"ref": "abc"}),
        ("/(?<ref>[a-z]+)_\\d+/", "abc_12", {"ref": "abc"}),
        ("/(?'ref'[a-z]+)_\\d+/", "abc_12", {"ref": "abc"}),
        ("#^(?<ref>[A-Z]+)$#i", "abc", {"ref": "abc"}),
        ("/(?<=x)(?<ref>y+)/", "xyy", {"ref": "yy"}),
        ("/^(?<ref>a+)\\z/", "aa", {"ref": "aa"}),
        ("/^(?<ref>a+)\\z/", "aa\n", None),
        ("/^(?<ref>a+)$/", "ab", None),
    ],
)
def test_pcre_patterns_run_in_python_as_the_pim_runs_them(pattern, text, expected):
    """Named groups of every PCRE spelling, lookbehinds, flags and \\z behave as in PCRE."""
    found = compile_convention_pattern(pattern).search(text)
    assert expected == (found.groupdict() if found else None)


@pytest.mark.parametrize("pattern", ["(?P<ref>.*)", "/(?P<ref>.*)/D", "/(?P<ref>.*/", "/(/"])
def test_patterns_python_cannot_run_are_named(pattern):
    """No delimiters, an unknown flag or a broken group: a PatternError, not a crash."""
    with pytest.raises(PatternError):
        compile_convention_pattern(pattern)


def test_an_empty_convention_is_none():
    """``{}`` (and a convention without pattern) means no naming convention."""
    assert NamingConvention.from_json({}) is None
    assert NamingConvention.from_json({"source": {"property": "code"}}) is None
    found = convention(abort=False)
    assert ("code", None, None, False) == (found.source, found.locale, found.channel, found.abort)


@pytest.mark.parametrize(
    ("code", "groups", "problem"),
    [
        ("jacket_001_front", {"product_ref": "jacket_001", "view": "front"}, None),
        ("jacket001front", {}, "does not match the naming convention pattern"),
        ("jacket_001_top", {}, "the value 'top' extracted for 'view' is refused: option 'top'"),
    ],
)
def test_the_convention_on_the_code(code, groups, problem):
    """A code the pattern accepts gives its groups; otherwise one reason, and no groups."""
    found = run_convention(convention(), FAMILY, SampledAsset("d1", code))
    assert ("code", code, groups) == (found.what, found.text, dict(found.groups))
    assert (problem is None) == (found.problem is None)
    if problem is not None:
        assert problem in (found.problem or "")


def test_a_group_that_is_no_plain_text_option_or_number_attribute_fails_the_convention():
    """A group naming a per-locale attribute cannot be filled."""
    found = run_convention(convention("/^(?P<title>.+)$/"), FAMILY, SampledAsset("d1", "x"))
    assert "its group 'title' is not a text, single_option or number" in (found.problem or "")


def test_an_empty_group_extracts_nothing():
    """An optional group that matched nothing is no value (and no error)."""
    found = run_convention(convention("/^(?P<view>z*)x$/"), FAMILY, SampledAsset("d1", "x"))
    assert (None, {}) == (found.problem, dict(found.groups))


@pytest.mark.parametrize(
    ("filename", "text", "problem"),
    [
        ("jacket_001_front", "jacket_001_front", None),
        ("jacket_001_front.jpg", "jacket_001_front.jpg", "does not match"),
        (None, None, "the DAM gives no filename"),
    ],
)
def test_the_convention_on_the_main_media_reads_the_filename_damsync_uploads(
    filename, text, problem
):
    """The source is the binary's filename as damsync sends it, not the asset code."""
    asset = SampledAsset("d1", "other_code", media(filename))
    found = run_convention(convention(source="main_image"), FAMILY, asset)
    assert ("main media filename", text) == (found.what, found.text)
    assert (problem is None) == (found.problem is None)
    if problem is not None:
        assert problem in (found.problem or "")


def test_a_main_media_the_mapping_does_not_fill_is_named():
    """No value for the convention's source attribute: the reason says which."""
    found = run_convention(convention(source="main_image"), FAMILY, SampledAsset("d1", "c"))
    assert "the mapping gives no 'main_image' value" in (found.problem or "")


def test_values_damsync_sends_win_over_extracted_ones():
    """The rules read extracted groups, overridden by plain values damsync sends."""
    asset = SampledAsset(
        "d1",
        "jacket_001_front",
        {
            "product_ref": (PimValue("jacket_009"),),
            "title": (PimValue("T", locale="en_US"),),
            **media("f.jpg"),
        },
    )
    extraction = run_convention(convention(), FAMILY, asset)
    expected = {"product_ref": "jacket_009", "view": "front"}
    assert expected == readable_values(asset, extraction)


@pytest.mark.parametrize(
    ("text", "readable", "expected"),
    [
        ("{{product_ref}}", {"product_ref": "jacket_001"}, "jacket_001"),
        ("{{ product_ref }}", {"product_ref": "jacket_001"}, "jacket_001"),
        ("pre_{{product_ref}}_{{view}}", {"product_ref": "a", "view": "b"}, "pre_a_b"),
        ("{{tags}}", {"tags": ["x", "y"]}, ["x", "y"]),
        ("{{code}}", {}, "the_code"),
        ("plain", {}, "plain"),
    ],
)
def test_placeholders_are_filled_from_what_the_asset_holds(text, readable, expected):
    """Whole placeholders keep lists, embedded ones become text, ``code`` is the asset code."""
    assert expected == fill(text, "the_code", readable)


def test_a_placeholder_without_value_skips_the_rule():
    """The rule cannot run: the reason names the placeholder."""
    with pytest.raises(RuleSkipped, match=r"\{\{product_ref\}\} has no value"):
        fill("{{product_ref}}", "c", {})


def test_a_rule_resolves_lists_and_booleans():
    """IN lists are flattened, booleans written as the PIM compares them."""
    rule = {
        "product_selections": [
            {"field": "sku", "operator": "IN", "value": ["{{refs}}", "extra"]},
            {"field": "enabled", "operator": "=", "value": True},
        ]
    }
    expected = (
        Selection("sku", "IN", ("a", "b", "extra")),
        Selection("enabled", "=", ("true",)),
    )
    assert expected == resolve_rule(rule, "c", {"refs": ["a", "b"]})


@pytest.mark.parametrize(
    "rule",
    [{}, {"product_selections": [{"field": "sku", "operator": "CONTAINS", "value": "x"}]}],
)
def test_a_rule_that_cannot_run_is_skipped(rule):
    """No selection, or an operator link rules do not take."""
    with pytest.raises(RuleSkipped):
        resolve_rule(rule, "c", {})


def test_queries_send_properties_and_batch_identifiers():
    """Properties become search filters, the identifier a key set, attributes local checks."""
    selections = (
        Selection("family", "IN", ("jackets",)),
        Selection("sku", "EQUALS", ("jacket_001",)),
        Selection("name", "=", ("Rain",), locale="en_US"),
    )
    product, model = plan_queries(selections, SKU)
    search = {"family": [{"operator": "IN", "value": ["jackets"]}]}
    assert Query("product", search, frozenset({"jacket_001"}), local=selections[2:]) == product
    assert "product_model" == model.kind


def test_enabled_selects_no_product_model():
    """A product model has no ``enabled``: only products are searched."""
    queries = plan_queries((Selection("enabled", "=", ("false",)),), SKU)
    assert [("product", {"enabled": [{"operator": "=", "value": False}]})] == [
        (q.kind, q.search) for q in queries
    ]


@pytest.mark.parametrize(
    "selection",
    [Selection("unknown", "=", ("x",)), Selection("parent", "NOT IN", ("m",))],
)
def test_selections_the_check_cannot_search_are_named(selection):
    """An unknown field, or one the search API cannot express, skips the rule with a reason."""
    with pytest.raises(RuleSkipped):
        plan_queries((selection,), SKU)


def product(key: str, kind: str = "product", **values: Any) -> Product:
    return Product(
        kind,  # type: ignore[arg-type]
        key,
        None,
        {k: (ProductValue(v, locale="en_US"),) for k, v in values.items()},
        identifier=key if kind == "product" else None,
    )


@pytest.mark.parametrize(
    ("query", "record", "expected"),
    [
        (Query("product", {}, frozenset({"a"})), product("a"), True),
        (Query("product", {}, frozenset({"a"})), product("b"), False),
        (Query("product_model", {}, frozenset({"m"})), product("m", "product_model"), True),
        (Query("product", {}, None, frozenset({"a"})), product("a"), False),
        (
            Query("product", {}, None, local=(Selection("name", "=", ("Rain",), "en_US"),)),
            product("a", name="Rain"),
            True,
        ),
        (
            Query("product", {}, None, local=(Selection("name", "NOT IN", ("Rain",), "en_US"),)),
            product("a", name="Rain"),
            False,
        ),
        (
            Query("product", {}, None, local=(Selection("colour", "IN", ("red",), "en_US"),)),
            product("a", colour=["blue", "red"]),
            True,
        ),
    ],
)
def test_records_read_are_checked_against_the_rest_of_the_selection(query, record, expected):
    """Identifier and attribute selections are checked on the records read."""
    assert expected == selects(record, query)


class FakePim:
    """Products by identifier (``identifier IN`` and ``family IN`` only); records searches."""

    def __init__(self, products: Mapping[str, str], models: Sequence[str] = ()) -> None:
        self.products = products  # identifier -> family
        self.models = list(models)
        self.searches: list[tuple[str, dict[str, Any]]] = []

    async def iter_products(
        self, search: Any, *, kind: str = "product", attributes: Sequence[str] | None = None
    ) -> AsyncIterator[Product]:
        self.searches.append((kind, dict(search)))
        keys = self.products if kind == "product" else dict.fromkeys(self.models, "models")
        for key, family in keys.items():
            ok = all(
                (key if field == "identifier" else family) in c["value"]
                for field, conditions in search.items()
                for c in conditions
            )
            if ok:
                yield product(key, kind)

    async def get_product_attribute(self, code: str) -> ProductAttribute:
        if code == "sku":
            return ProductAttribute("sku", "pim_catalog_identifier")
        if code in ("model_pictures", "main_picture", "notices"):
            family = "notices" if code == "notices" else "model_pictures"
            return ProductAttribute(
                code, "pim_catalog_asset_collection", reference_data_name=family
            )
        raise PimNotFound(f"attribute {code} not found")


async def test_identifiers_of_many_assets_are_read_100_at_a_time():
    """250 assets' rules make 3 ``identifier IN`` reads per kind, never one per asset."""
    pim = FakePim({f"p_{i}": "jackets" for i in range(0, 250, 2)})
    checks = []
    for i in range(250):
        check = RuleCheck(0, (Selection("sku", "=", (f"p_{i}",)),))
        check.queries = plan_queries(check.selections, ProductFields("sku"))
        checks.append(check)
    reads = await run_checks(pim, checks, identifier="sku")
    assert 6 == reads == len(pim.searches)
    sizes = [len(search["identifier"][0]["value"]) for _, search in pim.searches]
    assert all(size <= MAX_IN for size in sizes) and 500 == sum(sizes)
    assert ["found", "none"] * 125 == [c.verdict for c in checks]


async def test_without_identifier_one_search_per_distinct_filter():
    """Rules selecting by family only read once per distinct family, whatever the assets."""
    pim = FakePim({"a": "jackets", "b": "shoes"})
    checks = []
    for family in ["jackets", "jackets", "hats"]:
        check = RuleCheck(0, (Selection("family", "IN", (family,)),))
        check.queries = plan_queries(check.selections, SKU)
        checks.append(check)
    await run_checks(pim, checks)
    assert 4 == len(pim.searches)  # (jackets, hats) x (products, product models)
    assert ["found", "found", "none"] == [c.verdict for c in checks]


RULES = (
    {
        "product_selections": [{"field": "sku", "operator": "EQUALS", "value": "{{product_ref}}"}],
        "assign_assets_to": [{"attribute": "model_pictures", "mode": "add"}],
    },
    {
        "product_selections": [
            {"field": "family", "operator": "IN", "value": ["jackets"]},
            {"field": "sku", "operator": "EQUALS", "value": "{{product_ref}}"},
        ],
        "assign_assets_to": [{"attribute": "main_picture", "mode": "replace"}],
    },
)


@pytest.mark.parametrize("abort", [True, False])
async def test_check_family_reports_each_asset_once(abort):
    """A refused code is an error with abort (else a warning); an unlinked asset a warning."""
    raw = {"source": {"property": "code"}, "pattern": PATTERN}
    mode = RulesMode.of({**raw, "abort_asset_creation_on_error": abort}, RULES)
    pim = FakePim({"jacket_001": "jackets", "shoe_001": "shoes"})
    assets = [
        SampledAsset("ok", "jacket_001_front"),
        SampledAsset("shoe", "shoe_001_back"),  # only the first rule finds it: linked
        SampledAsset("bad", "jacket001"),
        SampledAsset("gone", "jacket_999_front"),
    ]
    findings = await check_family(pim, FAMILY, mode, assets)
    bad = "error" if abort else "warning"
    # Without abort the refused code still gets its rules run: with no product_ref it links
    # nowhere, which is reported too.
    unlinked = [("gone", "warning")] if abort else [("bad", "warning"), ("gone", "warning")]
    expected = [("bad", bad), *unlinked]
    assert expected == [(f.asset_id, f.severity) for f in findings]
    assert "code 'jacket001' does not match the naming convention pattern" in findings[0].message
    assert PATTERN in findings[0].message
    assert 'rule 0 (sku EQUALS "jacket_999")' in findings[-1].message


async def test_a_pattern_python_cannot_run_is_one_family_warning():
    """Not one line per asset, and no rule verdict built on it."""
    mode = RulesMode.of({"source": {"property": "code"}, "pattern": "/x/D"}, RULES)
    findings = await check_family(FakePim({}), FAMILY, mode, [SampledAsset("a", "x")])
    assert [("warning", None)] == [(f.severity, f.asset_id) for f in findings]
    assert "cannot be checked here" in findings[0].message


class RefusingPim(FakePim):
    """A PIM that refuses the product search (422), as an older one may."""

    async def iter_products(
        self, search: Any, *, kind: str = "product", attributes: Sequence[str] | None = None
    ) -> AsyncIterator[Product]:
        raise PimRejected('Filter on property "identifier" is not supported', status_code=422)
        yield product("never")


async def test_a_search_the_pim_refuses_is_one_warning_and_keeps_the_convention_findings():
    """The convention's findings stay; the rules are reported as not checkable, not as wrong."""
    raw = {"source": {"property": "code"}, "pattern": PATTERN}
    mode = RulesMode.of({**raw, "abort_asset_creation_on_error": True}, RULES)
    assets = [SampledAsset("bad", "x"), SampledAsset("ok", "jacket_001_front")]
    findings = await check_family(RefusingPim({}), FAMILY, mode, assets)
    assert [("error", "bad"), ("warning", None)] == [(f.severity, f.asset_id) for f in findings]
    assert "the product link rules cannot be checked" in findings[1].message


class CountingPim(FakePim):
    """``count`` products of family jackets; remembers whether its listing was closed."""

    def __init__(self, count: int) -> None:
        super().__init__({f"p_{i}": "jackets" for i in range(count)})
        self.closed = False

    async def iter_products(
        self, search: Any, *, kind: str = "product", attributes: Sequence[str] | None = None
    ) -> AsyncIterator[Product]:
        try:
            async for found in super().iter_products(search, kind=kind, attributes=attributes):
                yield found
        finally:
            self.closed = True


@pytest.mark.parametrize(
    ("count", "verdict"), [(SCAN_LIMIT, "none"), (SCAN_LIMIT + 1, "unchecked")]
)
async def test_a_selection_without_identifier_reads_a_bounded_number_of_records(count, verdict):
    """Past SCAN_LIMIT records the asset is reported unchecked, and the listing is closed."""
    pim = CountingPim(count)
    selections = (Selection("family", "IN", ("jackets",)), Selection("name", "=", ("X",), "en_US"))
    check = RuleCheck(0, selections, plan_queries(selections, SKU)[:1])
    await run_checks(pim, [check])
    assert (verdict, True) == (check.verdict, pim.closed)
    assert (verdict == "unchecked") == ("not checked" in check.show())


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("notices", "'notices', an asset collection of 'notices', not of 'model_pictures'"),
        ("nope", "'nope', which is no asset collection"),
    ],
)
async def test_a_rule_assigning_to_no_collection_of_the_family_links_nothing(target, why):
    """One family line names the rule and why; the assets it alone would link are reported."""
    rules = (
        {**RULES[0], "assign_assets_to": [{"attribute": target, "mode": "add"}]},
        RULES[1],
    )
    pim = FakePim({"jacket_001": "jackets", "shoe_001": "shoes"})
    assets = [SampledAsset("jacket", "jacket_001_front"), SampledAsset("shoe", "shoe_001_back")]
    raw = {"source": {"property": "code"}, "pattern": PATTERN}
    findings = await check_family(pim, FAMILY, RulesMode.of(raw, rules), assets)
    assert [None, "shoe"] == [f.asset_id for f in findings]
    assert f"product link rule 0 links nothing: it assigns to {why}" in findings[0].message
