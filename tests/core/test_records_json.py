"""PimAsset/PimValue as the API's JSON: keys, order and fresh structures."""

from __future__ import annotations

import json

from daemon.core.records import PimAsset, PimValue


def asset() -> PimAsset:
    return PimAsset(
        "packshots",
        "sku_1",
        {"title": (PimValue("é", "fr_FR", "web"), PimValue("x")), "tags": [PimValue(["a"])]},
    )


def test_an_asset_is_its_code_and_each_value_with_all_three_keys():
    expected = {
        "code": "sku_1",
        "values": {
            "title": [
                {"locale": "fr_FR", "channel": "web", "data": "é"},
                {"locale": None, "channel": None, "data": "x"},
            ],
            "tags": [{"locale": None, "channel": None, "data": ["a"]}],
        },
    }
    body = asset().to_json()
    assert json.dumps(expected) == json.dumps(body)  # key order too
    assert [v.to_json() for v in asset().values["title"]] == body["values"]["title"]


def test_to_json_returns_fresh_structures():
    """A caller (the dry-run preview) rewrites the data in place: the asset stays as it was."""
    record = asset()
    body = record.to_json()
    body["values"]["title"][0]["data"] = "changed"
    body["values"]["title"].append({})
    assert "é" == record.to_json()["values"]["title"][0]["data"]
    assert 2 == len(record.to_json()["values"]["title"])
