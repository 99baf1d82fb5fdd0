"""
The event options of ``damsync sim dam`` (``--webhook-url``, ``--amqp-url``, ``--event-drop``,
...): click decorators and their conversion to :class:`EventFeedOptions`.

Secrets and URLs can come from the environment (``DAMSYNC_SIM_WEBHOOK_SECRET``,
``DAMSYNC_SIM_WEBHOOK_URL``, ``DAMSYNC_SIM_AMQP_URL``, ``DAMSYNC_SIM_NATS_URL``) so that they
stay out of the process list.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from daemon.core.errors import ConfigError
from daemon.sim.dam.event_options import DEFAULT_TOPIC_ARN, EventFeedOptions
from daemon.sim.dam.event_shapes import EVENT_STYLES, EventStyle
from daemon.sim.dam.webhook_signing import SnsVersion

F = TypeVar("F", bound=Callable[..., Any])

_FRACTION = click.FloatRange(0.0, 1.0)
_OPTIONS: list[Callable[[F], F]] = [
    click.option("--webhook-url", envvar="DAMSYNC_SIM_WEBHOOK_URL", help="POST every change here."),
    click.option(
        "--webhook-style",
        type=click.Choice(EVENT_STYLES),
        default="standard",
        show_default=True,
        help="Whose events and signatures to imitate.",
    ),
    click.option(
        "--webhook-secret",
        envvar="DAMSYNC_SIM_WEBHOOK_SECRET",
        default="",
        help="The style's secret (whsec_..., api_secret, HMAC key, Canto token); demo default.",
    ),
    click.option("--amqp-url", envvar="DAMSYNC_SIM_AMQP_URL", help="Publish to RabbitMQ."),
    click.option("--amqp-exchange", default="", help="Topic exchange (default: ''), declared."),
    click.option("--amqp-routing-key", default="", help="Routing key (queue name on '')."),
    click.option("--nats-url", envvar="DAMSYNC_SIM_NATS_URL", help="Publish to NATS JetStream."),
    click.option("--nats-subject", default="", help="JetStream subject."),
    click.option("--nats-stream", default="", help="Create this stream when missing."),
    click.option(
        "--sns-topic-arn", default=DEFAULT_TOPIC_ARN, show_default=True, help="SNS TopicArn."
    ),
    click.option(
        "--sns-signature-version",
        type=click.Choice(["1", "2"]),
        default="1",
        show_default=True,
        help="SNS SignatureVersion: 1 (RSA SHA1) or 2 (RSA SHA256).",
    ),
    click.option("--sns-subscribe", is_flag=True, help="Send a SubscriptionConfirmation first."),
    click.option(
        "--sns-key",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="PEM RSA key signing SNS envelopes (default: generated).",
    ),
    click.option(
        "--sns-cert",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Its PEM certificate (default: self-signed), served at /_sim/sns/cert.pem.",
    ),
    click.option("--event-drop", type=_FRACTION, default=0.0, help="Fraction never sent."),
    click.option("--event-duplicate", type=_FRACTION, default=0.0, help="Fraction sent twice."),
    click.option("--event-delay", type=_FRACTION, default=0.0, help="Fraction held back."),
    click.option("--event-delay-max", type=float, default=0.5, help="Seconds held at most."),
    click.option("--event-reorder", type=int, default=0, help="Shuffle within groups of N."),
    click.option("--event-seed", type=int, default=0, help="Seed of the event faults."),
]


def event_options(command: F) -> F:
    """
    Add the event options to a click command (it receives them as keyword arguments).

    Args:
        command: the command function.

    Returns:
        The decorated function.
    """
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def feed_options(params: dict[str, Any]) -> EventFeedOptions | None:
    """
    Args:
        params: the command's keyword arguments from :func:`event_options`.

    Returns:
        The feed's options, or ``None`` when no target is given.

    Raises:
        click.BadParameter: a value the options refuse.
    """
    if not (params["webhook_url"] or params["amqp_url"] or params["nats_url"]):
        return None
    try:
        return EventFeedOptions(
            style=cast(EventStyle, params["webhook_style"]),
            webhook_url=params["webhook_url"],
            secret=params["webhook_secret"],
            amqp_url=params["amqp_url"],
            amqp_exchange=params["amqp_exchange"],
            amqp_routing_key=params["amqp_routing_key"],
            nats_url=params["nats_url"],
            nats_subject=params["nats_subject"],
            nats_stream=params["nats_stream"],
            topic_arn=params["sns_topic_arn"],
            sns_version=cast(SnsVersion, params["sns_signature_version"]),
            sns_subscribe=params["sns_subscribe"],
            sns_key=params["sns_key"],
            sns_cert=params["sns_cert"],
            drop=params["event_drop"],
            duplicate=params["event_duplicate"],
            delay=params["event_delay"],
            delay_max=params["event_delay_max"],
            reorder_window=params["event_reorder"],
            fault_seed=params["event_seed"],
        )
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


__all__ = ["event_options", "feed_options"]
