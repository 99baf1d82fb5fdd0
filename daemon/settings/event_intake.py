"""
Event intake settings: webhooks and broker messages that tell damsync which assets changed.

Per source (``[[sources]]``):

- ``[sources.events]`` (:class:`EventFields`): where an event body holds the asset ids, the
  event kind and the delivery id; shared by the webhook and the broker of the source.
- ``[sources.webhook]`` (:class:`WebhookSettings`): how the DAM signs its webhooks.
- ``[sources.broker]`` (:class:`BrokerSettings`): a RabbitMQ queue or a NATS JetStream stream
  the user already runs.

Once for the daemon, ``[events]`` (:class:`EventSettings`): the webhook server's own address
(so it can be exposed while ``/metrics`` stays internal), its body limit, and how the inbox is
consumed and pruned. Every key is documented in ``docs/configuration.md``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal

from pydantic import Field, FiniteFloat, field_validator, model_validator

from daemon.core.config_model import MAX_SECONDS, Model, Secret

#: SNS signing certificates are fetched only from hosts matching one of these (full match).
SNS_CERT_HOSTS = (r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?",)


class EventFields(Model):
    """
    Where an event body holds what damsync needs (dotted paths; ``[]`` walks a list).

    For ``sns`` webhooks the document is the SNS envelope with its ``Message`` JSON decoded in
    place (Bynder: ``ids = "Message.media_id"``, ``kind = "Subject"``).
    """

    ids: str = Field(
        description='asset ids, e.g. "asset_id" or "resources[].asset_id"; "a | b": a, else b'
    )
    kind: str | None = Field(None, description="the event kind; absent: every event is a change")
    deleted: list[str] = Field([], description="kinds that mean the assets were deleted")
    ignored: list[str] = Field([], description="kinds acknowledged and dropped (not about assets)")
    event_id: str | None = Field(
        None, description="the delivery id; else the signing style's id header, else a body digest"
    )


class WebhookSettings(Model):
    """How one DAM signs its webhooks (``../shared/reference/dam-apis.md``)."""

    style: Literal["standard", "hmac", "token", "sns"] = Field(
        description="standard (Standard Webhooks), hmac (one header), token (Canto), sns (Bynder)"
    )
    secrets: list[Secret] = Field(
        [], description="keys or tokens; several are all tried (rotation without downtime)"
    )
    # style = "hmac" (Cloudinary, Frontify, Acquia, GitHub-like)
    signature_header: str = "X-Signature"
    signature_prefix: str = Field("", description='stripped before comparing, e.g. "sha256="')
    timestamp_header: str | None = Field(None, description="signed with the body when set")
    algorithm: Literal["sha1", "sha256"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    digest: Literal["hmac", "append_secret"] = Field(
        "hmac", description="append_secret: hash(body + timestamp + secret), as Cloudinary does"
    )
    # style = "token" (Canto)
    token_header: str | None = None
    token_path: str | None = Field(None, description='body path of the token, e.g. "secure_token"')
    # style = "sns" (Bynder)
    topic_arns: list[str] = Field([], description="accepted TopicArn values; empty: any")
    cert_hosts: list[str] = Field(
        list(SNS_CERT_HOSTS), description="regexes a SigningCertURL host must fully match"
    )
    tolerance: FiniteFloat = Field(
        300.0, gt=0, le=86400, description="seconds a signed timestamp may be off (replays)"
    )

    @field_validator("cert_hosts")
    @classmethod
    def _patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return patterns

    @model_validator(mode="after")
    def _complete(self) -> WebhookSettings:
        if self.style in ("standard", "hmac", "token") and not self.secrets:
            raise ValueError(f"webhook style {self.style!r} needs secrets")
        if self.style == "standard":
            for secret in self.secrets:
                # Checked here, at load: the message never quotes the secret.
                try:
                    base64.b64decode(
                        secret.get_secret_value().removeprefix("whsec_"), validate=True
                    )
                except (binascii.Error, ValueError):
                    raise ValueError("a standard webhook secret is whsec_<base64>") from None
        if self.style == "token" and (self.token_header is None) == (self.token_path is None):
            raise ValueError("webhook style 'token' needs exactly one of token_header, token_path")
        return self


class BrokerSettings(Model):
    """A queue of DAM events the user already runs."""

    type: Literal["rabbitmq", "nats"]
    url: Secret = Field(description="amqp://user:password@host/vhost or nats://host:4222")
    # RabbitMQ
    queue: str | None = None
    prefetch: int = Field(100, ge=1, le=10_000, description="unacknowledged messages at most")
    dead_letter_exchange: str = Field(
        "damsync.dead-letter", description="where unparsable messages go"
    )
    declare: bool = Field(True, description="declare the queue and dead-letter exchange")
    # NATS JetStream
    stream: str | None = None
    subject: str | None = None
    durable: str = Field("damsync", description="the durable pull consumer's name")
    fetch_batch: int = Field(100, ge=1, le=10_000)
    ack_wait: FiniteFloat = Field(30.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _complete(self) -> BrokerSettings:
        if self.type == "rabbitmq" and not self.queue:
            raise ValueError("broker type 'rabbitmq' needs queue")
        if self.type == "nats" and not (self.stream and self.subject):
            raise ValueError("broker type 'nats' needs stream and subject")
        return self


class EventSettings(Model):
    """The webhook server and the inbox consumer (``[events]``)."""

    host: str = "127.0.0.1"
    port: int = Field(9181, ge=0, le=65535, description="the webhook server's own port")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    debounce: FiniteFloat = Field(
        1.0, ge=0, le=60, description="seconds events are gathered before one write"
    )
    claim_batch: int = Field(500, ge=1, le=10_000, description="inbox rows taken at once")
    claim_seconds: FiniteFloat = Field(
        300.0, gt=0, le=MAX_SECONDS, description="seconds a claim holds before others take it"
    )
    max_attempts: int = Field(30, ge=1, description="consumer attempts before a row is dead")
    retry_base: FiniteFloat = Field(
        5.0, gt=0, le=MAX_SECONDS, description="seconds before a failed consume is retried..."
    )
    retry_max: FiniteFloat = Field(
        300.0, gt=0, le=MAX_SECONDS, description="...doubled per attempt up to this many"
    )
    retention: FiniteFloat = Field(
        7 * 86400.0, gt=0, le=MAX_SECONDS, description="seconds processed rows are kept (dedupe)"
    )


__all__ = ["SNS_CERT_HOSTS", "BrokerSettings", "EventFields", "EventSettings", "WebhookSettings"]
