"""
The whole configuration: typed, validated once at start, then passed down.

The file is TOML. Every key can also come from the environment as ``DAMSYNC_<SECTION>__<KEY>``
(``DAMSYNC_PIM__BASE_URL``), which wins over the file. Secrets are never written in clear in a
model's repr: a secret key accepts a literal string, ``{env = "NAME"}`` or ``{file = "/path"}``
(Docker/Kubernetes secrets), resolved at load time into a ``SecretStr``.

Nothing below ``cli.py`` reads ``os.environ``: :func:`load_settings` takes the environment as an
argument. Every key is documented in ``docs/configuration.md``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from daemon.core.config_model import ENV_PREFIX, Model, format_validation_error
from daemon.core.errors import ConfigError
from daemon.mapping.rules import SourceMapping
from daemon.settings.connections import PimSettings
from daemon.settings.dam_sources import SourceSettings


class ScheduleSettings(Model):
    """When a source is polled: every ``interval`` seconds or on a ``cron`` expression (UTC)."""

    interval: float | None = Field(60.0, gt=0)
    cron: str | None = None
    jitter: float = Field(0.0, ge=0, description="random delay added to each run, seconds")
    misfire_grace: float | None = Field(
        None, gt=0, description="a run later than this is skipped; default: one interval"
    )
    reconcile_interval: float | None = Field(
        3600.0, gt=0, description="seconds between full id sweeps that find hard deletes"
    )

    @model_validator(mode="after")
    def _check_cron(self) -> ScheduleSettings:
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(self.cron, timezone="UTC")
            except ValueError as exc:
                raise ValueError(f"invalid cron expression {self.cron!r}: {exc}") from None
        return self


class EngineSettings(Model):
    """How a source's changes are read and written (``[sources.sync]``)."""

    lookback: float = Field(300.0, ge=0, description="seconds re-read before the cursor")
    settle_delay: float = Field(30.0, ge=0, description="read changes at least this old")
    batch_size: int = Field(100, ge=1, le=100)
    batch_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    media_concurrency: int = Field(
        8, ge=1, le=32, description="binaries in transfer at once (download + upload)"
    )
    pipeline_depth: int = Field(
        4, ge=1, le=16, description="batches written to the PIM at once (commits stay in order)"
    )
    delete_policy: Literal["delete", "ignore"] = "delete"
    retry_batch: int = Field(100, ge=1, le=1000, description="due failures retried per run")
    reconcile_max_delete_fraction: float = Field(
        0.5,
        gt=0,
        le=1,
        description="a sweep that would delete more than this share of known assets is refused",
    )


class SourceEntry(SourceSettings):
    """One ``[[sources]]`` table: the DAM, its schedule, its engine settings and its mapping."""

    schedule: ScheduleSettings = ScheduleSettings()
    sync: EngineSettings = EngineSettings()
    mapping: SourceMapping


class StoreSettings(Model):
    """The state database."""

    url: str = "sqlite:///damsync.db"
    lease_ttl: float = Field(600.0, gt=0, description="seconds a pass holds its source's lease")


class FailureSettings(Model):
    """Retries of failed assets: exponential backoff, then dead letters."""

    base_seconds: float = Field(60.0, gt=0)
    factor: float = Field(2.0, ge=1)
    max_seconds: float = Field(21600.0, gt=0)
    max_attempts: int = Field(8, ge=1)


class ServerSettings(Model):
    """The HTTP endpoints (``/metrics``, ``/healthz``, ``/readyz``)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(9180, ge=0, le=65535)
    readiness_multiple: float = Field(
        3.0, gt=1, description="unready when a source's last success is older than N intervals"
    )


class RuntimeSettings(Model):
    """The daemon process."""

    shutdown_grace: float = Field(
        8.0, gt=0, description="seconds a stop waits for running batches; below Docker's 10 s"
    )
    retry_interval: float = Field(60.0, gt=0, description="seconds between failure retry runs")
    structure_ttl: float = Field(3600.0, gt=0, description="seconds the family cache is kept")
    spool_dir: str | None = None
    pid_file: str | None = None


class Settings(Model):
    """The whole configuration file."""

    pim: PimSettings
    sources: list[SourceEntry] = []
    store: StoreSettings = StoreSettings()
    failures: FailureSettings = FailureSettings()
    server: ServerSettings = ServerSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

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


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``DAMSYNC_PIM__HTTP__MAX_IN_FLIGHT=8`` becomes ``{"pim": {"http": {...: "8"}}}``."""
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return tree


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


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
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", key=str(path)) from None
    data = _merge(data, _env_overrides(environ))
    try:
        return Settings.model_validate(data, context={"environ": environ})
    except ValidationError as exc:
        first = exc.errors()[0]["loc"] if exc.errors() else ()
        error = ConfigError(format_validation_error(exc))
        error.key = ".".join(str(p) for p in first) or None
        raise error from None


__all__ = [
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
