"""
The whole configuration: typed, validated once at start, then passed down.

The file is TOML. Every key can also come from the environment as ``DAMSYNC_<SECTION>__<KEY>``
(``DAMSYNC_PIM__BASE_URL``), which wins over the file. Secrets are never written in clear in a
model's repr: a secret key accepts a literal string, ``{env = "NAME"}`` or ``{file = "/path"}``
(Docker/Kubernetes secrets), resolved at load time into a ``SecretStr``.

Nothing below ``cli.py`` reads ``os.environ``: :func:`load_settings` takes the environment as an
argument. Every key is documented in ``docs/configuration.md``.

Durations are finite and at most :data:`MAX_SECONDS` (``inf`` or ``1e12`` would pass a bare
``gt=0`` and crash the scheduler or the date arithmetic later); a schedule is ``interval`` or
``cron``, never both; the store is SQLite or PostgreSQL; a source's ``pim`` names a
``[pims.<name>]`` table or ``default`` (``[pim]``). :func:`load_settings` hands the loaded secrets
to :mod:`daemon.core.secret_values`, so redaction masks them wherever they turn up.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    Field,
    FiniteFloat,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from daemon.core import secret_values
from daemon.core.config_model import Model, format_validation_error
from daemon.core.errors import ConfigError
from daemon.mapping.rules import SourceMapping
from daemon.settings.connections import (
    DEFAULT_PIM,
    NAME_PATTERN,
    PimName,
    PimSettings,
    pick_pim,
    pim_connections,
    unknown_pims,
)
from daemon.settings.dam_sources import MAX_SECONDS, ScheduleSettings, SourceSettings
from daemon.settings.env_overrides import env_overrides, merge
from daemon.settings.event_intake import BrokerSettings, EventFields, EventSettings, WebhookSettings
from daemon.settings.replicas import ReplicaSettings

#: ``store.url`` schemes; ``postgresql`` is read as ``postgresql+psycopg`` (the driver installed).
STORE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")


class EngineSettings(Model):
    """How a source's changes are read and written (``[sources.sync]``)."""

    lookback: FiniteFloat = Field(
        300.0, ge=0, le=MAX_SECONDS, description="seconds re-read before the cursor"
    )
    settle_delay: FiniteFloat = Field(
        30.0, ge=0, le=MAX_SECONDS, description="read changes at least this old"
    )
    batch_size: int = Field(100, ge=1, le=100)
    batch_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    media_concurrency: int = Field(
        8, ge=1, le=32, description="binaries in transfer at once (download + upload)"
    )
    max_binary_bytes: int = Field(
        2 << 30,
        ge=1024,
        description="largest binary downloaded, announced size or not; a larger one fails alone",
    )
    pipeline_depth: int = Field(
        4, ge=1, le=16, description="batches written to the PIM at once (commits stay in order)"
    )
    pass_deadline: FiniteFloat = Field(
        3600.0,
        gt=0,
        le=MAX_SECONDS,
        description="seconds a pass may run; then it stops as a graceful stop does and fails",
    )
    delete_policy: Literal["delete", "unlink", "mark", "ignore"] = Field(
        "ignore",
        description="what a withdrawn PIM asset gets (DAM deletion, re-key, no rule matching)",
    )
    mark: dict[str, str | bool | int | float] = Field(
        default_factory=dict,
        description="attribute -> value set on a withdrawn asset by mark and unlink",
    )
    max_delete_share: float = Field(
        0.25,
        gt=0,
        le=1,
        description="withdrawals above this share of a family's assets wait for approval",
    )
    max_delete_count: int = Field(
        100, ge=0, description="withdrawals above this number in a family wait for approval"
    )
    delete_burst_window: FiniteFloat = Field(
        3600.0,
        gt=0,
        le=MAX_SECONDS,
        description="seconds over which the brake adds up a family's withdrawals",
    )
    retry_batch: int = Field(100, ge=1, le=1000, description="due failures retried per run")
    reconcile_max_delete_fraction: float = Field(
        0.5,
        gt=0,
        le=1,
        description="deprecated alias of max_delete_share (used when that key is not set)",
    )

    @model_validator(mode="before")
    @classmethod
    def _deprecated_fraction(cls, data: Any) -> Any:
        # One brake for every path: the old sweep refusal's key now sets the pending brake's share.
        if isinstance(data, Mapping) and "reconcile_max_delete_fraction" in data:
            _warn_deprecated("sync.reconcile_max_delete_fraction", "sync.max_delete_share")
            if "max_delete_share" not in data:
                data = {**data, "max_delete_share": data["reconcile_max_delete_fraction"]}
        return data

    @model_validator(mode="after")
    def _mark_needs_values(self) -> EngineSettings:
        # A mark with nothing to set would withdraw an asset without a trace in the PIM.
        if self.delete_policy == "mark" and not self.mark:
            raise ValueError('delete_policy = "mark" needs a [sources.sync.mark] table')
        return self


_WARNED: set[str] = set()


def _warn_deprecated(key: str, replacement: str) -> None:
    """Log ``config.deprecated_key`` once per process for ``key``."""
    if key not in _WARNED:
        _WARNED.add(key)
        import structlog  # here: a deprecated key is rare, structlog's import is not free

        structlog.get_logger(__name__).warning(
            "config.deprecated_key", key=key, replacement=replacement
        )


class SourceEntry(SourceSettings):
    """
    One ``[[sources]]`` table: the DAM, the PIM it writes to, its schedule, its engine
    settings and its mapping.
    """

    pim: str = Field(
        DEFAULT_PIM,
        pattern=NAME_PATTERN,
        max_length=100,
        description="the PIM written to: [pims.<name>] or [pim]",
    )
    schedule: ScheduleSettings = ScheduleSettings()
    sync: EngineSettings = EngineSettings()
    mapping: SourceMapping
    events: EventFields | None = None
    webhook: WebhookSettings | None = None
    broker: BrokerSettings | None = None

    @model_validator(mode="after")
    def _events_read(self) -> SourceEntry:
        if (self.webhook or self.broker) and self.events is None:
            raise ValueError("a webhook or broker needs [sources.events] (where the ids are)")
        return self


class StoreSettings(Model):
    """The state database."""

    url: str = "sqlite:///damsync.db"
    lease_ttl: FiniteFloat = Field(
        600.0,
        gt=0,
        le=MAX_SECONDS,
        description="seconds a lease lives without renewal: how long a dead replica's sources "
        "wait before another replica takes them (the daemon renews it by its heartbeat)",
    )
    min_free_bytes: int = Field(
        64 * 1024 * 1024,
        ge=0,
        description="SQLite: unready when the database's filesystem has less free space; 0: off",
    )

    @field_validator("url")
    @classmethod
    def _supported_database(cls, url: str) -> str:
        # The URL is never quoted back: it may hold the database password.
        scheme, separator, rest = url.strip().partition("://")
        if not separator:
            raise ValueError(
                "not a database URL: use sqlite:///path.db or postgresql+psycopg://user@host/db"
            )
        if scheme.lower() not in STORE_SCHEMES:
            raise ValueError(
                f"unsupported database {scheme!r}: use sqlite:///path.db or "
                "postgresql+psycopg://user@host/db"
            )
        if scheme.lower() == "postgresql":
            return f"postgresql+psycopg://{rest}"
        return url.strip()


class FailureSettings(Model):
    """Retries of failed assets: exponential backoff, then dead letters."""

    base_seconds: FiniteFloat = Field(60.0, gt=0, le=MAX_SECONDS)
    factor: FiniteFloat = Field(2.0, ge=1, le=10)
    max_seconds: FiniteFloat = Field(21600.0, gt=0, le=MAX_SECONDS)
    max_attempts: int = Field(8, ge=1)

    @model_validator(mode="after")
    def _cap_above_base(self) -> FailureSettings:
        if self.max_seconds < self.base_seconds:
            raise ValueError(
                f"max_seconds ({self.max_seconds:g}) is below base_seconds ({self.base_seconds:g})"
            )
        return self


class ServerSettings(Model):
    """The HTTP endpoints (``/metrics``, ``/healthz``, ``/readyz``)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(9180, ge=0, le=65535)
    readiness_multiple: FiniteFloat = Field(
        3.0,
        gt=1,
        le=1000,
        description="unready when a source's last success is older than N intervals",
    )
    max_connections: int = Field(
        64, ge=1, le=10_000, description="open connections at most; the idle longest is closed"
    )
    header_timeout: FiniteFloat = Field(
        10.0, gt=0, le=300, description="seconds a connection may take to send a request head"
    )
    keep_alive_timeout: int = Field(
        5, ge=1, le=300, description="seconds an idle keep-alive connection is kept"
    )
    metrics_cache: FiniteFloat = Field(
        1.0, ge=0, le=60, description="seconds a rendered /metrics answer is reused"
    )


class RuntimeSettings(Model):
    """The daemon process."""

    shutdown_grace: FiniteFloat = Field(
        8.0,
        gt=0,
        le=MAX_SECONDS,
        description="seconds a stop waits for running batches; below Docker's 10 s",
    )
    retry_interval: FiniteFloat = Field(
        60.0, gt=0, le=MAX_SECONDS, description="seconds between failure retry runs"
    )
    structure_ttl: FiniteFloat = Field(
        3600.0, gt=0, le=MAX_SECONDS, description="seconds the family cache is kept"
    )
    spool_dir: str | None = None
    pid_file: str | None = None


class Settings(Model):
    """The whole configuration file."""

    default_pim: PimSettings | None = Field(None, alias="pim", description="the PIM 'default'")
    pims: dict[PimName, PimSettings] = Field(default_factory=dict, validate_default=True)
    sources: list[SourceEntry] = []
    store: StoreSettings = StoreSettings()
    failures: FailureSettings = FailureSettings()
    server: ServerSettings = ServerSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    events: EventSettings = EventSettings()
    replicas: ReplicaSettings = ReplicaSettings()
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    @field_validator("pims")
    @classmethod
    def _some_pim(cls, pims: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "default_pim" in info.data:  # else [pim] itself is invalid: that error is enough
            pim_connections(info.data["default_pim"], pims)
        return pims

    @field_validator("sources")
    @classmethod
    def _pims_known(cls, sources: list[SourceEntry], info: ValidationInfo) -> list[SourceEntry]:
        if "default_pim" in info.data and "pims" in info.data:
            known = pim_connections(info.data["default_pim"], info.data["pims"])
            problem = unknown_pims(known, [(s.name, s.pim) for s in sources])
            if problem:
                raise ValueError(problem)
        return sources

    @model_validator(mode="after")
    def _unique_sources(self) -> Settings:
        names = [s.name for s in self.sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique, repeated: {', '.join(duplicates)}")
        return self

    def source(self, name: str) -> SourceEntry:
        for entry in self.sources:
            if entry.name == name:
                return entry
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(f"no source named {name!r} (configured: {known})", key="sources")

    @property
    def pim(self) -> PimSettings:
        """The ``[pim]`` section: the PIM named ``default`` (a ConfigError when there is none)."""
        return pick_pim(self.pim_connections(), DEFAULT_PIM)[1]

    def pim_connections(self) -> dict[str, PimSettings]:
        """Every configured PIM by name: ``[pim]`` is ``default``, then ``[pims.<name>]``."""
        return pim_connections(self.default_pim, self.pims)

    def pim_for(self, source: str) -> PimSettings:
        """The PIM the source named ``source`` writes to (ConfigError: no such source)."""
        return pick_pim(self.pim_connections(), self.source(source).pim)[1]

    def secret_values(self) -> list[str]:
        """
        Every secret this configuration holds, in clear: each ``Secret`` key (the PIM's and
        the sources' credentials) and the store URL's password. For redaction only.
        """
        found: list[str] = []
        _collect_secrets(self, found)
        password = urlsplit(self.store.url).password
        if password:
            found.append(password)
        return found


def _collect_secrets(value: Any, found: list[str]) -> None:
    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect_secrets(getattr(value, name), found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_secrets(item, found)
    elif isinstance(value, Mapping):
        for item in value.values():
            _collect_secrets(item, found)


def load_settings(path: Path | str | None, environ: Mapping[str, str]) -> Settings:
    """
    Read, merge with the environment and validate the configuration.

    Raises:
        ConfigError: naming every bad key (``key`` is the first one).
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file: {exc.strerror}", key=str(path)) from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"the config file is not UTF-8 text (byte {exc.start})", key=str(path)
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", key=str(path)) from None
    data = merge(data, env_overrides(environ))
    try:
        settings = Settings.model_validate(data, context={"environ": environ})
    except ValidationError as exc:
        first = exc.errors()[0]["loc"] if exc.errors() else ()
        error = ConfigError(format_validation_error(exc))
        error.key = ".".join(str(p) for p in first) or None
        raise error from None
    # From here on, log lines and stored or printed error text mask these values.
    secret_values.remember(settings.secret_values())
    return settings


__all__ = [
    "MAX_SECONDS",
    "STORE_SCHEMES",
    "EngineSettings",
    "FailureSettings",
    "RuntimeSettings",
    "ScheduleSettings",
    "ServerSettings",
    "Settings",
    "SourceEntry",
    "StoreSettings",
    "load_settings",
]
