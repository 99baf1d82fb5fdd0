"""
Every error damsync raises on purpose, in one tree.

Retryability is not a branch of the tree but a marker base, so a caller can ask either
"which component failed?" (``except PimError``) or "is it worth another try?"
(``except TransientError``)::

    Exception
    ├── TransientError            marker: a later attempt may succeed (5xx, 429, timeouts)
    ├── PermanentError            marker: retrying the same input fails the same way
    └── SyncError                 root of everything damsync raises
        ├── ConfigError           bad configuration; names the key        (permanent)
        ├── SourceError           a DAM source failed
        │   ├── SourceUnavailable     transient: network, 5xx, 429, timeouts
        │   ├── SourceAuthError       permanent: credentials refused
        │   ├── SourceProtocolError   permanent: the DAM answered something we cannot read
        │   └── SourceAssetError      permanent: one asset is bad (names asset, field, path)
        ├── PimError              the Akeneo PIM failed
        │   ├── PimUnavailable        transient: network, 5xx, 408, 429, timeouts
        │   │   └── PimThrottled          429, carries retry_after
        │   ├── PimAuthError          permanent: credentials or token refused
        │   ├── PimProtocolError      permanent: unreadable answer (HTML page, bad JSON, ...)
        │   ├── PimNotFound           permanent: 404
        │   ├── PimRejected           permanent: 4xx validation failure (carries field errors)
        │   └── StructureDriftError   transient: refused because a family changed behind our copy
        ├── MappingError          one asset cannot be mapped (names asset, field, reason)
        └── CheckpointError       the state store refused a write (e.g. lease epoch lost)

Errors carry fields rather than only strings so that callers can record them (``endpoint``,
``status_code``, ``asset_id``, ``field``). Messages never contain secrets: adapters build them
from endpoint templates, never from raw URLs with query strings or headers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: How much of an id an error message quotes: the reason must survive any truncation of the
#: stored detail, and a hostile 100 kB id must not grow every log line.
SHOWN_ID_CHARS = 120


def shown_id(asset_id: str) -> str:
    """An id as error messages quote it: whole when short, else its head and its length."""
    if len(asset_id) <= SHOWN_ID_CHARS:
        return repr(asset_id)
    return f"{asset_id[:SHOWN_ID_CHARS]!r}… ({len(asset_id)} characters)"


class TransientError(Exception):
    """Marker: the same operation may succeed later."""


class PermanentError(Exception):
    """Marker: the same operation with the same input will fail again."""


class SyncError(Exception):
    """Root of every error damsync raises on purpose."""


class ConfigError(SyncError, PermanentError):
    """The configuration is invalid; ``key`` is its dotted path."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


# --- HTTP upstream errors (shared shape for the PIM and the DAM) -----------------------------


class UpstreamError(SyncError):
    """
    An HTTP upstream (PIM or DAM) failed.

    Args:
        message: What went wrong, for humans.
        endpoint: The endpoint *template* (``/api/rest/v1/asset-families/{family}``), never a
            raw URL, so that no identifier or secret leaks into logs or metric labels.
        method: HTTP method.
        status_code: HTTP status, or ``None`` when no answer came back.
        body: A short, already-truncated excerpt of the answer, for diagnosis.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        method: str = "",
        status_code: int | None = None,
        body: str = "",
    ) -> None:
        self.endpoint = endpoint
        self.method = method
        self.status_code = status_code
        self.body = body
        where = f"{method} {endpoint}".strip()
        status = f" -> {status_code}" if status_code is not None else ""
        prefix = f"{where}{status}: " if where else ""
        super().__init__(f"{prefix}{message}")


class UpstreamUnavailableMixin(TransientError):
    """Transient upstream failure; ``retry_after`` is the server's hint in seconds, if any."""

    retry_after: float | None = None


# --- DAM sources ---------------------------------------------------------------------------------


class SourceError(UpstreamError):
    """A DAM source failed."""


class SourceUnavailable(SourceError, UpstreamUnavailableMixin):
    """Network failure, timeout, 408, 429 or 5xx from the DAM."""


class SourceAuthError(SourceError, PermanentError):
    """The DAM refused our credentials."""


class SourceProtocolError(SourceError, PermanentError):
    """The DAM answered something we cannot read (HTML, truncated JSON, wrong content type)."""


class SourceAssetError(SourceError, PermanentError):
    """
    One DAM asset is unusable; the rest of its page goes on.

    Args:
        asset_id: The DAM id, or ``None`` when even the id could not be read.
        field: Our field name (``updated_at``, ``binary_url``, ...).
        path: Where in the DAM's record we looked (a dotted path), or a file path.
        reason: Why the value was refused.
    """

    def __init__(
        self,
        *,
        asset_id: str | None,
        field: str,
        path: str,
        reason: str,
        source: str = "",
    ) -> None:
        self.asset_id = asset_id
        self.field = field
        self.path = path
        self.reason = reason
        self.source = source
        who = f"asset {shown_id(asset_id)}" if asset_id is not None else "asset with unreadable id"
        src = f"source {source!r}, " if source else ""
        super().__init__(f"{src}{who}, field {field!r} at {path!r}: {reason}")


class UnusableBinaryError(SourceAssetError):
    """
    The asset's binary cannot be used as the DAM describes it, whatever the attempt: its announced
    checksum cannot be read, its URL's scheme is not http(s). Unlike a truncated download (a
    plain :class:`SourceAssetError`, worth a retry), only a change of the DAM's record helps.
    """


# --- Akeneo PIM -------------------------------------------------------------------------------


class PimError(UpstreamError):
    """The Akeneo PIM failed."""


class PimUnavailable(PimError, UpstreamUnavailableMixin):
    """Network failure, timeout, 408, 5xx from the PIM."""


class PimThrottled(PimUnavailable):
    """429 from the PIM; ``retry_after`` holds the ``Retry-After`` seconds when sent."""


class PimAuthError(PimError, PermanentError):
    """The PIM refused our credentials, or a refreshed token was refused again."""


class PimProtocolError(PimError, PermanentError):
    """The PIM answered something that does not follow its API (HTML, bad JSON, no header)."""


class PimNotFound(PimError, PermanentError):
    """404 from the PIM."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One entry of an Akeneo 422 ``errors`` array."""

    property: str
    message: str
    attribute: str | None = None
    locale: str | None = None
    channel: str | None = None


class PimRejected(PimError, PermanentError):
    """A 4xx validation failure; ``errors`` holds Akeneo's per-field errors."""

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[FieldError] = (),
        endpoint: str = "",
        method: str = "",
        status_code: int | None = None,
        body: str = "",
    ) -> None:
        self.errors = tuple(errors)
        detail = "; ".join(f"{e.property}: {e.message}" for e in self.errors)
        full = f"{message} ({detail})" if detail else message
        super().__init__(full, endpoint=endpoint, method=method, status_code=status_code, body=body)


class StructureDriftError(PimError, TransientError):
    """
    The PIM refused an asset because the family's structure is no longer what our cached copy
    says (an attribute, an option or the family itself gone, an attribute's type changed).

    Transient: the copy is read again before the next try, which then writes the asset or fails
    it for good (usually as a mapping problem naming the configuration).

    Args:
        message: One line naming the asset, the field and why (the PIM's words included).
        field: The attribute value (``title[locale=en_US]``) or ``family`` the answer names.
        errors: Akeneo's per-field errors of the rejection.
        status_code: The per-item (or request) status.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str,
        errors: Sequence[FieldError] = (),
        status_code: int | None = None,
    ) -> None:
        self.field = field
        self.errors = tuple(errors)
        super().__init__(message, status_code=status_code)


# --- mapping and state ---------------------------------------------------------------------


class MappingError(SyncError, PermanentError):
    """
    One DAM asset cannot be turned into a PIM asset.

    Args:
        asset_id: The DAM id.
        field: The PIM attribute (or ``family``/``code``) that could not be filled.
        reason: Why.
        details: Extra context for the failures table.
    """

    def __init__(
        self,
        *,
        asset_id: str,
        field: str,
        reason: str,
        details: Mapping[str, object] | None = None,
    ) -> None:
        self.asset_id = asset_id
        self.field = field
        self.reason = reason
        self.details = dict(details or {})
        super().__init__(f"asset {shown_id(asset_id)}, field {field!r}: {reason}")


class CheckpointError(SyncError, PermanentError):
    """The state store refused a checkpoint write (lease lost, schema not at head, ...)."""


__all__ = [
    "CheckpointError",
    "ConfigError",
    "FieldError",
    "MappingError",
    "PermanentError",
    "PimAuthError",
    "PimError",
    "PimNotFound",
    "PimProtocolError",
    "PimRejected",
    "PimThrottled",
    "PimUnavailable",
    "SourceAssetError",
    "UnusableBinaryError",
    "SourceAuthError",
    "SourceError",
    "SourceProtocolError",
    "SourceUnavailable",
    "StructureDriftError",
    "SyncError",
    "TransientError",
    "UpstreamError",
    "UpstreamUnavailableMixin",
]
