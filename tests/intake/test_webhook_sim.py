"""
The DAM simulator's signed webhooks (written from the same references, not from this code) are
accepted by the webhook app, every asset of a tick arriving with the right kind.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from daemon.intake.sns_envelope import canonical_string
from daemon.intake.webhook_app import build_webhook_app
from daemon.settings.event_intake import EventFields, EventSettings, WebhookSettings
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.dam.event_options import DEMO_SECRETS, EventFeedOptions
from daemon.sim.dam.event_shapes import EventStyle

from .webhook_kit import Clock, FakePersist, RecordingObserver

STYLES: dict[EventStyle, tuple[dict[str, Any], EventFields]] = {
    "standard": (
        {"style": "standard"},
        EventFields(ids="data.id", kind="type", deleted=["asset.deleted"]),
    ),
    "cloudinary": (
        {
            "style": "hmac",
            "signature_header": "X-Cld-Signature",
            "timestamp_header": "X-Cld-Timestamp",
            "algorithm": "sha1",
            "digest": "append_secret",
        },
        EventFields(
            ids="asset_id | resources[].asset_id", kind="notification_type", deleted=["delete"]
        ),
    ),
    "frontify": (
        {"style": "hmac", "signature_header": "X-Frontify-Webhook-Signature", "encoding": "base64"},
        EventFields(ids="event.payload[].assetId", kind="event.action", deleted=["ASSET_DELETED"]),
    ),
    "canto": ({"style": "token", "token_path": "secure_token"}, EventFields(ids="id")),
}


async def _tick(
    style: EventStyle, receiver: httpx.AsyncBaseTransport, clock: Clock, **extra: Any
) -> Any:
    events = EventFeedOptions(
        style=style, webhook_url=f"http://damsync.test/webhooks/{style}", concurrency=1, **extra
    )
    app = create_dam_app(
        DamSimOptions(assets=30), clock=clock, events=events, event_transport=receiver
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")
    async with client, app.state.events as feed:
        tick = (await client.post("/_sim/tick")).json()
        await feed.wait_idle(10)
        cert = await client.get("/_sim/sns/cert.pem")
    return tick, cert.content


@pytest.mark.parametrize("style", sorted(STYLES))
async def test_simulator_webhooks_are_accepted(style):
    """Every event of a simulated tick is verified, read and persisted with its kind."""
    webhook, fields = STYLES[style]
    settings = WebhookSettings.model_validate({**webhook, "secrets": [DEMO_SECRETS[style]]})
    persist, observer, clock = FakePersist(), RecordingObserver(), Clock()
    app = build_webhook_app(
        {style: (settings, fields)}, EventSettings(), persist, observer, clock=clock
    )
    tick, _ = await _tick(style, httpx.ASGITransport(app=app), clock)
    assert [] == observer.rejected
    kinds = [e.kind for e in persist.events]
    # Canto sends no kind: its deletions arrive as changes (config/sources/webhook-examples.md).
    deletions = 0 if style == "canto" else len(tick["deleted"])
    assert deletions == kinds.count("deleted")
    assert sum(len(tick[k]) for k in ("added", "changed", "deleted")) == len(kinds)
    if style in ("standard", "frontify"):  # Cloudinary names its own asset_id
        deleted = {i for e in persist.events if e.kind == "deleted" for i in e.dam_ids}
        assert set(tick["deleted"]) == deleted


@pytest.mark.parametrize(("version", "digest"), [("1", hashes.SHA1()), ("2", hashes.SHA256())])
async def test_simulator_sns_canonical_string(version, digest):
    """The string this code verifies is the one the simulator's SNS envelopes are signed over."""
    requests: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200)

    _, pem = await _tick("bynder", httpx.MockTransport(receive), Clock(), sns_version=version)
    key = x509.load_pem_x509_certificate(pem).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert requests
    for request in requests:
        envelope = json.loads(request.content)
        signature = base64.b64decode(envelope["Signature"])
        key.verify(signature, canonical_string(envelope), padding.PKCS1v15(), digest)
