"""
Akeneo codes from DAM text: asset codes that can never collide, and option codes.

Akeneo accepts codes matching ``^[a-zA-Z0-9_]+$`` of at most 255 characters. A DAM id such as
``"Café-01/ü"`` is transliterated (``é`` -> ``e``, ``ß`` -> ``ss``), every other character becomes
``_``, and because two different ids may now read the same (``a-b`` and ``a/b``), any code that
sanitising or truncation changed gets the suffix ``_h`` + 16 hex digits of the SHA-256 of the
original text. A text that is already a valid code but *looks* like such an output (it ends with
``_h`` + 16 hex digits) is hashed too, so that an unchanged code can never equal a hashed one:
distinct inputs always give distinct codes (short of a 64-bit SHA-256 prefix collision).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

CODE_RE = re.compile(r"^[a-zA-Z0-9_]+$")
MAX_CODE_LENGTH = 255
HASH_HEX = 16
_SUFFIX_LEN = 2 + HASH_HEX  # "_h" + digest
_LOOKS_HASHED = re.compile(r"_h[0-9a-f]{16}\Z")
_NOT_CODE = re.compile(r"[^a-zA-Z0-9_]")
_NOT_OPTION = re.compile(r"[^a-z0-9]+")

# Letters that NFKD does not decompose into an ASCII base letter plus marks.
_EXTRA = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "TH",
        "ı": "i",
    }
)


def transliterate(text: str) -> str:
    """
    Fold accented Latin letters to ASCII (``é`` -> ``e``, ``ß`` -> ``ss``).

    Args:
        text: Any text.

    Returns:
        The text with accents removed; characters with no ASCII form are kept as they are.
    """
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text.translate(_EXTRA))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def code_hash(text: str) -> str:
    """
    Return the stable hash suffix digits of ``text`` (SHA-256, never ``hash()``).

    Args:
        text: The original, unsanitised text.

    Returns:
        16 lowercase hex digits.
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_HEX]


def sanitise_code(text: str, max_length: int = MAX_CODE_LENGTH) -> str:
    """
    Turn any non-empty text into a valid Akeneo code, injectively.

    Args:
        text: The rendered code template (a DAM id, ``sku_id``, ...).
        max_length: Longest code allowed (Akeneo: 255).

    Returns:
        ``text`` itself when it already is a valid code that does not look hashed; otherwise the
        sanitised text, truncated to leave room, plus ``_h`` and the hash of ``text``.

    Raises:
        ValueError: ``text`` is empty.
    """
    if not text:
        raise ValueError("the code is empty")
    if len(text) <= max_length and CODE_RE.match(text) and not _LOOKS_HASHED.search(text):
        return text
    body = _NOT_CODE.sub("_", transliterate(text))
    return f"{body[: max_length - _SUFFIX_LEN]}_h{code_hash(text)}"


def option_code(text: str) -> str:
    """
    Normalise a DAM option value to an option code: ``"Dark Red"`` -> ``"dark_red"``.

    Args:
        text: The DAM's option value (a label or a code).

    Returns:
        Lowercase ASCII letters, digits and single underscores, without leading or trailing ``_``.

    Raises:
        ValueError: nothing usable is left, or the code is longer than 255 characters.
    """
    if CODE_RE.match(text) and len(text) <= MAX_CODE_LENGTH:
        return text.lower()
    code = _NOT_OPTION.sub("_", transliterate(text).lower()).strip("_")
    if not code:
        raise ValueError(f"{text!r} gives an empty option code")
    if len(code) > MAX_CODE_LENGTH:
        raise ValueError(f"option code is longer than {MAX_CODE_LENGTH} characters")
    return code


__all__ = [
    "CODE_RE",
    "MAX_CODE_LENGTH",
    "code_hash",
    "option_code",
    "sanitise_code",
    "transliterate",
]
