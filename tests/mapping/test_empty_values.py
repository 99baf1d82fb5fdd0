"""Empty DAM values (``""``, ``[]``, blank option labels) mean "no value", never an error."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.mapping import MappedAsset, Mapper, MappingFailed, load_mapping
from tests.mapping.factories import CHANNELS, FAMILIES, image

RULES: dict[str, Any] = {
    "create_missing_options": True,
    "families": [
        {
            "family": "packshots",
            "attributes": {
                "description": {"path": "metadata.description"},
                "tags": {"path": "metadata.tags", "transform": ["lower"]},
                "colour": {"path": "metadata.colour"},
                "product_ref": {"path": "metadata.sku"},
            },
        }
    ],
}
REQUIRED: dict[str, Any] = {
    "families": [
        {
            "family": "packshots",
            "attributes": {"description": {"path": "metadata.description", "required": True}},
        }
    ]
}


def _mappers(rules: dict[str, Any]) -> list[Mapper]:
    """The fast steps and the reference, which must agree on every case."""
    mapping = load_mapping(rules)
    return [Mapper(mapping, FAMILIES, CHANNELS), Mapper(mapping, FAMILIES, CHANNELS, fast=False)]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize(
    ("metadata", "attribute", "expected"),
    [
        ({"description": ""}, "description", None),
        ({"description": []}, "description", None),
        ({"tags": ["", "Summer", "  "]}, "tags", [(["summer"], None)]),
        ({"tags": ["", None]}, "tags", None),
        ({"colour": "  "}, "colour", None),
        ({"colour": [""]}, "colour", None),
        ({"sku": "\x00\x01"}, "product_ref", None),
    ],
)
def test_empty_values_drop_out_of_the_mapped_values(metadata, attribute, expected, fast):
    """An empty string, an empty list or blank option labels give no value, and no error."""
    mapper = _mappers(RULES)[0 if fast else 1]
    result = mapper.map_asset(image(**metadata))
    assert isinstance(result, MappedAsset), result
    found = result.asset.values.get(attribute)
    actual = None if found is None else [(v.data, v.locale) for v in found]
    assert expected == actual


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("empty", ["", []])
def test_an_empty_required_value_fails_as_missing(empty, fast):
    """A required value given empty fails as missing, not as a shape problem."""
    mapper = _mappers(REQUIRED)[0 if fast else 1]
    result = mapper.map_asset(image(description=empty))
    assert isinstance(result, MappingFailed), result
    expected = ["required value is missing or empty (source metadata.description)"]
    assert expected == [e.reason for e in result.errors]
