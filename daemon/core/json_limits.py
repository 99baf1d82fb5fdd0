"""
Reading untrusted JSON (DAM answers, hot-folder sidecars) without letting its shape crash a pass.

``json.loads`` raises ``RecursionError`` on a deeply nested document, an error no caller
expects and that used to fail every pass of a source until the document went away. Here it
becomes :class:`JsonTooDeepError`, a ``ValueError`` that adapters classify like any other
unreadable document (a protocol error for a page, a per-asset error for a sidecar).
"""

from __future__ import annotations

import json


class JsonTooDeepError(ValueError):
    """A JSON document nested deeper than the parser can follow."""

    def __init__(self) -> None:
        super().__init__(
            "the JSON document is nested too deeply to read "
            f"(more than about {MAX_JSON_DEPTH} levels)"
        )


#: About how deep ``json.loads`` can go under CPython's default recursion limit; documents
#: from DAMs are a handful of levels deep, so anything near this is hostile or broken.
MAX_JSON_DEPTH = 900


def loads_bounded(data: str | bytes | bytearray) -> object:
    """
    Parse JSON like ``json.loads``; a too-deep document raises :class:`JsonTooDeepError`.

    Raises:
        JsonTooDeepError: the nesting exceeds what the parser can follow.
        json.JSONDecodeError: the document is not JSON (also a ``ValueError``).
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise JsonTooDeepError() from None


__all__ = ["MAX_JSON_DEPTH", "JsonTooDeepError", "loads_bounded"]
