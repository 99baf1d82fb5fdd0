"""
Logging setup: structlog for our code, the standard library's loggers routed through it.

Every line is one JSON object on stdout when stdout is not a terminal (containers, journald), and
a readable console line on a terminal. Every line carries the ``source``, ``run_id`` and
``batch_id`` the sync engine bound with :func:`bind_job` / :func:`bind_batch`, and every line
passes :func:`redact_secrets` last before rendering, so a password, token or credential in a
key, a URL, a header value or a traceback never reaches the output.

:func:`redact_text` is the one redaction of free text: log lines, and the error text the engine
stores (runs, failures) and the CLI prints. Besides its patterns it masks the configured secret
values themselves (:mod:`daemon.core.secret_values`, filled by ``load_settings``), so a message
that echoes a password in prose is masked too.

Third-party loggers (httpx, apscheduler, sqlalchemy, alembic, uvicorn) go through structlog's
``ProcessorFormatter`` with the same processors, at levels that keep them useful: httpx logs
full URLs (query strings included) at INFO, so it is held at WARNING.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote, quote_plus

from daemon.core import secret_values

# structlog is imported where it is used: redact_text (the CLI's error line, the error text the
# store keeps) must not cost a command its import (bench/startup.py times the commands).
if TYPE_CHECKING:
    from structlog.types import EventDict, Processor, WrappedLogger

MASK = "***"

#: Keys whose values are always masked (matched anywhere in the key, case-insensitively).
SECRET_KEYS = re.compile(
    r"pass(word|wd|phrase)?$|secret|token|authori[sz]ation|api[-_]?key|cookie|credential"
    r"|private[-_]?key|signature",
    re.IGNORECASE,
)

# Patterns inside free text; the group ``secret`` of each match is masked. Every pattern (and the
# configured secret values) is matched against the original text and the spans are masked
# together, so masking one can never hide another's key (a secret value "secret" inside
# "client_secret=...") nor leave part of a value unmasked.
_TEXT_RULES: tuple[re.Pattern[str], ...] = (
    # scheme://user:password@host -> scheme://user:***@host
    re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:(?P<secret>[^@\s/]*)@"),
    # Authorization header values: Bearer/Basic credentials
    re.compile(r"\b(?:Bearer|Basic)\s+(?P<secret>[A-Za-z0-9._~+/=-]+)", re.IGNORECASE),
    # API-key headers written out as text ("X-Api-Key: abc")
    re.compile(r"\b(?:x-)?api-?key\s*:\s*(?P<secret>[^\s,;]+)", re.IGNORECASE),
    # key=value in query strings, DSNs and form bodies
    re.compile(
        r"\b[\w-]*(?:password|passwd|secret|token|api[-_]?key|apikey|signature)[\w-]*"
        r"=(?P<secret>[^&\s;,'\"]+)",
        re.IGNORECASE,
    ),
    # "key": "value" in JSON bodies echoed into messages
    re.compile(
        r"\"[\w-]*(?:password|secret|token|api[-_]?key|authorization)[\w-]*\"\s*:\s*\""
        r"(?P<secret>[^\"]*)\"",
        re.IGNORECASE,
    ),
)

#: Standard-library loggers and the least level they log at; ``None`` follows the root level.
STDLIB_LEVELS: Mapping[str, int | None] = {
    "httpx": logging.WARNING,  # full URLs at INFO
    "httpcore": logging.WARNING,
    "apscheduler": None,
    "sqlalchemy": logging.WARNING,  # sqlalchemy.engine at INFO prints SQL and parameters
    "alembic": None,
    "uvicorn": None,
    "uvicorn.error": None,
    "uvicorn.access": logging.WARNING,  # one line per /metrics scrape is noise
}

_HANDLER_NAME = "damsync"

#: Libraries whose INFO lines are chatter to an operator ("Context impl SQLiteImpl.", "Added
#: job", uvicorn's coloured start lines): they are logged at DEBUG, shown only at debug level.
CHATTY = ("apscheduler", "alembic", "uvicorn")
#: Library warnings our own events already report (``scheduler.job_event`` and its metric).
RESTATED = ("maximum number of running instances reached",)


class _DemoteChatter(logging.Filter):
    """Lower chatty libraries' INFO lines (and restated warnings) to DEBUG, then filter."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".", 1)[0] in CHATTY and (
            record.levelno == logging.INFO
            or (
                record.levelno == logging.WARNING
                and any(text in record.getMessage() for text in RESTATED)
            )
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return record.levelno >= self.level


#: (the remembered secret values, the pattern masking them): rebuilt when the values change.
_known: tuple[frozenset[str], re.Pattern[str] | None] = (frozenset(), None)


def _known_pattern() -> re.Pattern[str] | None:
    """
    One pattern for every configured secret value, as written, URL-encoded or JSON-escaped,
    each as a whole token (see :func:`_whole`).
    """
    global _known
    values = secret_values.known()
    cached_values, pattern = _known
    if values is cached_values:
        return pattern
    forms = {
        form
        for value in values
        for form in (value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1])
    }
    pattern = (
        re.compile("|".join(_whole(f) for f in sorted(forms, key=len, reverse=True)))
        if forms
        else None
    )
    _known = (values, pattern)
    return pattern


def _whole(value: str) -> str:
    """
    A pattern for ``value`` as a whole token: not inside a longer word, so a secret that is also
    a word ("secret") masks itself but not the key ``client_secret`` that names it.
    """
    before = r"(?<!\w)" if re.match(r"\w", value) else ""
    after = r"(?!\w)" if re.match(r"\w", value[-1]) else ""
    return f"{before}{re.escape(value)}{after}"


def redact_text(text: str) -> str:
    """
    Mask credentials inside free text: the configured secret values (whole tokens, also
    URL-encoded or JSON-escaped), URL userinfo, auth schemes, ``key=value``, JSON pairs.

    Returns:
        ``text`` with every secret value and secret-looking value replaced by ``***``.
    """
    spans: list[tuple[int, int]] = []
    known = _known_pattern()
    if known is not None:
        spans.extend(match.span() for match in known.finditer(text))
    for pattern in _TEXT_RULES:
        spans.extend(match.span("secret") for match in pattern.finditer(text))
    if not spans:
        return text
    out: list[str] = []
    done = 0  # text[:done] is written
    for start, end in _merged(spans):
        out.append(text[done:start])
        out.append(MASK)
        done = end
    out.append(text[done:])
    return "".join(out)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching spans as one; an empty span (an empty password) masks too."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _redact(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if depth > 5:
        return value
    if isinstance(value, Mapping):
        return {
            k: MASK if isinstance(k, str) and SECRET_KEYS.search(k) else _redact(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact(v, depth + 1) for v in value)
    return value


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """
    Processor: mask values of secret-named keys and credentials inside strings.

    It runs after ``format_exc_info`` so that tracebacks are masked too.

    Returns:
        The event dict, masked.
    """
    for key, value in event_dict.items():
        if SECRET_KEYS.search(key):
            event_dict[key] = MASK
        else:
            event_dict[key] = _redact(value)
    return event_dict


def _readable_values(_: object, __: str, event_dict: EventDict) -> EventDict:
    """Times as ISO 8601 UTC and enums by value, not Python reprs, in every renderer."""
    for key, value in event_dict.items():
        if isinstance(value, datetime):
            event_dict[key] = (
                value.astimezone(UTC).isoformat().replace("+00:00", "Z")
                if value.tzinfo is not None
                else value.isoformat()
            )
        elif isinstance(value, Enum):
            event_dict[key] = value.value
    return event_dict


def _shared_processors() -> list[Processor]:
    """What our lines and foreign lines both go through before rendering."""
    import structlog

    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _readable_values,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    number = logging.getLevelNamesMapping().get(level.upper())
    if number is None:
        raise ValueError(f"unknown log level {level!r}")
    return number


def configure(
    level: str | int = "info", json: bool | None = None, *, stream: TextIO | None = None
) -> None:
    """
    Configure structlog and the standard library's logging for the whole process.

    Args:
        level: ``debug``, ``info``, ``warning``, ``error`` (or a ``logging`` number).
        json: JSON lines when true, console lines when false; ``None`` picks JSON unless
            ``stream`` is a terminal.
        stream: Where lines go; ``sys.stdout`` (looked up at call time) by default.
    """
    import structlog

    out = stream if stream is not None else sys.stdout
    number = _level(level)
    if json is None:
        json = not (hasattr(out, "isatty") and out.isatty())
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[*_shared_processors(), redact_secrets, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    _route_stdlib(number, out, renderer)


def _route_stdlib(level: int, stream: TextIO, renderer: Processor) -> None:
    """Send every standard-library record through the same processors to ``stream``."""
    import structlog

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            *_shared_processors(),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact_secrets,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    handler.addFilter(_DemoteChatter(level))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, floor in STDLIB_LEVELS.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(level, floor) if floor is not None else level)
        # uvicorn installs its own handlers when given a log config; ours must win.
        logger.handlers.clear()
        logger.propagate = True


def reset() -> None:
    """Undo :func:`configure`: structlog defaults and our root handler removed (for tests)."""
    import structlog

    structlog.reset_defaults()
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    for name in STDLIB_LEVELS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    structlog.contextvars.clear_contextvars()


# -- context ----------------------------------------------------------------------------------


def new_run_id() -> str:
    """A short random id for one pass (12 hex digits: unique enough per source and day)."""
    return uuid.uuid4().hex[:12]


@contextmanager
def bind_job(source: str, run_id: str, **context: str) -> Iterator[None]:
    """
    Start one job with a clean context: ``source``, ``run_id`` and ``context`` (e.g. ``pim``).

    Clearing on entry matters: scheduler threads and tasks keep the context of the previous
    job otherwise (verified for APScheduler's thread pool).

    Args:
        source: The source name.
        run_id: The pass id, e.g. from :func:`new_run_id`.
    """
    from structlog.contextvars import bind_contextvars, clear_contextvars

    clear_contextvars()
    bind_contextvars(source=source, run_id=run_id, **context)
    try:
        yield
    finally:
        clear_contextvars()


@contextmanager
def bind_batch(batch_id: str | int) -> Iterator[None]:
    """
    Add ``batch_id`` to every line inside the block; the job's context stays.

    Args:
        batch_id: The batch number or id within the pass.
    """
    from structlog.contextvars import bound_contextvars

    with bound_contextvars(batch_id=batch_id):
        yield


def clear() -> None:
    """Drop every bound context value (e.g. at the start of a webhook request)."""
    from structlog.contextvars import clear_contextvars

    clear_contextvars()


__all__ = [
    "MASK",
    "SECRET_KEYS",
    "STDLIB_LEVELS",
    "bind_batch",
    "bind_job",
    "clear",
    "configure",
    "new_run_id",
    "redact_secrets",
    "redact_text",
    "reset",
]
