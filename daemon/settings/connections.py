"""
Connection sections of the configuration: HTTP timeouts, retries, limits and TLS, and the PIMs.

A configuration names one PIM or several: ``[pim]`` is the PIM named :data:`DEFAULT_PIM`,
``[pims.<name>]`` tables add more (same keys), and each source writes to the one its ``pim``
key names. :func:`pim_connections` and :func:`pick_pim` are the one place that resolves them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

from pydantic import (
    Field,
    FilePath,
    FiniteFloat,
    HttpUrl,
    StringConstraints,
    model_validator,
)

from daemon.core.config_model import MAX_SECONDS, Model, Secret
from daemon.core.errors import ConfigError

#: The PIM of a source that names none: the ``[pim]`` section.
DEFAULT_PIM = "default"

#: Names of sources and PIMs: metric labels and state keys, so short and plain.
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"

#: A ``[pims.<name>]`` table's name.
PimName = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=100)]


class TimeoutSettings(Model):
    """
    Timeouts in seconds.

    ``connect``, ``read``, ``write`` and ``pool`` bound one network operation each, so an
    upstream trickling a byte every few seconds never trips them; ``total`` bounds one whole
    attempt, answer body included, and ``transfer`` one streamed download or upload.
    """

    connect: FiniteFloat = Field(5.0, gt=0, le=MAX_SECONDS)
    read: FiniteFloat = Field(60.0, gt=0, le=MAX_SECONDS)
    write: FiniteFloat = Field(60.0, gt=0, le=MAX_SECONDS)
    pool: FiniteFloat = Field(30.0, gt=0, le=MAX_SECONDS)
    total: FiniteFloat = Field(
        120.0, gt=0, le=MAX_SECONDS, description="one attempt, answer body included"
    )
    transfer: FiniteFloat = Field(
        3600.0, gt=0, le=MAX_SECONDS, description="one streamed download or upload"
    )


class RetrySettings(Model):
    """Retry policy for transient failures."""

    attempts: int = Field(6, ge=1, le=20)
    deadline: FiniteFloat = Field(120.0, gt=0, le=MAX_SECONDS)
    wait_initial: FiniteFloat = Field(0.5, ge=0, le=MAX_SECONDS)
    wait_max: FiniteFloat = Field(30.0, ge=0, le=MAX_SECONDS)
    retry_after_max: FiniteFloat = Field(60.0, ge=0, le=MAX_SECONDS)
    throttle_pause: FiniteFloat = Field(1.0, ge=0, le=MAX_SECONDS)


class HttpSettings(Model):
    """Transport settings shared by the PIM and every REST source."""

    timeouts: TimeoutSettings = TimeoutSettings()
    retry: RetrySettings = RetrySettings()
    max_in_flight: int = Field(4, ge=1, le=64)
    rate_limit: FiniteFloat | None = Field(None, gt=0, description="requests per second, or none")
    #: A JSON answer is read into memory up to this size; past it, a protocol error.
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024, le=1 << 31)
    verify_tls: bool = True
    #: A PEM bundle of the CAs to trust instead of the default ones (company proxy, private DAM).
    ca_file: FilePath | None = None
    #: A PEM client certificate for mutual TLS (with its key, unless ``client_key`` is set).
    client_cert: FilePath | None = None
    #: The PEM private key of ``client_cert`` (not encrypted).
    client_key: FilePath | None = None

    @model_validator(mode="after")
    def _tls_consistent(self) -> HttpSettings:
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key needs client_cert")
        if self.ca_file is not None and not self.verify_tls:
            raise ValueError("ca_file is only used with verify_tls = true")
        return self


class PimSettings(Model):
    """
    The Akeneo PIM to write to.

    Either the connection credentials (``client_id``, ``secret``, ``username``, ``password``:
    password grant, refreshed) or an App ``token`` (connected App: no refresh, no expiry).
    """

    base_url: HttpUrl
    client_id: str | None = None
    secret: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    http: HttpSettings = HttpSettings()
    refresh_margin: float = Field(
        60.0, ge=0, description="refresh the token this many seconds before it expires"
    )

    @model_validator(mode="after")
    def _one_auth_mode(self) -> PimSettings:
        connection = [self.client_id, self.secret, self.username, self.password]
        if self.token is not None:
            if any(v is not None for v in connection):
                raise ValueError("set either token or client_id/secret/username/password, not both")
        elif any(v is None for v in connection):
            raise ValueError("needs client_id, secret, username and password (or an App token)")
        return self


def pim_connections(
    default: PimSettings | None, named: Mapping[str, PimSettings]
) -> dict[str, PimSettings]:
    """
    Every configured PIM by name: ``[pim]`` under :data:`DEFAULT_PIM`, then ``[pims.<name>]``.

    Raises:
        ValueError: ``[pim]`` and ``[pims.default]`` both set, or no PIM at all.
    """
    if default is not None and DEFAULT_PIM in named:
        raise ValueError(
            f"[pim] is the PIM named {DEFAULT_PIM!r}: set [pim] or [pims.{DEFAULT_PIM}], not both"
        )
    found = {DEFAULT_PIM: default} if default is not None else {}
    found.update(named)
    if not found:
        raise ValueError("no PIM configured: add a [pim] section (or [pims.<name>] tables)")
    return found


def unknown_pims(known: Mapping[str, PimSettings], wanted: Sequence[tuple[str, str]]) -> str | None:
    """
    One line naming every ``(source, pim)`` whose PIM is not configured, or ``None``.

    Args:
        known: :func:`pim_connections`' answer.
        wanted: Each source's name and its ``pim`` key.
    """
    bad = [f"source {source!r} names pim {pim!r}" for source, pim in wanted if pim not in known]
    if not bad:
        return None
    return (
        f"unknown PIM: {'; '.join(bad)} (configured: {', '.join(known)}): "
        "add a [pims.<name>] table or fix the source's pim key"
    )


def pick_pim(known: Mapping[str, PimSettings], name: str | None) -> tuple[str, PimSettings]:
    """
    The PIM named ``name``; with ``None``, the only one configured, else ``default``.

    Raises:
        ConfigError: no PIM has that name, or several are configured, none is ``default``
            and no name was given.
    """
    if name is None:
        if len(known) == 1:
            return next(iter(known.items()))
        if DEFAULT_PIM not in known:
            raise ConfigError(
                f"several PIMs are configured ({', '.join(known)}): name one", key="pims"
            )
        name = DEFAULT_PIM
    if name not in known:
        key = "pim" if name == DEFAULT_PIM else f"pims.{name}"
        raise ConfigError(
            f"no PIM named {name!r} is configured (configured: {', '.join(known) or 'none'})",
            key=key,
        )
    return name, known[name]


__all__ = [
    "DEFAULT_PIM",
    "NAME_PATTERN",
    "HttpSettings",
    "PimName",
    "PimSettings",
    "RetrySettings",
    "TimeoutSettings",
    "pick_pim",
    "pim_connections",
    "unknown_pims",
]
