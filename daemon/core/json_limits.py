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

Speed: documents are parsed with orjson (1.5 to 2.5 times as fast as ``json.loads`` on a DAM
page), with the standard library as the reference for everything orjson reads differently or
not at all. orjson refuses NaN literals, lone surrogate escapes, a byte order mark and UTF-16,
and reads integers past 64 bits as floats (a long numeric id would lose digits); a document
orjson refuses, or holding an integer of 20 digits or more, is read by ``json.loads`` exactly
as before. The depth limit is the project's own (:data:`MAX_JSON_DEPTH`), not orjson's (1024):
the document is parsed inside enough extra ``[`` levels for orjson's limit to fall exactly on
ours, and a document read by ``json.loads`` is measured against it too.

:func:`dump_bytes` writes request bodies once, as compact UTF-8 bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Final

import orjson

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


def _loads_standard(data: str | bytes | bytearray) -> object:
    if isinstance(data, bytes | bytearray):
        # As json.loads does (UTF-8 with or without BOM, UTF-16, UTF-32), but strictly.
        data = bytes(data).decode(json.detect_encoding(data))
    try:
        return json.loads(_replace_lone_surrogates(data))
    except RecursionError:
        raise JsonTooDeepError() from None


#: The deepest nesting orjson 3 reads (documented; pinned by tests/core/test_json_limits.py).
ORJSON_MAX_DEPTH: Final = 1024


#: Extra ``[`` levels around a document so that orjson refuses exactly what is deeper than ours.
_PAD: Final = max(0, ORJSON_MAX_DEPTH - MAX_JSON_DEPTH)
_OPEN: Final = b"[" * _PAD
_CLOSE: Final = b"]" * _PAD
#: Digits and ``-`` as ``0``, what may come before a number (``:,[`` and white space) as ``:``:
#: an integer past 64 bits (20 digits, or ``-`` and 19) is then ``:`` and twenty ``0``. Digits
#: inside a string (a hex checksum) follow a letter or ``"`` and do not match.
_NUMBERS: Final = bytes.maketrans(b"0123456789-:,[ \t\r\n", b"00000000000" + b":" * 7)
_LONG_NUMBER: Final = b":" + b"0" * 20
#: Nothing read: let the standard library decide.
_MISS: Final = object()


def _loads_fast(data: str | bytes | bytearray) -> object:
    """The document read by orjson, or :data:`_MISS` when only ``json.loads`` reads it right."""
    if isinstance(data, str):
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate in the text itself
            return _MISS
    else:
        raw = bytes(data)
    padded = _OPEN + raw + _CLOSE
    numbers = padded.translate(_NUMBERS)
    if _LONG_NUMBER in numbers or numbers.startswith(_LONG_NUMBER[1:]):
        return _MISS
    try:
        value = orjson.loads(padded)
    except orjson.JSONDecodeError:
        return _MISS
    # Each level added is a list of exactly one item unless the text was no single value.
    for _ in range(_PAD):
        if type(value) is not list or len(value) != 1:
            return _MISS
        value = value[0]
    return value


def _deeper_than(value: object, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        assert isinstance(children, Iterable)
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def loads_bounded(data: str | bytes | bytearray) -> object:
    """
    Parse JSON like ``json.loads``; a too-deep document raises :class:`JsonTooDeepError`, a
    lone surrogate escape is read as U+FFFD.

    Raises:
        JsonTooDeepError: the nesting exceeds :data:`MAX_JSON_DEPTH`.
        json.JSONDecodeError: the document is not JSON (also a ``ValueError``).
        UnicodeDecodeError: the bytes are not text in the encoding they start with.
    """
    value = _loads_fast(data)
    if value is not _MISS:
        return value
    value = _loads_standard(data)
    if isinstance(value, dict | list):
        brackets = (
            data.count("[") + data.count("{")
            if isinstance(data, str)
            else (data.count(b"[") + data.count(b"{"))
        )
        if brackets > MAX_JSON_DEPTH and _deeper_than(value, MAX_JSON_DEPTH):
            raise JsonTooDeepError()
    return value


def dump_bytes(value: Any) -> bytes:
    """
    ``value`` as compact UTF-8 JSON bytes (``json.dumps(..., ensure_ascii=False,
    separators=(",", ":"))``, the form httpx's ``json=`` sends), written by orjson.

    What orjson does not write (integers past 64 bits, non-string keys) is written by the
    standard library. orjson writes NaN and infinities as ``null``: callers send none (mapping
    refuses non-finite numbers).

    Returns:
        The body.
    """
    try:
        return orjson.dumps(value)
    except TypeError:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8")


__all__ = ["MAX_JSON_DEPTH", "ORJSON_MAX_DEPTH", "JsonTooDeepError", "dump_bytes", "loads_bounded"]
