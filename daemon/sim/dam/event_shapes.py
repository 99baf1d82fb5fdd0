"""
What the simulated DAM sends when an asset changes, in each DAM's own shape.

A store change (``DamStore.listeners``) becomes a :class:`Change`; :class:`EventRenderer`
turns it into an :class:`Envelope`: the exact body bytes and the headers that never change
between attempts. Per-attempt headers (timestamps and the signatures over them) come from
:meth:`EventRenderer.attempt_headers`. Duplicates and retries resend the same bytes, as real
producers do. Shapes (docs/dam-simulator.md, "Events"):

- ``standard`` (the generic DAM, Standard Webhooks): ``{"type": "asset.created|updated|
  deleted", "timestamp", "data": {"id", "version", "file_version", "updated_at"}}``.
- ``bynder``: an SNS envelope (``Subject`` ``asset_bank.media.create|updated|meta_updated|
  deleted``, ``Message`` = ``{"media_id": id}`` as a JSON string), signed with RSA.
- ``cloudinary``: ``notification_type`` ``upload`` with ``asset_id``/``public_id`` at the top,
  or ``delete`` with ``resources[]``; signed with ``X-Cld-Signature``.
- ``frontify``: ``{"event": {"action": "ASSET_CREATED|UPDATED|DELETED", "payload":
  [{"assetId"}]}, "meta"}``; signed with ``X-Frontify-Webhook-Signature``.
- ``canto``: ``{"secure_token", "scheme", "album", "displayname", "id", "time"}`` (no signature).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from daemon.sim.dam.dataset import AssetRecord, DamStore, format_micro, from_us
from daemon.sim.dam.shapes import CLOUDINARY_FOLDER, cloudinary_asset_id, filename, seconds_offset
from daemon.sim.dam.webhook_signing import (
    DigestName,
    SnsSigner,
    SnsVersion,
    cloudinary_headers,
    frontify_headers,
    standard_headers,
)

EventStyle = Literal["standard", "bynder", "cloudinary", "frontify", "canto"]
EVENT_STYLES: tuple[EventStyle, ...] = ("standard", "bynder", "cloudinary", "frontify", "canto")
ChangeKind = Literal["created", "updated", "meta_updated", "deleted"]

_STANDARD_TYPES = {
    "created": "asset.created",
    "updated": "asset.updated",
    "meta_updated": "asset.updated",
    "deleted": "asset.deleted",
}
BYNDER_SUBJECTS = {
    "created": "asset_bank.media.create",
    "updated": "asset_bank.media.updated",
    "meta_updated": "asset_bank.media.meta_updated",
    "deleted": "asset_bank.media.deleted",
}
_FRONTIFY_ACTIONS = {
    "created": "ASSET_CREATED",
    "updated": "ASSET_UPDATED",
    "meta_updated": "ASSET_UPDATED",
    "deleted": "ASSET_DELETED",
}


@dataclass(frozen=True, slots=True)
class Change:
    """
    One asset change as the DAM saw it.

    Args:
        seq: its position among the feed's changes (1-based).
        kind: created (also a restore), updated (new file), meta_updated, deleted.
        record: the asset after the change.
    """

    seq: int
    kind: ChangeKind
    record: AssetRecord


@dataclass(frozen=True, slots=True)
class Envelope:
    """
    One event ready to send: its id, its body and the headers every attempt repeats.
    """

    event_id: str
    asset_id: str
    kind: ChangeKind
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def change_kind(old: AssetRecord | None, new: AssetRecord) -> ChangeKind:
    """
    Args:
        old: the asset before (``None``: it is new).
        new: the asset after.

    Returns:
        What happened, as the DAM's events name it.
    """
    if new.deleted:
        return "deleted"
    if old is None or old.deleted:
        return "created"
    return "updated" if new.file_version != old.file_version else "meta_updated"


@dataclass(frozen=True, slots=True)
class RendererConfig:
    """
    What the renderer needs besides the change: style, secret and the SNS identity.
    """

    style: EventStyle
    secret: str = field(repr=False)
    base_url: str
    topic_arn: str
    sns_version: SnsVersion
    cloudinary_algorithm: DigestName


class EventRenderer:
    """
    Renders changes in one style.

    Args:
        config: the style and its secret.
        store: the DAM's state (Cloudinary ids, file names).
        signer: the SNS key (``bynder`` style only).
    """

    def __init__(
        self, config: RendererConfig, store: DamStore, signer: SnsSigner | None = None
    ) -> None:
        if config.style == "bynder" and signer is None:
            raise ValueError("the bynder style needs an SnsSigner")
        self.config = config
        self._store = store
        self._signer = signer

    @property
    def cert_url(self) -> str:
        """
        Returns:
            Where the simulator serves its SNS signing certificate.
        """
        return self.config.base_url.rstrip("/") + "/_sim/sns/cert.pem"

    def render(self, change: Change) -> Envelope:
        """
        Args:
            change: what happened.

        Returns:
            The event in the configured style.
        """
        style = self.config.style
        if style == "bynder":
            return self._bynder(change)
        event_id = uuid.uuid4().hex
        if style == "standard":
            event_id = "msg_" + event_id
            body = _standard_body(change)
        elif style == "cloudinary":
            body = self._cloudinary_body(change, event_id)
        elif style == "frontify":
            body = _frontify_body(change, event_id)
        else:
            body = self._canto_body(change)
        return Envelope(
            event_id,
            change.record.id,
            change.kind,
            _dump(body),
            {"Content-Type": "application/json"},
        )

    def attempt_headers(self, envelope: Envelope, now_s: int) -> dict[str, str]:
        """
        Args:
            envelope: the event.
            now_s: Unix seconds of this attempt (signed timestamps).

        Returns:
            Every header of this attempt: the fixed ones plus the signature headers.
        """
        cfg = self.config
        headers = dict(envelope.headers)
        if cfg.style == "standard":
            headers.update(standard_headers(cfg.secret, envelope.event_id, now_s, envelope.body))
        elif cfg.style == "cloudinary":
            headers.update(
                cloudinary_headers(cfg.secret, now_s, envelope.body, cfg.cloudinary_algorithm)
            )
        elif cfg.style == "frontify":
            headers.update(frontify_headers(cfg.secret, envelope.body))
        return headers

    def subscription_confirmation(self, token: str) -> Envelope:
        """
        Args:
            token: the subscription token the receiver must send back.

        Returns:
            An SNS ``SubscriptionConfirmation`` whose ``SubscribeURL`` the simulator serves.
        """
        assert self._signer is not None  # the constructor checks the style
        message_id = str(uuid.uuid4())
        base = self.config.base_url.rstrip("/")
        envelope = {
            "Type": "SubscriptionConfirmation",
            "MessageId": message_id,
            "Token": token,
            "TopicArn": self.config.topic_arn,
            "Message": "You have chosen to subscribe to the topic "
            f"{self.config.topic_arn}.\nTo confirm the subscription, visit the SubscribeURL "
            "included in this message.",
            "SubscribeURL": f"{base}/_sim/sns/confirm?Action=ConfirmSubscription&Token={token}",
            "Timestamp": _sns_time(self._store.last_stamp_us),
            "SigningCertURL": self.cert_url,
        }
        signed = self._signer.sign(envelope, self.config.sns_version)
        return Envelope(message_id, "", "created", _dump(signed), _sns_headers(signed))

    def _bynder(self, change: Change) -> Envelope:
        assert self._signer is not None  # the constructor checks the style
        message_id = str(uuid.uuid4())
        base = self.config.base_url.rstrip("/")
        envelope = {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": self.config.topic_arn,
            "Subject": BYNDER_SUBJECTS[change.kind],
            "Message": json.dumps({"media_id": change.record.id}),
            "Timestamp": _sns_time(change.record.updated_us),
            "SigningCertURL": self.cert_url,
            "UnsubscribeURL": f"{base}/_sim/sns/unsubscribe?SubscriptionArn="
            f"{self.config.topic_arn}:damsync",
        }
        signed = self._signer.sign(envelope, self.config.sns_version)
        return Envelope(
            message_id, change.record.id, change.kind, _dump(signed), _sns_headers(signed)
        )

    def _cloudinary_body(self, change: Change, request_id: str) -> dict[str, Any]:
        record = change.record
        resource = {
            "resource_type": "image",
            "type": "upload",
            "asset_id": cloudinary_asset_id(self._store, record),
            "public_id": f"{CLOUDINARY_FOLDER}/{record.id}",
            "version": record.uploaded_us // 1_000_000,
        }
        common = {"timestamp": seconds_offset(record.updated_us), "request_id": request_id}
        if change.kind == "deleted":
            return {"notification_type": "delete", **common, "resources": [resource]}
        return {
            "notification_type": "upload",
            **common,
            **resource,
            "created_at": seconds_offset(record.created_us),
            "asset_folder": CLOUDINARY_FOLDER,
        }

    def _canto_body(self, change: Change) -> dict[str, Any]:
        record = change.record
        return {
            "secure_token": self.config.secret,
            "scheme": "document" if record.kind == "pdf" else "image",
            "album": "",
            "displayname": filename(record),
            "id": record.id,
            "time": from_us(record.updated_us).strftime("%Y%m%d%H%M%S%f")[:-3],
        }


def _standard_body(change: Change) -> dict[str, Any]:
    record = change.record
    stamp = format_micro(from_us(record.updated_us))
    return {
        "type": _STANDARD_TYPES[change.kind],
        "timestamp": stamp,
        "data": {
            "id": record.id,
            "version": record.version,
            "file_version": record.file_version,
            "updated_at": stamp,
        },
    }


def _frontify_body(change: Change, event_id: str) -> dict[str, Any]:
    stamp = format_micro(from_us(change.record.updated_us))
    return {
        "event": {
            "action": _FRONTIFY_ACTIONS[change.kind],
            "occurredAt": stamp,
            "processedAt": stamp,
            "sender": {"id": "damsync-sim"},
            "payload": [{"assetId": change.record.id}],
        },
        "meta": {
            "accountId": "damsync-sim",
            "webhookId": "damsync-sim",
            "eventId": event_id,
            "isSampleEvent": False,
        },
    }


def _sns_time(stamp_us: int) -> str:
    return format_micro(from_us(stamp_us))[:-4] + "Z"  # milliseconds, as SNS writes them


def _sns_headers(envelope: dict[str, str]) -> dict[str, str]:
    return {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": envelope["Type"],
        "x-amz-sns-message-id": envelope["MessageId"],
        "x-amz-sns-topic-arn": envelope["TopicArn"],
    }


def _dump(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


__all__ = [
    "BYNDER_SUBJECTS",
    "EVENT_STYLES",
    "Change",
    "ChangeKind",
    "Envelope",
    "EventRenderer",
    "EventStyle",
    "RendererConfig",
    "change_kind",
]
