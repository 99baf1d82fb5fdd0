"""
Options of the simulated DAM's event feed: targets, signing style, fault switches and limits.

See docs/dam-simulator.md ("Events"). Bad values raise ``ConfigError`` naming the key
(``dam_sim.events.drop``, ...). URLs and secrets are hidden from ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from daemon.core.errors import ConfigError
from daemon.sim.dam.event_shapes import EVENT_STYLES, EventStyle
from daemon.sim.dam.webhook_signing import DigestName, SnsVersion, standard_key

#: The secret each style uses when none is given (the demo's; never for anything real).
DEMO_SECRETS: dict[EventStyle, str] = {
    "standard": "whsec_ZGFtc3luYy1zaW11bGF0b3ItZGVtby1zZWNyZXQ=",
    "cloudinary": "demo",  # the simulator's api_secret (DamSimOptions.password)
    "frontify": "demo-webhook-secret",
    "canto": "demo-secure-token",
    "bynder": "",  # SNS signs with the RSA key, no shared secret
}
DEFAULT_TOPIC_ARN = "arn:aws:sns:us-east-1:000000000000:damsync-sim"


@dataclass(frozen=True, slots=True)
class EventFeedOptions:
    """
    Where and how the simulated DAM sends its events (at least one target).

    Args:
        style: the DAM whose events are imitated (standard, bynder, cloudinary, frontify, canto).
        webhook_url: POST every event here.
        secret: the style's secret (``whsec_...``, api_secret, HMAC secret, Canto token);
            empty: :data:`DEMO_SECRETS`.
        amqp_url: publish every event to RabbitMQ (``amqp://user:password@host/vhost``).
        amqp_exchange: a topic exchange to declare and publish to; empty: the default exchange.
        amqp_routing_key: the routing key (on the default exchange: the queue's name).
        nats_url: publish every event to NATS JetStream (``nats://host:4222``).
        nats_subject: the subject.
        nats_stream: a stream to create for the subject when missing; empty: it must exist.
        topic_arn: the SNS ``TopicArn`` (bynder).
        sns_version: ``SignatureVersion`` ``"1"`` (SHA1) or ``"2"`` (SHA256) (bynder).
        sns_subscribe: send a ``SubscriptionConfirmation`` to the webhook first (bynder).
        sns_key: a PEM RSA key file; ``None``: generated (bynder).
        sns_cert: its PEM certificate; ``None``: self-signed (bynder).
        cloudinary_algorithm: ``sha1`` or ``sha256`` for ``X-Cld-Signature``.
        drop: fraction of events never sent.
        duplicate: fraction of events sent twice.
        delay: fraction of events held back.
        delay_max: seconds a held-back event waits at most (uniform).
        reorder_window: events are released in shuffled groups of this size (0 or 1: off).
        reorder_hold: seconds an incomplete group waits before it is released anyway.
        fault_seed: seed of the fault draws.
        queue_limit: event copies waiting at most; more are counted as ``overflowed``.
        max_attempts: attempts per event and target before giving up.
        retry_base: seconds before the first retry (doubles each time, with jitter).
        retry_max: seconds between retries at most.
        timeout: seconds for one attempt (connect and answer).
        concurrency: events delivered at once (1 keeps the order, faults aside).
    """

    style: EventStyle = "standard"
    webhook_url: str | None = field(default=None, repr=False)
    secret: str = field(default="", repr=False)
    amqp_url: str | None = field(default=None, repr=False)
    amqp_exchange: str = ""
    amqp_routing_key: str = ""
    nats_url: str | None = field(default=None, repr=False)
    nats_subject: str = ""
    nats_stream: str = ""
    topic_arn: str = DEFAULT_TOPIC_ARN
    sns_version: SnsVersion = "1"
    sns_subscribe: bool = False
    sns_key: Path | None = None
    sns_cert: Path | None = None
    cloudinary_algorithm: DigestName = "sha1"
    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    delay_max: float = 0.5
    reorder_window: int = 0
    reorder_hold: float = 0.2
    fault_seed: int = 0
    queue_limit: int = 10_000
    max_attempts: int = 5
    retry_base: float = 0.5
    retry_max: float = 30.0
    timeout: float = 10.0
    concurrency: int = 4

    def __post_init__(self) -> None:
        if self.style not in EVENT_STYLES:
            raise ConfigError(f"must be one of {', '.join(EVENT_STYLES)}", key=_key("style"))
        if not (self.webhook_url or self.amqp_url or self.nats_url):
            raise ConfigError("needs webhook_url, amqp_url or nats_url", key=_key("targets"))
        if self.amqp_url and not self.amqp_routing_key:
            raise ConfigError("needed with amqp_url", key=_key("amqp_routing_key"))
        if self.nats_url and not self.nats_subject:
            raise ConfigError("needed with nats_url", key=_key("nats_subject"))
        if self.sns_version not in ("1", "2"):
            raise ConfigError('must be "1" or "2"', key=_key("sns_version"))
        if self.cloudinary_algorithm not in ("sha1", "sha256"):
            raise ConfigError("must be sha1 or sha256", key=_key("cloudinary_algorithm"))
        for name in ("drop", "duplicate", "delay"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"must be in [0, 1], got {value}", key=_key(name))
        bounds = {
            "delay_max": (self.delay_max, 0.0, 3600.0),
            "reorder_hold": (self.reorder_hold, 0.0, 60.0),
            "retry_base": (self.retry_base, 0.0, 3600.0),
            "retry_max": (self.retry_max, 0.0, 86_400.0),
            "timeout": (self.timeout, 0.001, 300.0),
        }
        for name, (value, low, high) in bounds.items():
            if not low <= value <= high:
                raise ConfigError(f"must be in [{low:g}, {high:g}], got {value}", key=_key(name))
        counts = {
            "reorder_window": (self.reorder_window, 0, 1000),
            "queue_limit": (self.queue_limit, 1, 1_000_000),
            "max_attempts": (self.max_attempts, 1, 100),
            "concurrency": (self.concurrency, 1, 64),
        }
        for name, (count, lowest, highest) in counts.items():
            if not lowest <= count <= highest:
                raise ConfigError(f"must be in [{lowest}, {highest}], got {count}", key=_key(name))
        if self.style == "standard":
            standard_key(self.effective_secret)  # raises ConfigError when not base64

    @property
    def effective_secret(self) -> str:
        """
        Returns:
            The secret given, or the style's demo secret.
        """
        return self.secret or DEMO_SECRETS[self.style]


def _key(name: str) -> str:
    return f"dam_sim.events.{name}"


__all__ = ["DEFAULT_TOPIC_ARN", "DEMO_SECRETS", "EventFeedOptions"]
