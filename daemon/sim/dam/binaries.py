"""
Deterministic binaries for the DAM simulator: real small PNG, JPEG and PDF files.

The bytes depend only on (seed, asset number, file version), so the same asset version always
downloads the same bytes and a new version gives new bytes. The files are small stand-ins
(tens of pixels, one PDF page): valid enough for any decoder, cheap enough to hash on every
listing page.
"""

from __future__ import annotations

import hashlib
import random
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

FileKind = Literal["png", "jpeg", "pdf"]

MIME_TYPES: dict[FileKind, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "pdf": "application/pdf",
}
EXTENSIONS: dict[FileKind, str] = {"png": "png", "jpeg": "jpg", "pdf": "pdf"}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A complete 8x8 mid-grey baseline JPEG, split around where the COM segment goes. Tables are
# the smallest legal ones: one quantisation table of ones and one-symbol Huffman tables (DC
# category 0, AC end-of-block), so the entropy-coded data is the two bits "00" padded with ones.
_JPEG_DQT = b"\xff\xdb\x00\x43\x00" + b"\x01" * 64
_JPEG_SOF0 = b"\xff\xc0\x00\x0b\x08\x00\x08\x00\x08\x01\x01\x11\x00"
_JPEG_DHT_DC = b"\xff\xc4\x00\x14\x00\x01" + b"\x00" * 15 + b"\x00"
_JPEG_DHT_AC = b"\xff\xc4\x00\x14\x10\x01" + b"\x00" * 15 + b"\x00"
_JPEG_SOS = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
_JPEG_SCAN = b"\x3f"


@dataclass(frozen=True, slots=True)
class Binary:
    """
    One generated file with the facts a listing advertises about it.
    """

    content: bytes
    mime_type: str
    sha256: str
    md5: str

    @property
    def size(self) -> int:
        """
        Returns:
            The length of the file in bytes.
        """
        return len(self.content)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def make_png(label: str, rng: random.Random) -> bytes:
    """
    Build a small RGB PNG: a two-colour gradient, with ``label`` in a tEXt chunk.

    Args:
        label: text stored in the ``Comment`` chunk (makes every version's bytes distinct).
        rng: source of the size and colours.

    Returns:
        The PNG file bytes (valid signature, chunk CRCs and zlib stream).
    """
    width, height = rng.randint(12, 48), rng.randint(8, 32)
    start = [rng.randrange(256) for _ in range(3)]
    end = [rng.randrange(256) for _ in range(3)]
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type None
        mix = y / max(1, height - 1)
        pixel = bytes(round(a + (b - a) * mix) for a, b in zip(start, end, strict=True))
        rows += pixel * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"tEXt", b"Comment\x00" + label.encode("latin-1"))
        + _png_chunk(b"IDAT", zlib.compress(bytes(rows), 6))
        + _png_chunk(b"IEND", b"")
    )


def make_jpeg(label: str) -> bytes:
    """
    Build a tiny baseline JPEG whose COM segment carries ``label``.

    Args:
        label: comment text (latin-1, under 65 000 bytes).

    Returns:
        The JPEG file bytes, from SOI to EOI.
    """
    comment = label.encode("latin-1")
    com = b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
    return (
        b"\xff\xd8"
        + com
        + _JPEG_DQT
        + _JPEG_SOF0
        + _JPEG_DHT_DC
        + _JPEG_DHT_AC
        + _JPEG_SOS
        + _JPEG_SCAN
        + b"\xff\xd9"
    )


def make_pdf(label: str) -> bytes:
    """
    Build a one-page PDF 1.4 showing ``label``, with a correct cross-reference table.

    Args:
        label: the text on the page (ASCII letters, digits, spaces and ``-.:/``).

    Returns:
        The PDF file bytes, from ``%PDF-1.4`` to ``%%EOF``.
    """
    text = label.replace("\\", "").replace("(", "").replace(")", "")
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode() + b"0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(out)


@lru_cache(maxsize=4096)
def render_binary(seed: int, asset_id: str, file_version: int, kind: FileKind) -> Binary:
    """
    Produce the file of one asset version; cached because listings hash every file they show.

    Args:
        seed: the simulator's generation seed.
        asset_id: the asset's id, e.g. ``a-000123``.
        file_version: the binary's version (1-based).
        kind: which file format the asset holds.

    Returns:
        The binary and its size, MIME type and digests.
    """
    label = f"damsync-sim {asset_id} v{file_version} seed {seed}"
    if kind == "png":
        content = make_png(label, random.Random(f"{seed}:{asset_id}:{file_version}:png"))
    elif kind == "jpeg":
        content = make_jpeg(label)
    else:
        content = make_pdf(label)
    return Binary(
        content=content,
        mime_type=MIME_TYPES[kind],
        sha256=hashlib.sha256(content).hexdigest(),
        md5=hashlib.md5(content, usedforsecurity=False).hexdigest(),
    )


__all__ = [
    "EXTENSIONS",
    "MIME_TYPES",
    "PNG_SIGNATURE",
    "Binary",
    "FileKind",
    "make_jpeg",
    "make_pdf",
    "make_png",
    "render_binary",
]
