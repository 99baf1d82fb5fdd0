"""Rule loading and validate_rules: every problem with its config path; the shipped example."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from daemon.core.errors import ConfigError
from daemon.mapping import ConfigProblem, MappedAsset, Mapper, load_mapping, validate_rules
from daemon.mapping.paths import ValueProblem, compile_template, parse_path
from tests.mapping.factories import CHANNELS, FAMILIES, image

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "mapping.toml"
PREFIX = "sources[0].mapping"


def problems(attributes: dict[str, Any], family: str = "packshots", **mapping: Any) -> list[str]:
    """Validate one family rule and return "path: message" lines."""
    rules = load_mapping({"families": [{"family": family, "attributes": attributes}], **mapping})
    return [
        f"{p.path}: {p.message}" for p in validate_rules(rules, FAMILIES, CHANNELS, prefix=PREFIX)
    ]


BASE = f"{PREFIX}.families[0]"


@pytest.mark.parametrize(
    ("attributes", "family", "expected"),
    [
        ({}, "nope", [f"{BASE}.family: asset family 'nope' does not exist"]),
        (
            {"ghost": "metadata.x"},
            "packshots",
            [f"{BASE}.attributes.ghost: attribute 'ghost' does not exist in family 'packshots'"],
        ),
        (
            {"media": "binary.url"},
            "packshots",
            [
                f"{BASE}.attributes.media: "
                "a media_file attribute takes the asset binary: binary = true"
            ],
        ),
        (
            {"title": {"binary": True, "locale": "*"}},
            "packshots",
            [f"{BASE}.attributes.title: binary = true needs a media_file attribute, not text"],
        ),
        (
            {"title": {"path": "metadata.t", "locale": "it_IT"}},
            "packshots",
            [f"{BASE}.attributes.title.locale: locale 'it_IT' is not active"],
        ),
        (
            {"title": {"path": "metadata.t", "locales": {"it": "it_IT"}}},
            "packshots",
            [f"{BASE}.attributes.title.locales.it: locale 'it_IT' is not active"],
        ),
        (
            {"product_ref": {"path": "metadata.t", "locale": "*"}},
            "packshots",
            [f'{BASE}.attributes.product_ref.locale: locale = "*" needs a localizable attribute'],
        ),
        (
            {"title": {"value": "x"}},
            "packshots",
            [f'{BASE}.attributes.title.locale: localizable: set locale (a code or "*")'],
        ),
        (
            {"product_ref": {"path": "metadata.sku", "channel": "print"}},
            "packshots",
            [
                f"{BASE}.attributes.product_ref: "
                "attribute 'product_ref' is not scopable: remove channel(s)"
            ],
        ),
        (
            {"width": {"value": "wide"}},
            "packshots",
            [f"{BASE}.attributes.width.value: 'wide' is not a number"],
        ),
        (
            {"colour": {"path": "metadata.colour", "options": {"Rouge": "rouge"}}},
            "packshots",
            [f"{BASE}.attributes.colour.options.Rouge: option 'rouge' does not exist"],
        ),
    ],
)
def test_validate_rules_problems_name_their_config_path(attributes, family, expected):
    """Each mismatch with the PIM structure is reported with its full config path."""
    assert expected == problems(attributes, family)


def test_validate_rules_option_policy():
    """An option attribute with no options in the PIM and no creation allowed is a problem."""
    families = {
        "packshots": replace(FAMILIES["packshots"], options={}),
    }
    rules = load_mapping(
        {"families": [{"family": "packshots", "attributes": {"tags": "metadata.tags"}}]}
    )
    found = validate_rules(rules, families, CHANNELS)
    assert [
        ConfigProblem(
            "mapping.families[0].attributes.tags",
            "the attribute has no options in the PIM and create_missing_options is false: "
            "every value would be refused",
        )
    ] == found
    assert [] == problems({"tags": "metadata.tags"}, create_missing_options=True)


def test_validate_rules_scopable_attribute_needs_a_channel():
    """A scopable attribute mapped without channel is a problem; unknown channels too."""
    attrs = dict(FAMILIES["packshots"].attributes)
    attrs["product_ref"] = replace(attrs["product_ref"], value_per_channel=True)
    families = {"packshots": replace(FAMILIES["packshots"], attributes=attrs)}
    rules = load_mapping(
        {
            "families": [
                {"family": "packshots", "attributes": {"product_ref": "metadata.sku"}},
                {
                    "family": "packshots",
                    "attributes": {"product_ref": {"path": "metadata.sku", "channel": "web"}},
                },
            ]
        }
    )
    assert [
        ConfigProblem(
            "m.families[0].attributes.product_ref",
            'attribute is scopable: set channel (a code or "*") or channels',
        ),
        ConfigProblem(
            "m.families[1].attributes.product_ref.channel", "channel 'web' does not exist"
        ),
    ] == validate_rules(rules, families, CHANNELS, prefix="m")


def test_validate_rules_unsupported_type_and_bad_regexp():
    """Unsupported attribute types and PIM regexps Python cannot check are problems."""
    attrs = dict(FAMILIES["packshots"].attributes)
    attrs["ref"] = replace(attrs["product_ref"], code="ref", type="auto_tagging")
    attrs["product_ref"] = replace(
        attrs["product_ref"], validation_rule="regexp", validation_regexp="/(/"
    )
    families = {"packshots": replace(FAMILIES["packshots"], attributes=attrs)}
    rules = load_mapping(
        {"families": [{"family": "packshots", "attributes": {"ref": "id", "product_ref": "id"}}]}
    )
    messages = [p.message for p in validate_rules(rules, families, CHANNELS)]
    assert "attribute type 'auto_tagging' is not supported" == messages[0]
    assert messages[1].startswith("regexp '/(/' cannot be checked")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"families": []}, f"{PREFIX}.families: List should have at least 1 item"),
        (
            {"families": [{"family": "p", "code": "{id"}]},
            f"{PREFIX}.families[0].code: Value error, unbalanced",
        ),
        (
            {"families": [{"family": "p", "attributes": {"t": {"path": "sku"}}}]},
            f"{PREFIX}.families[0].attributes.t.path: Value error, path 'sku' must be",
        ),
        (
            {"families": [{"family": "p", "attributes": {"t": {"path": "id", "value": 1}}}]},
            f"{PREFIX}.families[0].attributes.t: Value error, set exactly one of",
        ),
        (
            {"families": [{"family": "p", "match": {"fields": [{"field": "id"}]}}]},
            f"{PREFIX}.families[0].match.fields[0]: Value error, set exactly one of equals",
        ),
        (
            {"families": [{"family": "p", "match": {"fields": [{"field": "id", "regex": "("}]}}]},
            f"{PREFIX}.families[0].match.fields[0].regex: Value error, invalid regular expression",
        ),
        (
            {"families": [{"family": "p"}], "unmatched": "drop"},
            f"{PREFIX}.unmatched: Input should be",
        ),
        ({"families": [{"family": "p", "typo": 1}]}, f"{PREFIX}.families[0].typo: Extra inputs"),
    ],
)
def test_load_mapping_errors_name_the_config_path(data, expected):
    """Syntax errors are ConfigErrors whose lines name the config path."""
    with pytest.raises(ConfigError) as info:
        load_mapping(data, prefix=PREFIX)
    assert str(info.value).startswith(expected), str(info.value)
    assert info.value.key is not None and expected.startswith(info.value.key)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id", ("id",)),
        ("binary.filename", ("binary", "filename")),
        ("metadata.title.en_US", ("metadata", "title", "en_US")),
        ("metadata.skus.0", ("metadata", "skus", "0")),
    ],
)
def test_parse_path(text, expected):
    """Paths name DamAsset fields or metadata keys and list indexes."""
    assert expected == parse_path(text)


@pytest.mark.parametrize(
    "text", ["sku", "metadata", "binary.secret", "metadata..x", "", "deleted.x"]
)
def test_parse_path_refuses_unknown_roots(text):
    """Anything else is refused at load time, with the accepted forms in the message."""
    with pytest.raises(ValueError, match="path"):
        parse_path(text)


def test_template_with_object_field_is_a_value_problem():
    """A template field that is an object or a list cannot be rendered silently."""
    render = compile_template("{metadata.title}")
    with pytest.raises(ValueProblem, match="got an object"):
        render(image())


def test_example_config_loads_validates_and_maps():
    """The shipped example loads, fits the demo families, and maps a demo image and PDF."""
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    rules = load_mapping(data["sources"][0]["mapping"], prefix=PREFIX)
    assert [] == validate_rules(rules, FAMILIES, CHANNELS, prefix=PREFIX)
    mapper = Mapper(rules, FAMILIES, CHANNELS)
    result = mapper.map_asset(image())
    assert isinstance(result, MappedAsset)
    assert {
        "media",
        "title",
        "description",
        "tags",
        "colour",
        "product_ref",
        "width",
        "dam_url",
        "published",
    } == set(result.asset.values)
