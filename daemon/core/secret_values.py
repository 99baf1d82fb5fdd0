"""
The secret values of the loaded configuration, so that redaction can mask them wherever they
turn up: an upstream that echoes a password in its error message, a traceback, a URL.

:func:`daemon.settings.root.load_settings` remembers the secrets of every configuration it loads
(the PIM's password, secret and token, the sources' API keys, tokens, passwords and client
secrets, the store URL's password); :func:`daemon.telemetry.logs.redact_text`, the one redaction
of log lines and of the error text the engine stores and the CLI prints, masks them. The set
only grows: after a reload the previous secrets stay masked too.

Values shorter than :data:`MIN_LENGTH` characters are not remembered: masking every occurrence
of a four-letter password such as ``demo`` would mask the source of the same name and ordinary
words in every line. Such values are still masked by the pattern rules of ``redact_text``
(``password=...``, URL user info, ``Authorization`` values, JSON pairs).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

#: Shorter values are not masked by value (see the module docstring).
MIN_LENGTH = 6

_lock = threading.Lock()
_values: frozenset[str] = frozenset()


def remember(values: Iterable[str | None]) -> None:
    """Mask these values from now on (empty, ``None`` and too-short values are skipped)."""
    global _values
    new = {v for v in values if v and len(v) >= MIN_LENGTH}
    with _lock:
        if not new <= _values:
            _values = _values | new


def known() -> frozenset[str]:
    """The remembered values; the same object until :func:`remember` adds one."""
    return _values


def forget_all() -> None:
    """Drop every remembered value (tests)."""
    global _values
    with _lock:
        _values = frozenset()


__all__ = ["MIN_LENGTH", "forget_all", "known", "remember"]
