"""
Dotted paths, templates and transforms, compiled once and applied to each asset.

A path names a value of a :class:`~daemon.core.records.DamAsset`: ``id``, ``updated_at``,
``deleted``, ``binary.<url|path|filename|mime_type|size|checksum>`` or
``metadata.<key>[.<key>|.<index>]...``.
A template is text with ``{path}`` fields (``"{metadata.sku}_{id}"``; ``{{``/``}}`` escape braces).
A missing value reads as ``None``: a template with a missing field renders as ``None`` too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from daemon.core.records import DamAsset

Getter = Callable[[DamAsset], Any]
Transform = Callable[[Any], Any]

BINARY_FIELDS = ("url", "path", "filename", "mime_type", "size", "checksum")
_ROOTS = ("id", "updated_at", "deleted")
_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_PCRE_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE, "u": 0}


class ValueProblem(Exception):
    """A value cannot be used; ``reason`` says why (internal: the mapper adds asset and field)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def parse_path(text: str) -> tuple[str, ...]:
    """
    Check and split a dotted path.

    Args:
        text: ``"metadata.title.en_US"``, ``"binary.filename"``, ``"id"``, ...

    Returns:
        Its segments.

    Raises:
        ValueError: an empty segment or an unknown root.
    """
    parts = tuple(text.split("."))
    if any(not p for p in parts):
        raise ValueError(f"path {text!r} has an empty segment")
    root = parts[0]
    if root in _ROOTS and len(parts) == 1:
        return parts
    if root == "binary" and len(parts) == 2 and parts[1] in BINARY_FIELDS:
        return parts
    if root == "metadata" and len(parts) > 1:
        return parts
    raise ValueError(
        f"path {text!r} must be id, updated_at, deleted, "
        f"binary.<{'|'.join(BINARY_FIELDS)}> or metadata.<key>[.<key>...]"
    )


def _walk(node: Any, keys: Sequence[str]) -> Any:
    for key in keys:
        if type(node) is dict or isinstance(node, Mapping):
            node = node.get(key)
        elif isinstance(node, list | tuple) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
        if node is None:
            return None
    return node


def compile_path(text: str) -> Getter:
    """
    Build a fast getter for a dotted path.

    Args:
        text: A path accepted by :func:`parse_path`.

    Returns:
        A function of a :class:`DamAsset` giving the value, or ``None`` when it is missing.
    """
    parts = parse_path(text)
    root = parts[0]
    if root == "id":
        return lambda a: a.id
    if root == "updated_at":
        return lambda a: a.updated_at
    if root == "deleted":
        return lambda a: a.deleted
    if root == "binary":
        name = parts[1]
        return lambda a: None if a.binary is None else getattr(a.binary, name)
    keys = parts[1:]
    if len(keys) == 1:
        key = keys[0]
        return lambda a: a.metadata.get(key)
    return lambda a: _walk(a.metadata, keys)


def text_of(value: Any) -> str:
    """
    Render a scalar as text, the same way on every run and Python version.

    Args:
        value: A str, bool, int, float, date or datetime.

    Returns:
        Its text: booleans as ``true``/``false``, datetimes in ISO 8601.

    Raises:
        ValueProblem: an object, a list or a non-finite number.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueProblem(f"{value!r} is not a finite number")
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    kind = "an object" if isinstance(value, Mapping) else f"a {type(value).__name__}"
    raise ValueProblem(f"expected a single value, got {kind}")


def compile_pcre(text: str) -> re.Pattern[str]:
    """
    Compile an Akeneo ``validation_regexp`` (PCRE with delimiters, ``/^[a-z]+$/i``).

    Args:
        text: The regexp as Akeneo stores it.

    Returns:
        A Python pattern with the same flags.

    Raises:
        ValueError: no closing delimiter, an unknown flag, or a syntax Python cannot read.
    """
    flags = 0
    body = text
    if text and not text[0].isalnum() and text[0] not in "\\ ":
        end = text.rfind(text[0])
        if end <= 0:
            raise ValueError(f"regexp {text!r} has no closing delimiter")
        body = text[1:end]
        for flag in text[end + 1 :]:
            if flag not in _PCRE_FLAGS:
                raise ValueError(f"regexp {text!r} has the unsupported flag {flag!r}")
            flags |= _PCRE_FLAGS[flag]
    try:
        return re.compile(body, flags)
    except re.error as exc:
        raise ValueError(f"regexp {text!r} cannot be checked: {exc}") from None


def parse_template(text: str) -> list[str | tuple[str, ...]]:
    """
    Split a template into literal text and paths.

    Args:
        text: ``"{metadata.sku}_{id}"``.

    Returns:
        Literal strings and path tuples, in order.

    Raises:
        ValueError: an unbalanced brace or a bad path.
    """
    parts: list[str | tuple[str, ...]] = []
    pos = 0
    for m in _FIELD.finditer(text):
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        token = m.group(0)
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif m.group(1) is None:
            raise ValueError(f"unbalanced {token!r} in template {text!r}")
        else:
            parts.append(parse_path(m.group(1).strip()))
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    return parts


def compile_template(text: str) -> Getter:
    """
    Build a renderer for a template.

    Args:
        text: A template accepted by :func:`parse_template`.

    Returns:
        A function of a :class:`DamAsset` giving the text, or ``None`` when a field is missing;
        it raises :class:`ValueProblem` when a field is an object or a list.
    """
    pieces: list[str | Getter] = [
        p if isinstance(p, str) else compile_path(".".join(p)) for p in parse_template(text)
    ]

    def render(asset: DamAsset) -> str | None:
        out: list[str] = []
        for piece in pieces:
            if isinstance(piece, str):
                out.append(piece)
                continue
            value = piece(asset)
            if value is None:
                return None
            out.append(value if type(value) is str else text_of(value))
        return "".join(out)

    if len(pieces) == 1 and not isinstance(pieces[0], str):
        get = pieces[0]

        def single(asset: DamAsset) -> str | None:  # "{id}": the usual asset code
            value = get(asset)
            return value if value is None or type(value) is str else text_of(value)

        return single
    return render


def _each(fn: Callable[[str], str]) -> Transform:
    def apply(value: Any) -> Any:
        if type(value) is str:
            return fn(value)
        if value is None:
            return None
        if type(value) is list or isinstance(value, list | tuple):
            # Strings (the usual items) without a call to text_of, which gives them as they are.
            return [fn(v if type(v) is str else text_of(v)) for v in value if v is not None]
        return fn(text_of(value))

    return apply


def _first(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def _join(sep: str) -> Transform:
    def apply(value: Any) -> Any:
        if isinstance(value, list | tuple):
            return sep.join(text_of(v) for v in value if v is not None)
        return value

    return apply


def _split(sep: str) -> Transform:
    def apply(value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(sep) if p.strip()]
        return value

    return apply


def _default(fallback: Any) -> Transform:
    return lambda value: fallback if is_empty(value) else value


def _extract(pattern: str) -> Transform:
    regex = re.compile(pattern)

    def apply(value: Any) -> Any:
        if value is None:
            return None
        m = regex.search(text_of(value))
        if m is None:
            return None
        return m.group(1) if regex.groups else m.group(0)

    return apply


_SIMPLE: dict[str, Transform] = {
    "lower": _each(str.lower),
    "upper": _each(str.upper),
    "strip": _each(str.strip),
    "first": _first,
}


def compile_transform(step: str | Mapping[str, Any]) -> Transform:
    """
    Build one transform step.

    Args:
        step: ``"lower"``, ``"upper"``, ``"strip"``, ``"first"``, ``{"join": sep}``,
            ``{"split": sep}``, ``{"default": value}`` or ``{"extract": regex}``.

    Returns:
        A function of one value (a scalar, a list or ``None``).
    """
    if isinstance(step, str):
        return _SIMPLE[step]
    ((name, arg),) = step.items()
    if name == "join":
        return _join(str(arg))
    if name == "split":
        return _split(str(arg))
    if name == "default":
        return _default(arg)
    return _extract(str(arg))


def is_empty(value: Any) -> bool:
    """
    Tell whether a value means "no value": ``None``, ``""`` or an empty list.

    Args:
        value: Any value.

    Returns:
        ``True`` when nothing should be sent.
    """
    return value is None or value == "" or (isinstance(value, list | tuple) and not value)


__all__ = [
    "BINARY_FIELDS",
    "Getter",
    "Transform",
    "ValueProblem",
    "compile_path",
    "compile_pcre",
    "compile_template",
    "compile_transform",
    "is_empty",
    "parse_path",
    "parse_template",
    "text_of",
]
