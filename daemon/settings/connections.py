"""
Connection sections of the configuration: HTTP timeouts and retries, and the PIM.
"""

from __future__ import annotations

from pydantic import (
    Field,
    HttpUrl,
    model_validator,
)

from daemon.core.config_model import Model, Secret


class TimeoutSettings(Model):
    """Per-request timeouts in seconds (``connect``, ``read``, ``write``, ``pool``)."""

    connect: float = Field(5.0, gt=0)
    read: float = Field(60.0, gt=0)
    write: float = Field(60.0, gt=0)
    pool: float = Field(30.0, gt=0)


class RetrySettings(Model):
    """Retry policy for transient failures."""

    attempts: int = Field(6, ge=1, le=20)
    deadline: float = Field(120.0, gt=0)
    wait_initial: float = Field(0.5, ge=0)
    wait_max: float = Field(30.0, ge=0)
    retry_after_max: float = Field(60.0, ge=0)
    throttle_pause: float = Field(1.0, ge=0)


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


__all__ = ["HttpSettings", "PimSettings", "RetrySettings", "TimeoutSettings"]
