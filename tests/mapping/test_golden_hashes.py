"""
Golden values: the content hash and PIM body of a few assets, as computed before issue 16.

Every deployment stores each asset's content hash: a byte of difference in the canonical text
for the same input would make every asset look changed after an upgrade (all re-sent). These
values were computed by the code before the write path was optimised; they must never change.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from daemon.core.records import BinaryRef, DamAsset
from daemon.mapping import MappedAsset, Mapper, MappingFailed, load_mapping
from tests.mapping.factories import CHANNELS, FAMILIES, WHEN, image
from tests.mapping.test_fast import EXTRA, RULES

# The link-mode benchmark's rules (bench/harness.py LINK_MAPPING).
LINK_RULES: dict[str, Any] = {
    "unmatched": "skip",
    "create_missing_options": True,
    "families": [
        {
            "family": "packshots",
            "code": "{id}",
            "attributes": {
                "title": {"path": "metadata.title", "transform": ["strip"]},
                "description": {"path": "metadata.description"},
                "tags": {"path": "metadata.tags", "transform": ["lower"]},
                "colour": {"path": "metadata.colour"},
                "product_ref": "metadata.sku",
                "width": {"path": "metadata.width"},
                "dam_url": {"path": "binary.url"},
                "published": {"path": "metadata.published", "transform": [{"default": False}]},
            },
        }
    ],
}


def _assets() -> list[DamAsset]:
    pdf = BinaryRef(
        url="https://cdn.other/x.pdf?sig=s", filename="x.pdf", mime_type="application/pdf"
    )
    return [
        image("a1"),
        image("b/2", tags=["Summer", "Dark Red"], colour="Blue", width="12", published="yes"),
        image("g7", width="12.5", tags=["new", "sale", "summer"], colour=" red "),
        image("c3", title={"en_US": " Zoë ", "de_DE": "Schuh\tneu"}, description=None, tags=[]),
        image("d4", width=7, published=None, colour="grey", title={"en_US": "T"}),
        image("Café", sku="abc", url="https://dam.example/a.png", flag="off", day="2026-01-02"),
        DamAsset(
            "e5",
            WHEN,
            metadata={"title": {"fr_FR": "Notice"}, "sku": "abc", "width": 50, "text": ["n"]},
            binary=pdf,
        ),
        DamAsset("f6", WHEN, metadata={"title": "T"}, binary=BinaryRef(url="https://x/y.png")),
    ]


def _digest(mapper: Mapper, asset: DamAsset) -> tuple[str, str]:
    """The stored content hash and a digest of the PIM body (media placeholders named)."""
    result = mapper.map_asset(asset)
    if isinstance(result, MappingFailed):
        return "failed", "; ".join(f"{e.field}: {e.reason}" for e in result.errors)
    if not isinstance(result, MappedAsset):
        return result.kind, ""
    body = orjson.dumps(
        [result.asset.family, result.asset.to_json()],
        default=lambda r: [r.attribute, r.locale, r.channel, r.binary.url],
    )
    return result.content_hash, hashlib.sha256(body).hexdigest()[:16]


def _mappers() -> dict[str, Mapper]:
    rich, link = load_mapping(RULES), load_mapping(LINK_RULES)
    families = {**FAMILIES, "extra": EXTRA}
    return {
        "rich": Mapper(rich, families, CHANNELS),
        "rich-reference": Mapper(rich, families, CHANNELS, fast=False),
        "link": Mapper(link, FAMILIES, CHANNELS),
    }


GOLDEN: dict[str, list[tuple[str, str]]] = {
    "link": [
        ("2fc6326cd8af9f72393eeb8cf17647126f24a5f7598fe7c505f73ce942b73ec5", "e28f7dc15918aecb"),
        ("55b99ae55c0ec715963ec18a4579958ed60be0f91522ffda658234e6c2d951ae", "d862b2dc6c995a56"),
        ("failed", "width: 12.5 has decimals, which the attribute refuses"),
        ("7b776553a12aa5eff83a93fe2665e848fc9b001e1002ce71681fe6c92e056917", "3c322f5a8169a886"),
        ("c3fe6ac79d2557e0813e60360d87184fa97c72986a54ea623e75e5d5db68199a", "90462c6c84ad436f"),
        ("7f973b585653062ac29e94cca7051b601bf1e46e7239d772e8f93d112dfc92a5", "ee7fe18331932453"),
        (
            "failed",
            "dam_url: URL 'https://cdn.other/x.pdf?...' does not start with the prefix "
            "'https://dam.example/'",
        ),
        (
            "failed",
            "title: the attribute is localizable: expected an object keyed by locale, got 'T' "
            "(or set locale to a code or \"*\"); dam_url: URL 'https://x/y.png' does not start "
            "with the prefix 'https://dam.example/'",
        ),
    ],
    "rich": [
        ("60015781787d9f4f4d35f1a428161558e0c712d655c0c70f48011b4c791b0fcd", "fbad5a28ec05b7b0"),
        ("c8aa15565a899d0853bc4da3160e8ca6221d6bfbb28825ac730530f5ae62e24f", "97372e35353b75f9"),
        ("failed", "width: 12.5 has decimals, which the attribute refuses"),
        ("1505cf89a257e9b00fdcb2cc2746dbb659b328fbe8f1fc34ed525f5504c8f9ac", "4d37c63d197b3cf3"),
        ("ab6c5be0bd6813630225d1ed4f7ad497091a4d621ca7d76755cb86c9a4126944", "93b4ec5eee75af06"),
        ("1e54f95cc30add2d236270e5c2ad2f75c334315685380c2f767cc890baba6243", "6f65d8ca5589819f"),
        ("1ccedbc49a56f738f25edc4056221d6bb5cb20f5d49b827be5be6f65c413df95", "59947ad7cb856e32"),
        ("unmatched", ""),
    ],
}


@pytest.mark.parametrize("name", ["rich", "rich-reference", "link"])
def test_hashes_and_bodies_are_those_computed_before_issue_16(name: str) -> None:
    """Same input, byte-identical content hash and PIM body as before the optimisation."""
    mapper = _mappers()[name]
    got = [_digest(mapper, asset) for asset in _assets()]
    assert GOLDEN[name.removesuffix("-reference")] == got
