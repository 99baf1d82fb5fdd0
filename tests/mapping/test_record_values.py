"""``record`` attributes: one reference entity record code per value (SaaS, reference §3/§4.6)."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.core.records import DamAsset, PimValue
from daemon.mapping import MappedAsset, Mapper, MappingFailed, load_mapping
from daemon.mapping.convert import build_converter
from daemon.mapping.paths import ValueProblem
from daemon.mapping.validate import validate_rules
from tests.mapping.factories import CHANNELS, WHEN, attribute, family

BRANDS = family(
    "brands",
    attribute("brand", "record", reference_entity="brand"),
    attribute("maker", "record", reference_entity="brand", value_per_locale=True),
)


def convert(value: Any, **options: str) -> Any:
    return build_converter(BRANDS.attributes["brand"], BRANDS, options=options)(value, [])


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        ("nike", {}, "nike"),
        ("  Nike_2 ", {}, "Nike_2"),
        (["adidas"], {}, "adidas"),
        ("Nike", {"Nike": "nike"}, "nike"),
        (12, {}, "12"),
        ("", {}, None),
    ],
)
def test_a_record_code_is_sent_as_given(value, options, expected):
    assert expected == convert(value, **options)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (["a", "b"], "expected one record code, got 2"),
        ("two words", "contains spaces"),
        ({"code": "x"}, "expected a single value"),
    ],
)
def test_what_cannot_be_a_record_code_is_refused(value, reason):
    with pytest.raises(ValueProblem, match=reason):
        convert(value)


def test_record_values_map_per_locale_like_any_value():
    rules = load_mapping(
        {
            "families": [
                {
                    "family": "brands",
                    "attributes": {"brand": "metadata.brand", "maker": "metadata.maker"},
                }
            ]
        }
    )
    mapper = Mapper(rules, {"brands": BRANDS}, CHANNELS)
    asset = DamAsset("a1", WHEN, metadata={"brand": "nike", "maker": {"en_US": "acme"}})
    result = mapper.map_asset(asset)
    assert isinstance(result, MappedAsset), result
    assert (PimValue("nike"),) == tuple(result.asset.values["brand"])
    assert (PimValue("acme", "en_US"),) == tuple(result.asset.values["maker"])
    bad = mapper.map_asset(DamAsset("a2", WHEN, metadata={"brand": "no such"}))
    assert isinstance(bad, MappingFailed)
    assert ("brand", "a2") == (bad.errors[0].field, bad.errors[0].asset_id)


def test_validate_rules_accepts_record_attributes():
    rules = load_mapping({"families": [{"family": "brands", "attributes": {"brand": "id"}}]})
    assert [] == validate_rules(rules, {"brands": BRANDS}, CHANNELS)
