"""
Reading untrusted JSON (DAM answers, hot-folder sidecars) without letting its shape crash a pass.

``json.loads`` raises ``RecursionError`` on a deeply nested document, an error no caller
expects and that used to fail every pass of a source until the document went away. Here it
becomes :class:`JsonTooDeepError`, a ``ValueError`` that adapters classify like any other
unreadable document (a protocol error for a page, a per-asset error for a sidecar).

A lone surrogate escape (``"\\ud800"``, half of a UTF-16 pair) is valid JSON but no text:
the string it makes cannot be encoded as UTF-8, so the PIM request or the store write carrying
it failed, and with it every pass of the source. It is read as U+FFFD, the replacement
character, as a decoder reads any other broken sequence. Bytes are decoded strictly, so
surrogates smuggled in as raw UTF-8 bytes make the document unreadable (a ``ValueError``).
"""

from __future__ import annotations

import json
import re

#: An escaped backslash, a valid surrogate pair, or a lone surrogate escape (6 characters).
_ESCAPES = re.compile(
    r"\\\\"  # an escaped backslash: the "u" after it is no escape
    r"|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
)
#: Cheap test first: most documents hold no surrogate escape at all.
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_LENGTH = 6


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


def _replace_lone_surrogates(text: str) -> str:
    if _SURROGATE.search(text) is None:
        return text
    return _ESCAPES.sub(lambda m: "\\ufffd" if len(m.group()) == _LONE_LENGTH else m.group(), text)


def loads_bounded(data: str | bytes | bytearray) -> object:
    """
    Parse JSON like ``json.loads``; a too-deep document raises :class:`JsonTooDeepError`, a
    lone surrogate escape is read as U+FFFD.

    Raises:
        JsonTooDeepError: the nesting exceeds what the parser can follow.
        json.JSONDecodeError: the document is not JSON (also a ``ValueError``).
        UnicodeDecodeError: the bytes are not text in the encoding they start with.
    """
    if isinstance(data, bytes | bytearray):
        # As json.loads does (UTF-8 with or without BOM, UTF-16, UTF-32), but strictly.
        data = bytes(data).decode(json.detect_encoding(data))
    try:
        return json.loads(_replace_lone_surrogates(data))
    except RecursionError:
        raise JsonTooDeepError() from None


__all__ = ["MAX_JSON_DEPTH", "JsonTooDeepError", "loads_bounded"]
