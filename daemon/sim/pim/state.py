"""
In-memory state of the PIM simulator: users and tokens, catalog, asset families, assets, files.

Everything the simulated PIM knows lives in one :class:`PimState`. It is mutable on purpose
(it is the server's database); the route modules validate input and then mutate it here.
Nothing in this module knows about HTTP.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

CODE_RE = re.compile(r"^[a-zA-Z0-9_]+$")
MEDIA_TYPES = frozenset({"media_file", "media_link"})
OPTION_TYPES = frozenset({"single_option", "multiple_options"})
# Limits from the reference (akeneo-api.md, "Limits" under asset families).
MAX_FAMILIES = 100
MAX_ATTRIBUTES = 100
MAX_OPTIONS = 100
MAX_ASSETS_PER_FAMILY = 1_000_000

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """
    Return the current time as an aware UTC datetime.

    Returns:
        ``datetime.now(UTC)``.
    """
    return datetime.now(UTC)


def whole_second(moment: datetime) -> datetime:
    """
    Cut a stamp to the whole second, the precision the API shows and filters on.

    Args:
        moment: an aware datetime.

    Returns:
        The same instant in UTC without its fraction of a second.
    """
    return moment.astimezone(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    """
    Format a stamp the way the PIM does (``2021-05-31T09:23:34+00:00``).

    Args:
        moment: an aware datetime.

    Returns:
        ISO-8601 text with seconds precision and a ``+00:00`` offset.
    """
    return whole_second(moment).isoformat()


@dataclass(frozen=True, slots=True)
class User:
    """One API connection: client credentials plus the API user."""

    client_id: str
    secret: str = field(repr=False)
    username: str
    password: str = field(repr=False)


@dataclass(slots=True)
class Token:
    """An access or refresh token; ``expires_at`` is None for app tokens, which never expire."""

    client_id: str
    expires_at: datetime | None


@dataclass(slots=True)
class Asset:
    """One stored asset; ``values`` maps attribute code to its value objects."""

    code: str
    values: dict[str, list[dict[str, Any]]]
    created: datetime
    updated: datetime


@dataclass(slots=True)
class Family:
    """One asset family with its attributes, their options and its assets."""

    code: str
    labels: dict[str, str] = field(default_factory=dict)
    attribute_as_main_media: str | None = None
    naming_convention: dict[str, Any] = field(default_factory=dict)
    product_link_rules: list[Any] = field(default_factory=list)
    transformations: list[Any] = field(default_factory=list)
    sharing_enabled: bool | None = None
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    options: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    assets: dict[str, Asset] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """
        Render the family as the API returns it.

        Returns:
            The family JSON without ``_links``.
        """
        body: dict[str, Any] = {
            "code": self.code,
            "labels": dict(self.labels),
            "attribute_as_main_media": self.attribute_as_main_media,
            "naming_convention": self.naming_convention,
            "product_link_rules": self.product_link_rules,
            "transformations": self.transformations,
        }
        if self.sharing_enabled is not None:
            body["sharing_enabled"] = self.sharing_enabled
        return body


@dataclass(frozen=True, slots=True)
class MediaFile:
    """An uploaded binary, kept in memory (demo scale)."""

    code: str
    filename: str
    mime_type: str
    content: bytes = field(repr=False)


@dataclass(slots=True)
class Product:
    """A product or product model; ``body`` holds its properties and ``values``."""

    key: str
    uuid: str | None
    body: dict[str, Any]
    created: datetime
    updated: datetime


@dataclass(slots=True)
class PimState:
    """The whole simulated PIM."""

    clock: Clock = utc_now
    users: list[User] = field(default_factory=list)
    access_tokens: dict[str, Token] = field(default_factory=dict)
    refresh_tokens: dict[str, Token] = field(default_factory=dict)
    locales: list[str] = field(default_factory=list)
    channels: list[dict[str, Any]] = field(default_factory=list)
    families: dict[str, Family] = field(default_factory=dict)
    media: dict[str, MediaFile] = field(default_factory=dict)
    product_attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, Product] = field(default_factory=dict)
    product_models: dict[str, Product] = field(default_factory=dict)
    link_runs: list[dict[str, Any]] = field(default_factory=list)
    uploads: int = 0
    upload_bytes: int = 0

    # -- catalog --------------------------------------------------------------------------

    def active_locales(self) -> set[str]:
        """
        Locales activated on at least one channel.

        Returns:
            The set of active locale codes.
        """
        return {loc for channel in self.channels for loc in channel.get("locales", [])}

    def channel(self, code: str) -> dict[str, Any] | None:
        """
        Find a channel by code.

        Args:
            code: the channel code.

        Returns:
            The channel JSON, or None.
        """
        return next((c for c in self.channels if c["code"] == code), None)

    # -- tokens ---------------------------------------------------------------------------

    def issue_tokens(self, client_id: str, token_ttl: int, refresh_ttl: int) -> tuple[str, str]:
        """
        Create a new access token and refresh token for a client.

        Args:
            client_id: the client the tokens belong to.
            token_ttl: access token lifetime in seconds.
            refresh_ttl: refresh token lifetime in seconds.

        Returns:
            ``(access_token, refresh_token)``.
        """
        now = self.clock()
        access, refresh = _new_token(), _new_token()
        self.access_tokens[access] = Token(client_id, now + timedelta(seconds=token_ttl))
        self.refresh_tokens[refresh] = Token(client_id, now + timedelta(seconds=refresh_ttl))
        return access, refresh

    def token_valid(self, token: str) -> bool:
        """
        Tell whether a bearer token is known and not expired.

        Args:
            token: the bearer token.

        Returns:
            True when the token may be used.
        """
        known = self.access_tokens.get(token)
        if known is None:
            return False
        return known.expires_at is None or known.expires_at > self.clock()

    def take_refresh_token(self, token: str, client_id: str) -> bool:
        """
        Consume a refresh token (single use); expired or foreign ones are refused.

        Args:
            token: the refresh token.
            client_id: the client presenting it.

        Returns:
            True when the token was valid and is now used up.
        """
        known = self.refresh_tokens.get(token)
        if known is None or known.client_id != client_id:
            return False
        del self.refresh_tokens[token]
        return known.expires_at is None or known.expires_at > self.clock()

    def expire_access_tokens(self) -> int:
        """
        Expire every expiring access token now (app tokens never expire).

        Returns:
            How many tokens were expired.
        """
        now = self.clock() - timedelta(seconds=1)
        count = 0
        for token in self.access_tokens.values():
            if token.expires_at is not None and token.expires_at > now:
                token.expires_at = now
                count += 1
        return count

    # -- media ----------------------------------------------------------------------------

    def store_media(self, filename: str, mime_type: str, content: bytes) -> MediaFile:
        """
        Keep an uploaded file and give it a file-storage code like the PIM's.

        Args:
            filename: the original file name of the part.
            mime_type: the part's content type.
            content: the bytes.

        Returns:
            The stored file, whose ``code`` is ``a/b/c/d/<sha1>_<filename>``.
        """
        self.uploads += 1
        self.upload_bytes += len(content)
        safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", filename) or "file"
        digest = hashlib.sha1(
            f"{self.uploads}:{filename}:".encode() + content, usedforsecurity=False
        ).hexdigest()
        code = "/".join(digest[:4]) + f"/{digest}_{safe_name}"
        stored = MediaFile(code=code, filename=filename, mime_type=mime_type, content=content)
        self.media[code] = stored
        return stored


def _new_token() -> str:
    return secrets.token_urlsafe(48).replace("-", "A").replace("_", "B")


def attribute_defaults(kind: str) -> dict[str, Any]:
    """
    The type-specific properties a new attribute of ``kind`` gets when they are not sent.

    Args:
        kind: the attribute type.

    Returns:
        A fresh dict of defaults.
    """
    if kind == "text":
        return {
            "max_characters": None,
            "is_textarea": False,
            "is_rich_text_editor": False,
            "validation_rule": "none",
            "validation_regexp": None,
        }
    if kind == "media_file":
        return {"allowed_extensions": [], "max_file_size": None}
    if kind == "media_link":
        return {"prefix": None, "suffix": None}
    if kind == "number":
        return {"decimals_allowed": False, "min_value": None, "max_value": None}
    return {}


def new_attribute(code: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """
    Build a stored attribute from a validated creation body.

    Args:
        code: the attribute code.
        body: the validated PATCH body.

    Returns:
        The attribute with common and type-specific defaults filled in.
    """
    attribute: dict[str, Any] = {
        "code": code,
        "labels": {},
        "type": body["type"],
        "value_per_locale": False,
        "value_per_channel": False,
        "is_required_for_completeness": False,
        "is_read_only": False,
    }
    attribute.update(attribute_defaults(body["type"]))
    for key, value in body.items():
        if key not in ("_links", "labels", "code"):
            attribute[key] = value
    attribute["labels"] = {k: v for k, v in body.get("labels", {}).items() if v is not None}
    return attribute
