"""
Configuration building blocks: the base model, secrets, HTTP and PIM sections.

The whole file is composed in :mod:`daemon.settings` (which also loads it), so that component
sections (sources, mapping) can build on these blocks without an import cycle.

The file is TOML. Every key can also come from the environment as ``DAMSYNC_<SECTION>__<KEY>``
(``DAMSYNC_PIM__BASE_URL``), which wins over the file. Secrets are never written in clear in a
model's repr: a secret key accepts a literal string, ``{env = "NAME"}`` or ``{file = "/path"}``
(Docker/Kubernetes secrets), resolved at load time into a ``SecretStr``.

Nothing below ``cli.py`` reads ``os.environ``: :func:`load_settings` takes the environment as an
argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from daemon.http import HttpTimeouts, RetryPolicy

ENV_PREFIX = "DAMSYNC_"


def _resolve_secret(value: Any, info: ValidationInfo) -> Any:
    """Turn ``{env = "X"}`` / ``{file = "p"}`` into the secret's text; leave strings alone."""
    if isinstance(value, Mapping):
        environ: Mapping[str, str] = (info.context or {}).get("environ", {})
        if set(value) == {"env"}:
            name = str(value["env"])
            if name not in environ:
                raise ValueError(f"environment variable {name} is not set")
            return environ[name]
        if set(value) == {"file"}:
            path = Path(str(value["file"]))
            try:
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
        raise ValueError('a secret is a string, {env = "NAME"} or {file = "/path"}')
    return value


Secret = Annotated[SecretStr, BeforeValidator(_resolve_secret)]


class Model(BaseModel):
    """Base of every config section: frozen, unknown keys refused (typos are errors)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class TimeoutSettings(Model):
    """Per-request timeouts in seconds (``connect``, ``read``, ``write``, ``pool``)."""

    connect: float = Field(5.0, gt=0)
    read: float = Field(60.0, gt=0)
    write: float = Field(60.0, gt=0)
    pool: float = Field(30.0, gt=0)

    def build(self) -> HttpTimeouts:
        return HttpTimeouts(self.connect, self.read, self.write, self.pool)


class RetrySettings(Model):
    """Retry policy for transient failures."""

    attempts: int = Field(6, ge=1, le=20)
    deadline: float = Field(120.0, gt=0)
    wait_initial: float = Field(0.5, ge=0)
    wait_max: float = Field(30.0, ge=0)
    retry_after_max: float = Field(60.0, ge=0)
    throttle_pause: float = Field(1.0, ge=0)

    def build(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.attempts,
            deadline=self.deadline,
            wait_initial=self.wait_initial,
            wait_max=self.wait_max,
            retry_after_max=self.retry_after_max,
            throttle_pause=self.throttle_pause,
        )


class HttpSettings(Model):
    """Transport settings shared by the PIM and every REST source."""

    timeouts: TimeoutSettings = TimeoutSettings()
    retry: RetrySettings = RetrySettings()
    max_in_flight: int = Field(4, ge=1, le=64)
    rate_limit: float | None = Field(None, gt=0, description="requests per second, or none")
    verify_tls: bool = True


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


def format_validation_error(error: ValidationError) -> str:
    """One line per problem, each naming its dotted config path."""
    lines = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "<root>"
        lines.append(f"{path}: {item['msg']}")
    return "\n".join(lines)


__all__ = [
    "HttpSettings",
    "Model",
    "PimSettings",
    "RetrySettings",
    "Secret",
    "TimeoutSettings",
    "format_validation_error",
]
