"""
Source configuration: how one DAM is read, described in TOML rather than in code.

A source is one ``[[sources]]`` table with ``name``, ``kind`` and the kind's section
(``[sources.rest]`` or ``[sources.folder]``) plus ``[sources.http]`` for REST sources, and
``[sources.schedule]``: when it is polled.
:func:`load_source_settings` validates one such table; secrets accept a literal,
``{env = "NAME"}`` or ``{file = "/path"}`` exactly as in the main configuration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, FiniteFloat, ValidationError, field_validator, model_validator

from daemon.core.config_model import MAX_SECONDS, Model, Secret, format_validation_error
from daemon.core.errors import ConfigError
from daemon.settings.connections import NAME_PATTERN, HttpSettings

#: ``iso`` (full precision, ``Z``), ``iso_seconds`` (floored to seconds), epoch seconds or
#: milliseconds; any other value containing ``%`` is a ``strftime`` pattern (read as UTC).
DateFormat = str


def _seconds(value: float) -> float:
    """A duration key: finite and at most :data:`MAX_SECONDS`."""
    if not math.isfinite(value) or value > MAX_SECONDS:
        raise ValueError(f"must be a finite number of seconds, at most {MAX_SECONDS}")
    return value


def _http_url(value: str, *, relative: bool = False) -> str:
    """
    An ``http``/``https`` URL with a host (or, with ``relative``, a path on the DAM itself).

    Only the scheme is quoted back: a URL may carry credentials.
    """
    parts = urlsplit(value.strip())
    if relative and not parts.scheme and not parts.netloc:
        return value
    if parts.scheme not in ("http", "https"):
        found = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ValueError(f"must be an http:// or https:// URL ({found})")
    if not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value.strip()


class AuthSettings(Model):
    """How the DAM wants to be authenticated."""

    type: Literal["none", "bearer", "api_key_header", "api_key_query", "basic", "oauth2"] = "none"
    token: Secret | None = None
    header: str = "X-Api-Key"
    query_param: str = "api_key"
    api_key: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    scope: str | None = None
    refresh_margin: float = Field(60.0, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> AuthSettings:
        needs: dict[str, tuple[str, ...]] = {
            "bearer": ("token",),
            "api_key_header": ("api_key",),
            "api_key_query": ("api_key",),
            "basic": ("username", "password"),
            "oauth2": ("token_url", "client_id", "client_secret"),
        }
        missing = [k for k in needs.get(self.type, ()) if getattr(self, k) is None]
        if missing:
            raise ValueError(f"auth type {self.type!r} needs {', '.join(missing)}")
        return self

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value, relative=True)

    @field_validator("refresh_margin")
    @classmethod
    def _finite_margin(cls, value: float) -> float:
        return _seconds(value)


class DateParam(Model):
    """A query (or body) parameter carrying a datetime bound."""

    name: str
    format: DateFormat = "iso"
    #: The DAM compares with ``>`` rather than ``>=``: send one resolution unit earlier.
    exclusive: bool = False


class PagingSettings(Model):
    """
    How pages follow each other.

    ``page``/``offset`` are plain positional styles; the source reads them anchored on the
    modified-since parameter (see docs/sources.md). ``cursor`` reads an opaque token from a
    body path (``cursor_path``) or a header (``cursor_header``), ``next_url`` a full URL from a
    body path, ``link`` the RFC 8288 ``Link: <...>; rel="next"`` header.
    """

    style: Literal["page", "offset", "cursor", "next_url", "link"]
    param: str = "page"
    first_page: int = 1
    cursor_path: str | None = None
    cursor_header: str | None = None
    next_url_path: str = "next"
    limit_param: str = "limit"
    page_size: int = Field(100, ge=2, le=5000)
    #: Requests of one walk (a window, an id sweep) before the DAM is declared to page forever.
    max_pages: int = Field(10_000, ge=1)

    @model_validator(mode="after")
    def _cursor_source(self) -> PagingSettings:
        if self.style == "cursor" and not (self.cursor_path or self.cursor_header):
            raise ValueError("cursor paging needs cursor_path or cursor_header")
        return self


class DeletedField(Model):
    """Where the deleted flag is and which values mean deleted."""

    path: str
    truthy: list[Any] = [True, 1, "1", "true", "True"]
    equals: Any = None


class FieldPaths(Model):
    """Dotted paths into one item; an empty ``metadata`` means the whole item."""

    id: str = "id"
    updated_at: str = "updated_at"
    updated_at_format: DateFormat = "iso"
    deleted: DeletedField | None = None
    binary_url: str | None = None
    filename: str | None = None
    mime_type: str | None = None
    size: str | None = None
    checksum: str | None = None
    checksum_algorithm: Literal["sha256", "sha1", "md5"] = "sha256"
    metadata: str = ""


class DownloadSettings(Model):
    """A per-asset endpoint that answers JSON holding the temporary binary URL (Bynder)."""

    path_template: str
    url_path: str
    #: Send the DAM's credentials to the resolved URL (never for third-party storage).
    authenticate_binary: bool = False


class RestSettings(Model):
    """The changes endpoint and where everything is in its answers."""

    base_url: str
    changes_path: str
    method: Literal["GET", "POST"] = "GET"
    #: Extra fixed query parameters (GET) sent with every listing request.
    params: dict[str, str] = {}
    #: POST only: a JSON body template; strings may hold ``{since}``, ``{until}``, ``{limit}``.
    body_template: dict[str, Any] | None = None
    #: With POST the bounds, the limit and the page/cursor go into the JSON body under
    #: the same parameter names.
    modified_since: DateParam | None = None
    #: Only its ``format`` is used: the ``{until}`` placeholder of a body template gets a far
    #: date in it. Listings never send the window's upper bound (docs/sources.md).
    modified_before: DateParam | None = None
    sort_param: str | None = None
    sort_value: str = ""
    items_path: str = ""
    server_time_path: str | None = None
    #: Seconds the DAM's clock read from the latest answer is reused (plus the monotonic time
    #: elapsed) instead of a probe request (default 300 s); 0 = always probe.
    #: With a ``Date``-only DAM (whole seconds, floored) keep ``settle_delay`` >= 1 s.
    clock_anchor_max_age: float = Field(300.0, ge=0)
    #: Seconds an asset's ``updated_at`` may lie after the DAM's clock before it is reported as
    #: a per-asset error (field ``updated_at``) instead of waiting for a later window.
    future_tolerance: float = Field(86400.0, ge=1)
    paging: PagingSettings
    fields: FieldPaths = FieldPaths()
    download: DownloadSettings | None = None
    #: Fetch by ids: query parameter (comma-joined) on the changes endpoint ...
    ids_param: str | None = None
    #: ... or one POST per id to the changes endpoint with this JSON body, whose strings may
    #: hold ``{id}`` (Cloudinary: ``{expression = "asset_id=\"{id}\""}``) ...
    ids_body_template: dict[str, Any] | None = None
    #: ... or one GET per id on this path (``/api/v4/media/{id}/``).
    item_path_template: str | None = None
    #: Reconciliation: an ids endpoint answering ``{ids_path: [...], cursor...}``; without it
    #: the changes endpoint is read with no lower bound.
    ids_path: str | None = None
    ids_items_path: str = "ids"
    ids_cursor_path: str = "next_cursor"
    auth: AuthSettings = AuthSettings()

    @model_validator(mode="after")
    def _post_body(self) -> RestSettings:
        if self.method == "POST" and self.body_template is None:
            raise ValueError("method POST needs body_template")
        return self

    @field_validator("base_url")
    @classmethod
    def _web_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("clock_anchor_max_age", "future_tolerance")
    @classmethod
    def _finite_seconds(cls, value: float) -> float:
        return _seconds(value)

    @property
    def sorted(self) -> bool:
        return self.sort_param is not None or (
            self.body_template is not None and "sort_by" in self.body_template
        )


class FolderSettings(Model):
    """A hot folder: files with optional ``<file>.json`` sidecars or a ``metadata.csv``."""

    path: str
    settle_seconds: float = Field(10.0, ge=0)
    follow_symlinks: bool = True
    ignore: list[str] = [".*", "*.tmp", "*.part"]
    chunk_size: int = Field(1 << 16, ge=1024)
    #: Seconds a file's time may lie after the filesystem's clock before it is reported as a
    #: per-asset error (field ``updated_at``) instead of waiting to settle.
    future_tolerance: float = Field(86400.0, ge=1)
    #: Largest ``<file>.json`` sidecar read; a larger one is a per-asset error (field
    #: ``metadata``) naming this key, so a hostile sidecar cannot fill memory.
    max_sidecar_bytes: int = Field(1 << 20, ge=64)
    #: Largest ``metadata.csv`` read; a larger one fails the files relying on it.
    max_csv_bytes: int = Field(64 << 20, ge=64)

    @field_validator("settle_seconds", "future_tolerance")
    @classmethod
    def _finite_seconds(cls, value: float) -> float:
        return _seconds(value)


class ScheduleSettings(Model):
    """
    When a source is polled: every ``interval`` seconds or on a ``cron`` expression (UTC).

    Setting both is refused: neither silently wins.
    """

    interval: FiniteFloat | None = Field(60.0, gt=0, le=MAX_SECONDS)
    cron: str | None = None
    jitter: FiniteFloat = Field(
        0.0, ge=0, le=MAX_SECONDS, description="random delay added to each run, seconds"
    )
    misfire_grace: FiniteFloat | None = Field(
        None,
        gt=0,
        le=MAX_SECONDS,
        description="a run later than this is skipped; default: one interval",
    )
    reconcile_interval: FiniteFloat | None = Field(
        3600.0,
        gt=0,
        le=MAX_SECONDS,
        description="seconds between full id sweeps that find hard deletes",
    )

    @model_validator(mode="after")
    def _check_cron(self) -> ScheduleSettings:
        if self.cron is not None and self.interval is not None:
            if "interval" in self.model_fields_set:
                raise ValueError(
                    "set either interval or cron, not both: a cron expression replaces the interval"
                )
        elif self.cron is None and self.interval is None:
            raise ValueError("set interval or cron")
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(self.cron, timezone="UTC")
            except ValueError as exc:
                raise ValueError(f"invalid cron expression {self.cron!r}: {exc}") from None
        return self


class SourceSettings(Model):
    """One DAM source."""

    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["rest", "folder"]
    rest: RestSettings | None = None
    folder: FolderSettings | None = None
    http: HttpSettings = HttpSettings()

    @model_validator(mode="after")
    def _section(self) -> SourceSettings:
        if self.kind == "rest" and self.rest is None:
            raise ValueError("kind 'rest' needs a [sources.rest] section")
        if self.kind == "folder" and self.folder is None:
            raise ValueError("kind 'folder' needs a [sources.folder] section")
        return self


def load_source_settings(
    table: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> SourceSettings:
    """
    Validate one ``[[sources]]`` table.

    Args:
        table: The parsed TOML table (``name``, ``kind``, ``rest``/``folder``, ``http``).
        environ: Environment for ``{env = "NAME"}`` secrets.

    Returns:
        The validated settings.

    Raises:
        ConfigError: naming the first bad key under ``sources.<name>``.
    """
    try:
        return SourceSettings.model_validate(dict(table), context={"environ": environ or {}})
    except ValidationError as exc:
        first = exc.errors()[0]["loc"] if exc.errors() else ()
        name = table.get("name", "?")
        error = ConfigError(format_validation_error(exc))
        error.key = ".".join(["sources", str(name), *(str(p) for p in first)])
        raise error from None


__all__ = [
    "MAX_SECONDS",
    "AuthSettings",
    "DateParam",
    "DeletedField",
    "DownloadSettings",
    "FieldPaths",
    "FolderSettings",
    "PagingSettings",
    "RestSettings",
    "ScheduleSettings",
    "SourceSettings",
    "load_source_settings",
]
