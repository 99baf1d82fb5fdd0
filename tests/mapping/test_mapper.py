"""The Mapper: family matching, codes, locale fan-out, channels, errors, hash, media."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from daemon.core.errors import MappingError
from daemon.core.records import DamAsset, PimValue
from daemon.mapping import (
    AssetKey,
    MappedAsset,
    Mapper,
    MappingFailed,
    MediaRequest,
    MissingOption,
    Unmatched,
    fill_media,
    load_mapping,
)
from daemon.mapping.codes import code_hash
from tests.mapping.factories import (
    CHANNELS,
    FAMILIES,
    WHEN,
    binary_of,
    image,
    mapper,
    pdf,
    with_binary,
)


def mapped(result: Any) -> MappedAsset:
    """Narrow a result to MappedAsset, showing the errors otherwise."""
    assert isinstance(result, MappedAsset), result
    return result


def failed(result: Any) -> MappingFailed:
    """Narrow a result to MappingFailed."""
    assert isinstance(result, MappingFailed), result
    return result


def values(result: Any, attribute: str) -> list[tuple[Any, str | None, str | None]]:
    """The (data, locale, channel) values of one attribute."""
    return [(v.data, v.locale, v.channel) for v in mapped(result).asset.values[attribute]]


MATCHING = {
    "unmatched": "skip",
    "families": [
        {"family": "notices", "match": {"mime_type": "application/pdf"}},
        {"family": "packshots", "match": {"tags_all": ["Studio"], "path": "/catalog/*"}},
        {"family": "packshots", "match": {"fields": [{"field": "metadata.sku", "regex": "^X-"}]}},
        {"family": "packshots", "match": {"type": ["photo"]}},
        {"family": "notices", "match": {"fields": [{"field": "metadata.colour", "in": ["red"]}]}},
        {"family": "packshots", "match": {"fields": [{"field": "metadata.width", "equals": 5}]}},
        {"family": "notices", "match": {"tags_any": ["eco", "kids"]}},
        {"family": "packshots", "match": {"fields": [{"field": "metadata.photo", "exists": True}]}},
        {"family": "notices", "match": {"fields": [{"field": "metadata.list", "equals": "b"}]}},
    ],
}


@pytest.mark.parametrize(
    ("metadata", "mime", "expected"),
    [
        ({}, "application/pdf", "notices"),
        ({}, "Application/PDF", "notices"),
        ({"tags": ["studio"], "folder": "/catalog/shoes"}, "image/png", "packshots"),
        ({"tags": ["studio"], "folder": "/marketing"}, "image/png", None),
        ({"sku": "X-1"}, "image/png", "packshots"),
        ({"sku": "Y-1"}, "image/png", None),
        ({"type": "photo"}, "image/png", "packshots"),
        ({"colour": "red"}, "image/png", "notices"),
        ({"width": "5"}, "image/png", "packshots"),
        ({"tags": ["KIDS"]}, "image/png", "notices"),
        ({"photo": "yes"}, "image/png", "packshots"),
        ({"photo": ""}, "image/png", None),
        ({"list": ["a", "b"]}, "image/png", "notices"),
        ({"list": {"b": 1}}, "image/png", None),
    ],
)
def test_family_matching_first_rule_wins(metadata, mime, expected):
    """Rules are tried in order and the first whose conditions all hold gives the family."""
    rules = load_mapping(MATCHING)
    asset = replace(image("a1"), metadata=metadata)
    asset = with_binary(asset, mime_type=mime)
    result = Mapper(rules, FAMILIES, CHANNELS).identify(asset)
    family = result.family if isinstance(result, AssetKey) else None
    assert expected == family


def test_unmatched_skip_is_a_counted_outcome_not_an_error():
    """With unmatched = "skip" an asset no rule matches is reported as Unmatched."""
    rules = load_mapping({"families": [{"family": "notices", "match": {"type": "nope"}}]})
    assert Unmatched("a1") == Mapper(rules, FAMILIES, CHANNELS).map_asset(image())


def test_unmatched_fail_is_a_per_asset_error():
    """With unmatched = "fail" the asset fails with a "no family rule matched" error."""
    rules = load_mapping(
        {"unmatched": "fail", "families": [{"family": "notices", "match": {"type": "x"}}]}
    )
    result = failed(Mapper(rules, FAMILIES, CHANNELS).map_asset(image()))
    assert ["asset 'a1', field 'family': no family rule matched"] == [str(e) for e in result.errors]


@pytest.mark.parametrize(
    ("template", "asset_id", "expected"),
    [
        ("{id}", "a1", "a1"),
        ("{metadata.sku}_{id}", "a1", f"SKU_00012_a1_h{code_hash('SKU-00012_a1')}"),
        ("p_{metadata.product_skus.1}", "a1", f"p_SKU_00013_h{code_hash('p_SKU-00013')}"),
        ("{{{id}}}", "a1", f"_a1__h{code_hash('{a1}')}"),
        ("{id}", "é-1", f"e_1_h{code_hash('é-1')}"),
    ],
)
def test_code_templates(template, asset_id, expected):
    """The code template is rendered from the asset then sanitised."""
    rules = load_mapping({"families": [{"family": "notices", "code": template}]})
    assert AssetKey("notices", expected) == Mapper(rules, FAMILIES, CHANNELS).identify(
        image(asset_id)
    )


def test_code_template_with_missing_field_fails_the_asset():
    """A missing template field is a per-asset error on the code."""
    rules = load_mapping({"families": [{"family": "notices", "code": "{metadata.nope}"}]})
    result = failed(Mapper(rules, FAMILIES, CHANNELS).map_asset(image()))
    assert ["code"] == [e.field for e in result.errors]


def test_locale_fan_out_keeps_active_locales_and_renames_keys():
    """A localized object gives one value per active locale; `locales` renames DAM keys."""
    m = mapper({"title": {"path": "metadata.title", "locales": {"en": "en_US"}}})
    asset = image(title={"en": "Shoe", "fr_FR": "Chaussure", "it_IT": "Scarpa"})
    assert [("Shoe", "en_US", None), ("Chaussure", "fr_FR", None)] == values(
        m.map_asset(asset), "title"
    )


@pytest.mark.parametrize(
    ("rule", "title", "expected"),
    [
        (
            {"locale": "*"},
            "Shoe",
            [("Shoe", "de_DE", None), ("Shoe", "en_US", None), ("Shoe", "fr_FR", None)],
        ),
        ({"locale": "fr_FR"}, "Chaussure", [("Chaussure", "fr_FR", None)]),
        ({"locale": "de_DE"}, {"de_DE": "Schuh", "en_US": "Shoe"}, [("Schuh", "de_DE", None)]),
    ],
)
def test_locale_fixed_or_all(rule, title, expected):
    """A scalar goes to one fixed locale, or to every active locale with "*"."""
    m = mapper({"title": {"path": "metadata.title", **rule}})
    assert expected == values(m.map_asset(image(title=title)), "title")


def test_non_localizable_attribute_picks_one_locale_key():
    """`locale` on a non-localizable attribute picks that key of a localized object."""
    m = mapper({"product_ref": {"path": "metadata.title", "locale": "fr_FR"}})
    assert [("Chaussure", None, None)] == values(m.map_asset(image()), "product_ref")


def test_scalar_for_localizable_attribute_without_locale_fails_clearly():
    """A plain value for a localizable attribute names the attribute and the way out."""
    result = failed(mapper({"title": "metadata.sku"}).map_asset(image()))
    assert "title" == result.errors[0].field
    assert "expected an object keyed by locale" in result.errors[0].reason


def test_two_dam_keys_for_one_locale_fail():
    """Renaming two DAM keys to the same locale is refused instead of picking one."""
    m = mapper({"title": {"path": "metadata.title", "locales": {"en": "en_US"}}})
    result = failed(m.map_asset(image(title={"en": "a", "en_US": "b"})))
    assert "two DAM keys give the locale 'en_US'" == result.errors[0].reason


SCOPED = {
    **FAMILIES,
    "packshots": replace(
        FAMILIES["packshots"],
        attributes={
            **FAMILIES["packshots"].attributes,
            "product_ref": replace(
                FAMILIES["packshots"].attributes["product_ref"], value_per_channel=True
            ),
            "title": replace(FAMILIES["packshots"].attributes["title"], value_per_channel=True),
        },
    ),
}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"path": "metadata.sku", "channel": "print"}, [("SKU-00012", None, "print")]),
        (
            {"path": "metadata.sku", "channel": "*"},
            [("SKU-00012", None, "ecommerce"), ("SKU-00012", None, "print")],
        ),
        (
            {"channels": {"ecommerce": {"path": "metadata.sku"}, "print": {"value": "P"}}},
            [("SKU-00012", None, "ecommerce"), ("P", None, "print")],
        ),
    ],
)
def test_channel_values(rule, expected):
    """A scopable attribute gets a fixed channel, every channel, or per-channel sources."""
    rules = load_mapping(
        {"families": [{"family": "packshots", "attributes": {"product_ref": rule}}]}
    )
    assert expected == values(Mapper(rules, SCOPED, CHANNELS).map_asset(image()), "product_ref")


def test_scopable_localizable_attribute_uses_each_channels_locales():
    """Per channel, only the locales active on that channel get a value."""
    rule = {"path": "metadata.title", "channel": "print"}
    rules = load_mapping({"families": [{"family": "packshots", "attributes": {"title": rule}}]})
    result = Mapper(rules, SCOPED, CHANNELS).map_asset(image())
    assert [("Running shoe", "en_US", "print"), ("Laufschuh", "de_DE", "print")] == values(
        result, "title"
    )


@pytest.mark.parametrize(
    ("rule", "metadata", "expected"),
    [
        ({"path": "metadata.sku", "transform": ["lower"]}, {}, "sku-00012"),
        ({"path": "metadata.sku", "transform": ["upper"]}, {"sku": "ab"}, "AB"),
        ({"path": "metadata.sku", "transform": ["strip"]}, {"sku": "  x "}, "x"),
        (
            {"path": "metadata.product_skus", "transform": [{"join": "|"}]},
            {},
            "SKU-00012|SKU-00013",
        ),
        ({"path": "metadata.product_skus", "transform": ["first"]}, {}, "SKU-00012"),
        ({"path": "metadata.sku", "transform": [{"split": "-"}, "first"]}, {}, "SKU"),
        ({"path": "metadata.nope", "transform": [{"default": "none"}]}, {}, "none"),
        ({"path": "metadata.sku", "transform": [{"extract": "-(\\d+)$"}]}, {}, "00012"),
        ({"template": "{metadata.sku}/{metadata.colour}"}, {}, "SKU-00012/red"),
        ({"value": "fixed"}, {}, "fixed"),
        ({"path": "binary.filename"}, {}, "a1.png"),
        ({"path": "updated_at"}, {}, "2026-03-01T12:00:00+00:00"),
    ],
)
def test_value_sources_and_transforms(rule, metadata, expected):
    """Paths, templates and constants feed the value, shaped by the transform steps."""
    result = mapper({"product_ref": rule}).map_asset(image(**metadata))
    assert [(expected, None, None)] == values(result, "product_ref")


@pytest.mark.parametrize(
    ("rule", "present"),
    [
        ({"path": "metadata.nope"}, False),
        ({"path": "metadata.sku", "transform": [{"extract": "^Z"}]}, False),
    ],
)
def test_missing_optional_value_is_left_out(rule, present):
    """A missing optional value is left out of the mapped values (the write may erase it)."""
    result = mapped(mapper({"product_ref": rule}).map_asset(image()))
    assert present == ("product_ref" in result.asset.values)


def test_missing_required_value_fails():
    """A missing required value is a per-asset error naming its source."""
    result = failed(
        mapper({"product_ref": {"path": "metadata.nope", "required": True}}).map_asset(image())
    )
    assert "required value is missing or empty (source metadata.nope)" == result.errors[0].reason


def test_all_problems_of_an_asset_are_collected_with_asset_field_and_reason():
    """Every bad value is reported, each naming asset, attribute, locale and reason."""
    m = mapper(
        {
            "title": {"path": "metadata.title"},
            "width": "metadata.width",
            "published": "metadata.published",
            "colour": "metadata.colour",
        }
    )
    asset = image(
        "bad1",
        title={"en_US": "x" * 300, "fr_FR": "ok"},
        width="wide",
        published="maybe",
        colour="green",
    )
    result = failed(m.map_asset(asset))
    assert [
        "asset 'bad1', field 'title[locale=en_US]': 300 characters, more than the maximum 255",
        "asset 'bad1', field 'width': 'wide' is not a number",
        "asset 'bad1', field 'published': 'maybe' is not a boolean"
        " (true/false, yes/no, 1/0, on/off)",
        "asset 'bad1', field 'colour': option 'green' does not exist (from 'green')"
        " (create it in the PIM or set create_missing_options)",
    ] == [str(e) for e in result.errors]
    assert {"family": "packshots", "attribute": "title", "locale": "en_US", "channel": None} == (
        result.errors[0].details
    )


def test_one_bad_asset_does_not_affect_the_next():
    """A failing asset leaves the mapper ready for the next one."""
    m = mapper({"width": "metadata.width"})
    assert isinstance(m.map_asset(image("a", width="wide")), MappingFailed)
    assert [("3", None, None)] == values(m.map_asset(image("b", width=3)), "width")


def test_missing_options_are_listed_when_creation_is_allowed():
    """With create_missing_options the asset maps and lists the options to create."""
    m = mapper({"tags": "metadata.tags"}, create_missing_options=True)
    result = mapped(m.map_asset(image(tags=["summer", "Beach Wear", "beach wear"])))
    assert (
        MissingOption("packshots", "tags", "beach_wear", "Beach Wear"),
    ) == result.missing_options
    assert [(["summer", "beach_wear"], None, None)] == values(result, "tags")


def test_media_requests_and_fill_media():
    """A media_file value is a request for the binary, filled with the uploaded code later."""
    result = mapped(mapper({"media": {"binary": True}}).map_asset(image()))
    request = MediaRequest("media", None, None, binary_of(image()))
    assert (request,) == result.media
    filled = fill_media(result, {request: "a/b/c_a1.png"})
    assert {"media": (PimValue("a/b/c_a1.png"),)} == dict(filled.values)


def test_fill_media_without_a_code_names_the_attribute():
    """A media request left without a code is an error, never a null that erases the value."""
    result = mapped(mapper({"media": {"binary": True}}).map_asset(image()))
    with pytest.raises(MappingError, match="field 'media': no media file code"):
        fill_media(result, {})


def test_fill_media_without_media_sends_the_mapped_values_as_they_are():
    """No media request (link mode): nothing to fill, so the mapped asset is sent, not a copy."""
    result = mapped(mapper({"title": "metadata.title"}).map_asset(image()))
    assert () == result.media
    assert fill_media(result, {}) is result.asset


@pytest.mark.parametrize(
    ("binary_change", "reason"),
    [
        ({"filename": "a1.gif"}, "file extension 'gif' is not allowed (png, jpg)"),
        ({"filename": "a1.png", "size": 3_000_000}, "3000000 bytes, over the 2 MB limit"),
    ],
)
def test_media_limits_are_checked_before_upload(binary_change, reason):
    """Allowed extensions and the size limit are checked before any upload."""
    families = {
        **FAMILIES,
        "packshots": replace(
            FAMILIES["packshots"],
            attributes={
                **FAMILIES["packshots"].attributes,
                "media": replace(FAMILIES["packshots"].attributes["media"], max_file_size="2"),
            },
        ),
    }
    rules = load_mapping(
        {"families": [{"family": "packshots", "attributes": {"media": {"binary": True}}}]}
    )
    asset = image()
    asset = with_binary(asset, **binary_change)
    result = failed(Mapper(rules, families, CHANNELS).map_asset(asset))
    assert reason == result.errors[0].reason


def test_required_media_without_binary_fails():
    """An asset without a binary fails a required media attribute."""
    m = mapper({"media": {"binary": True, "required": True}})
    result = failed(m.map_asset(replace(image(), binary=None)))
    assert "media" == result.errors[0].field


def test_config_problems_fail_the_assets_of_that_rule():
    """A rule that does not fit the PIM fails its assets with the config path, never silently."""
    result = failed(mapper({"nope": "metadata.sku"}).map_asset(image()))
    assert (
        "configuration problem at families[0].attributes.nope: "
        "attribute 'nope' does not exist in family 'packshots'"
    ) == result.errors[0].reason


FULL = {
    "title": "metadata.title",
    "tags": "metadata.tags",
    "width": "metadata.width",
    "media": {"binary": True},
}


def test_content_hash_is_stable_and_ignores_key_order():
    """The same content hashes the same, whatever the order of metadata keys and locales."""
    m = mapper(FULL)
    one = mapped(m.map_asset(image()))
    asset = image()
    shuffled = dict(reversed(list(asset.metadata.items())))
    shuffled["title"] = dict(reversed(list(asset.metadata["title"].items())))
    two = mapped(Mapper(m.rules, FAMILIES, CHANNELS).map_asset(replace(asset, metadata=shuffled)))
    assert one.content_hash == two.content_hash
    assert 64 == len(one.content_hash)


@pytest.mark.parametrize(
    "change",
    [
        {"title": {"en_US": "Other"}},
        {"tags": ["summer"]},
        {"width": 1201},
    ],
)
def test_content_hash_changes_with_any_value(change):
    """Any value change gives a different hash."""
    m = mapper(FULL)
    assert (
        mapped(m.map_asset(image())).content_hash
        != mapped(m.map_asset(image(**change))).content_hash
    )


def test_content_hash_changes_with_the_binary_and_the_code():
    """A new binary checksum or another asset code changes the hash."""
    m = mapper(FULL)
    base = image()
    other_binary = with_binary(base, checksum="d" * 64)
    hashes = {mapped(m.map_asset(a)).content_hash for a in (base, other_binary, image("a2"))}
    assert 3 == len(hashes)


def test_content_hash_without_checksum_follows_the_asset_change_time():
    """Without a checksum the binary's identity includes the asset's change time."""
    m = mapper({"media": {"binary": True}})
    base = image()
    base = with_binary(base, checksum=None)
    later = DamAsset(base.id, WHEN.replace(hour=13), metadata=base.metadata, binary=base.binary)
    assert mapped(m.map_asset(base)).content_hash != mapped(m.map_asset(later)).content_hash


def test_pdf_goes_to_notices_with_example_like_rules():
    """A PDF maps to notices with its localized title and media request."""
    rules = load_mapping(
        {
            "families": [
                {
                    "family": "notices",
                    "code": "notice_{id}",
                    "attributes": {"media": {"binary": True}, "title": "metadata.title"},
                }
            ]
        }
    )
    result = mapped(Mapper(rules, FAMILIES, CHANNELS).map_asset(pdf()))
    assert ("notices", "notice_d1") == (result.asset.family, result.asset.code)
    assert [("Data sheet", "en_US", None), ("Fiche", "fr_FR", None)] == values(result, "title")
