"""Helpers shared by the PIM simulator tests: an httpx client on the app and a token getter."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from daemon.sim.pim.options import PimSimOptions
from daemon.sim.pim.pim_app import create_pim_app

BASE = "http://localhost"
API = "/api/rest/v1"
BASIC = "Basic " + base64.b64encode(b"demo_client:demo_secret").decode()


class FakeClock:
    """A settable clock for token expiry and asset stamps."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 31, 9, 23, 34, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def get_token(client: httpx.AsyncClient) -> dict[str, Any]:
    """Run the password grant with the demo user and return the token document."""
    response = await client.post(
        "/api/oauth/v1/token",
        json={"grant_type": "password", "username": "demo", "password": "demo"},
        headers={"Authorization": BASIC},
    )
    assert 200 == response.status_code, response.text
    document: dict[str, Any] = response.json()
    return document


@asynccontextmanager
async def sim(
    seed: dict[str, Any] | None = None,
    *,
    clock: FakeClock | None = None,
    auth: bool = True,
    **options: Any,
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """Build the app, an httpx client on it (authenticated unless ``auth=False``)."""
    app = create_pim_app(seed, options=PimSimOptions(**options), clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        if auth:
            token = await get_token(client)
            client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield client, app


def ndjson(*lines: dict[str, Any]) -> str:
    """Encode objects as an NDJSON body without a trailing newline."""
    return "\n".join(json.dumps(line, separators=(",", ":")) for line in lines)


FAMILY_SEED: dict[str, Any] = {
    "locales": ["en_US", "fr_FR", "de_DE"],
    "channels": [
        {"code": "ecommerce", "locales": ["en_US", "fr_FR"]},
        {"code": "print", "locales": ["de_DE"]},
    ],
    "asset_families": [
        {
            "code": "packshots",
            "labels": {"en_US": "Packshots"},
            "attributes": [
                {
                    "code": "media",
                    "type": "media_file",
                    "media_type": "image",
                    "allowed_extensions": ["png", "jpg"],
                    "max_file_size": "0.001",
                },
                {"code": "title", "type": "text", "value_per_locale": True, "max_characters": 10},
                {"code": "email", "type": "text", "validation_rule": "email"},
                {
                    "code": "sku",
                    "type": "text",
                    "validation_rule": "regexp",
                    "validation_regexp": "/^[A-Z]+$/",
                },
                {"code": "tags", "type": "multiple_options"},
                {"code": "colour", "type": "single_option"},
                {"code": "width", "type": "number", "min_value": "0", "max_value": "100"},
                {"code": "ratio", "type": "number", "decimals_allowed": True},
                {
                    "code": "dam_url",
                    "type": "media_link",
                    "media_type": "image",
                    "prefix": "https://dam.example/",
                    "suffix": "?w=100",
                },
                {
                    "code": "banner",
                    "type": "text",
                    "value_per_channel": True,
                    "value_per_locale": True,
                },
                {"code": "published", "type": "boolean"},
                {"code": "shot_on", "type": "date"},
            ],
            "options": {
                "tags": [{"code": "summer"}, {"code": "winter"}],
                "colour": [{"code": "red"}],
            },
        }
    ],
    "product_attributes": [
        {
            "code": "description",
            "type": "pim_catalog_textarea",
            "localizable": True,
            "scopable": True,
        },
        {
            "code": "packshots",
            "type": "pim_catalog_asset_collection",
            "reference_data_name": "packshots",
        },
    ],
    "products": [{"identifier": "cap", "values": {}}],
}
