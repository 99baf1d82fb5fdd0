"""The webhook examples in config/sources/ validate and work; bad webhook settings are refused."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from daemon.core.config_model import format_validation_error
from daemon.intake.extract import EventReader
from daemon.intake.webhook_app import build_webhook_app
from daemon.settings.event_intake import EventFields, EventSettings, WebhookSettings

from .webhook_kit import (
    CERT_URL,
    NOW,
    Clock,
    FakePersist,
    FakeSnsHttp,
    RecordingObserver,
    SnsSigner,
    client,
    cloudinary_headers,
)

SOURCES = Path(__file__).resolve().parents[2] / "config" / "sources"
ENV = {name: f"secret-{name.lower()}" for name in [
    "CLOUDINARY_API_SECRET", "FRONTIFY_WEBHOOK_SECRET", "CANTO_UPDATE_TOKEN",
    "CANTO_VERSION_TOKEN", "ACQUIA_WEBHOOK_SECRET", "DAM_WEBHOOK_TOKEN",
]}  # fmt: skip
ENV["DAM_WEBHOOK_SECRET"] = "whsec_c2VjcmV0LWtleQ=="
ENV["DAM_WEBHOOK_SECRET_NEXT"] = "whsec_bmV4dC1rZXk="


def commented_block(name: str) -> dict[str, Any]:
    """The TOML between `# >>> webhook` and `# <<< webhook` in a source example, uncommented."""
    text = (SOURCES / name).read_text()
    block = text.split("# >>> webhook\n", 1)[1].split("# <<< webhook", 1)[0]
    lines = [line.removeprefix("#").removeprefix(" ") for line in block.splitlines()]
    table: dict[str, Any] = tomllib.loads("\n".join(lines))["sources"]
    return table


def markdown_blocks() -> list[dict[str, Any]]:
    text = (SOURCES / "webhook-examples.md").read_text()
    return [tomllib.loads(b)["sources"] for b in re.findall(r"```toml\n(.*?)```", text, re.S)]


def validated(table: dict[str, Any]) -> tuple[WebhookSettings, EventFields]:
    webhook = WebhookSettings.model_validate(table["webhook"], context={"environ": ENV})
    fields = EventFields.model_validate(table["events"])
    EventReader("example", fields)  # its paths compile
    return webhook, fields


@pytest.mark.parametrize("table", markdown_blocks() + [commented_block("bynder.toml")])
def test_examples_validate(table):
    """Every example block of webhook-examples.md and bynder.toml is valid configuration."""
    validated(table)


def test_markdown_has_every_dam():
    """The examples cover the four styles."""
    styles = {validated(t)[0].style for t in markdown_blocks()}
    assert {"standard", "hmac", "token"} <= styles
    assert 5 == len(markdown_blocks())


async def test_bynder_example_end_to_end():
    """The Bynder block reads a signed SNS deletion of one media id."""
    table = commented_block("bynder.toml")
    table["webhook"]["topic_arns"] = ["arn:aws:sns:eu-west-1:123456789012:bynder"]
    signer = SnsSigner.create()
    persist = FakePersist()
    app = build_webhook_app(
        {"bynder": validated(table)},
        EventSettings(),
        persist,
        RecordingObserver(),
        clock=Clock(),
        sns_http=FakeSnsHttp({}),
    )
    app.state.webhooks.certificates.put(CERT_URL, signer.pem)
    envelope = signer.envelope({"media_id": "9542A933"}, subject="asset_bank.media.deleted")
    async with client(app) as http:
        response = await http.post("/webhooks/bynder", content=json.dumps(envelope))
    assert 200 == response.status_code
    [event] = persist.events
    assert (("9542A933",), "deleted") == (event.dam_ids, event.kind)


async def test_cloudinary_example_end_to_end():
    """The Cloudinary block verifies a real-shaped deletion notification."""
    persist = FakePersist()
    app = build_webhook_app(
        {"cloudinary": validated(commented_block("cloudinary.toml"))},
        EventSettings(),
        persist,
        RecordingObserver(),
        clock=Clock(),
    )
    body = json.dumps(
        {
            "notification_type": "delete",
            "resources": [{"resource_type": "image", "type": "upload", "asset_id": "c1"}],
        }
    ).encode()
    headers = cloudinary_headers(body, NOW, ENV["CLOUDINARY_API_SECRET"])
    async with client(app) as http:
        assert (
            200
            == (await http.post("/webhooks/cloudinary", content=body, headers=headers)).status_code
        )
        headers["X-Cld-Signature"] = "0" * 40
        assert (
            401
            == (await http.post("/webhooks/cloudinary", content=body, headers=headers)).status_code
        )
    [event] = persist.events
    assert (("c1",), "deleted") == (event.dam_ids, event.kind)


@pytest.mark.parametrize(
    "webhook",
    [
        {"style": "standard", "secrets": ["whsec_not base64!"]},
        {"style": "hmac"},
        {"style": "token", "secrets": ["t"]},
        {"style": "token", "secrets": ["t"], "token_header": "X", "token_path": "a"},
        {"style": "sns", "cert_hosts": ["sns.(unclosed"]},
    ],
)
def test_bad_webhook_settings(webhook):
    """Settings that could never verify anything are refused at load, quoting no secret."""
    with pytest.raises(ValidationError) as caught:
        WebhookSettings.model_validate(webhook)
    assert "not base64!" not in format_validation_error(caught.value)
