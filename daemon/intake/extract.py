"""
Event extraction: a verified body becomes :class:`~daemon.core.events.DamEvent` values.

Where a body holds the asset ids, the event kind and the delivery id is configuration
(:class:`~daemon.settings.event_intake.EventFields`): dotted paths where ``name[]`` (or a bare
``[]``) walks a list, and ``a | b`` tries ``a`` then ``b`` (Cloudinary names one asset in
``asset_id`` but several in ``resources[].asset_id``). A leaf holding a list gives each of its
items.

Everything is refused with one :class:`~daemon.intake.ports.EventParseError` line naming the field
and why: ids that are not strings or integers, empty or too long, too many of them; a missing
kind; an event id that is too long. Nothing else escapes, whatever JSON comes in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from daemon.core.errors import ConfigError
from daemon.core.events import MAX_DAM_ID, MAX_EVENT_ID, DamEvent, EventKind, EventOrigin
from daemon.intake.ports import EventParseError, Parse
from daemon.settings.event_intake import EventFields

#: Asset ids one event may name; a body naming more is refused (a bulk change is polled).
MAX_IDS_PER_EVENT = 1000

#: The suffix (or whole step) that walks a list.
_ITERATE = "[]"


@dataclass(frozen=True, slots=True)
class _Step:
    key: str | None  # None: stay on the current value
    each: bool  # walk the list found there


class _Missing:
    """Why a path found nothing (one line)."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


class JsonPath:
    """
    A compiled path: alternatives (``|``) of dotted steps (``name``, ``name[]``, ``[]``).

    Raises:
        ConfigError: the text is not a path (empty step, ``[]`` in the middle of a name).
    """

    def __init__(self, text: str, *, key: str) -> None:
        self.text = text
        self._alternatives = tuple(self._compile(alt.strip(), key) for alt in text.split("|"))

    @staticmethod
    def _compile(alternative: str, key: str) -> tuple[_Step, ...]:
        if not alternative:
            raise ConfigError("an empty path (before or after '|')", key=key)
        steps: list[_Step] = []
        for part in alternative.split("."):
            name, each = (part[:-2], True) if part.endswith(_ITERATE) else (part, False)
            if (not name and not each) or "[" in name or "]" in name:
                raise ConfigError(f"{alternative!r} is not a dotted path (a.b, a[].b)", key=key)
            steps.append(_Step(name or None, each))
        return tuple(steps)

    def find(self, document: object) -> list[object] | _Missing:
        """The values at the first alternative that resolves, or why none did."""
        first: _Missing | None = None
        for steps in self._alternatives:
            found = _walk(document, steps)
            if not isinstance(found, _Missing):
                return found
            first = first or found
        assert first is not None  # at least one alternative
        return _Missing(f"nothing at {self.text!r} ({first.why})")


def _walk(document: object, steps: tuple[_Step, ...]) -> list[object] | _Missing:
    values: list[object] = [document]
    where = "the body"
    for step in steps:
        following: list[object] = []
        for value in values:
            if step.key is not None:
                if not isinstance(value, dict):
                    return _Missing(f"{where} is not an object")
                if step.key not in value:
                    return _Missing(f"no {step.key!r} in {where}")
                value = value[step.key]
            if step.each:
                if not isinstance(value, list):
                    return _Missing(f"{step.key or where!r} is not a list")
                following.extend(value)
            else:
                following.append(value)
        values = following
        where = repr(step.key) if step.key is not None else where
    return values


def _scalar_id(value: object, what: str, limit: int) -> str:
    """An id: a non-empty string or an integer (never a boolean), ``limit`` characters at most."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EventParseError(f"{what}: a {type(value).__name__} is not an id")
    text = str(value)
    if not text.strip():
        raise EventParseError(f"{what}: empty")
    if len(text) > limit:
        raise EventParseError(f"{what}: longer than {limit} characters")
    return text


def body_digest(raw: bytes) -> str:
    """The event id of a body whose DAM sends none: ``sha256:`` and its hex digest."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def parse_json(raw: bytes) -> object:
    """
    Decode a JSON body.

    Raises:
        EventParseError: not UTF-8 JSON, or nested or sized beyond what the decoder takes.
    """
    try:
        return json.loads(raw)
    except RecursionError:
        raise EventParseError("body: JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the int digit limit
        raise EventParseError(f"body: not JSON ({type(exc).__name__})") from None


def utc_now() -> datetime:
    """The current aware UTC time."""
    return datetime.now(UTC)


class EventReader:
    """
    Reads one source's event bodies as configured by its ``[sources.events]``.

    Args:
        source: The source name events are stored under.
        fields: Where the ids, kind and event id are.

    Raises:
        ConfigError: a path cannot be compiled.
    """

    def __init__(self, source: str, fields: EventFields) -> None:
        self.source = source
        key = f"sources.{source}.events"
        self._ids = JsonPath(fields.ids, key=f"{key}.ids")
        self._kind = None if fields.kind is None else JsonPath(fields.kind, key=f"{key}.kind")
        self._event_id = (
            None if fields.event_id is None else JsonPath(fields.event_id, key=f"{key}.event_id")
        )
        self._deleted = frozenset(fields.deleted)
        self._ignored = frozenset(fields.ignored)

    def read(
        self,
        raw: bytes,
        *,
        origin: EventOrigin,
        received_at: datetime,
        id_hint: str | None = None,
    ) -> list[DamEvent]:
        """:meth:`events` of the JSON-decoded ``raw`` body."""
        return self.events(
            parse_json(raw), raw=raw, id_hint=id_hint, origin=origin, received_at=received_at
        )

    def events(
        self,
        document: object,
        *,
        raw: bytes,
        id_hint: str | None,
        origin: EventOrigin,
        received_at: datetime,
    ) -> list[DamEvent]:
        """
        The events of a decoded body.

        Args:
            document: The decoded body (for SNS: the envelope, ``Message`` decoded in place).
            raw: The raw body, digested when no event id is found.
            id_hint: The signing style's delivery id (``webhook-id``, SNS ``MessageId``).
            origin: Where it came in.
            received_at: When it came in (aware UTC).

        Returns:
            One event, or none for an ignored kind.

        Raises:
            EventParseError: the body cannot be read as configured.
        """
        kind = self._read_kind(document)
        if kind is None:
            return []
        ids = self._read_ids(document)
        event_id = self._read_event_id(document, raw, id_hint)
        return [DamEvent(self.source, event_id, ids, kind, received_at, origin)]

    def parser(self, origin: EventOrigin, *, clock: Callable[[], datetime] = utc_now) -> Parse:
        """
        A broker's :data:`~daemon.intake.ports.Parse`: a JSON body (no signature) read with this
        reader, received now; its event id is the configured path, else the body's digest.
        """

        def parse(raw: bytes) -> Sequence[DamEvent]:
            return self.read(raw, origin=origin, received_at=clock())

        return parse

    def _read_kind(self, document: object) -> EventKind | None:
        if self._kind is None:
            return "changed"
        found = self._kind.find(document)
        if isinstance(found, _Missing):
            raise EventParseError(f"kind: {found.why}")
        if len(found) != 1:
            raise EventParseError(f"kind: {len(found)} values at {self._kind.text!r}, not one")
        kind = _scalar_id(found[0], "kind", MAX_EVENT_ID)
        if kind in self._ignored:
            return None
        return "deleted" if kind in self._deleted else "changed"

    def _read_ids(self, document: object) -> tuple[str, ...]:
        found = self._ids.find(document)
        if isinstance(found, _Missing):
            raise EventParseError(f"ids: {found.why}")
        ids: dict[str, None] = {}
        for value in found:
            for item in value if isinstance(value, list) else [value]:
                ids[_scalar_id(item, "ids", MAX_DAM_ID)] = None
                if len(ids) > MAX_IDS_PER_EVENT:
                    raise EventParseError(f"ids: more than {MAX_IDS_PER_EVENT} in one event")
        if not ids:
            raise EventParseError(f"ids: no asset id at {self._ids.text!r}")
        return tuple(ids)

    def _read_event_id(self, document: object, raw: bytes, hint: str | None) -> str:
        if self._event_id is not None:
            found = self._event_id.find(document)
            if isinstance(found, _Missing):
                raise EventParseError(f"event id: {found.why}")
            if len(found) != 1:
                raise EventParseError(f"event id: {len(found)} values, not one")
            return _scalar_id(found[0], "event id", MAX_EVENT_ID)
        if hint is not None:
            return _scalar_id(hint, "event id", MAX_EVENT_ID)
        return body_digest(raw)


__all__ = ["MAX_IDS_PER_EVENT", "EventReader", "JsonPath", "body_digest", "parse_json", "utc_now"]
