"""The DAM simulator's binaries are real, deterministic PNG, JPEG and PDF files."""

from __future__ import annotations

import hashlib
import re
import struct
import zlib

import pytest

from daemon.sim.dam.binaries import PNG_SIGNATURE, render_binary


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks = []
    position = len(PNG_SIGNATURE)
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, kind
        chunks.append((kind, body))
        position += 12 + length
    return chunks


def test_png_has_signature_valid_crcs_and_decodable_pixels():
    """A PNG binary has the signature, correct chunk CRCs and an IDAT that zlib inflates."""
    binary = render_binary(7, "a-000001", 1, "png")
    assert PNG_SIGNATURE == binary.content[:8]
    chunks = _png_chunks(binary.content)
    kinds = [kind for kind, _ in chunks]
    assert [b"IHDR", b"tEXt", b"IDAT", b"IEND"] == kinds
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", chunks[0][1])
    raw = zlib.decompress(chunks[2][1])
    assert (8, 2) == (depth, colour)
    assert height * (1 + 3 * width) == len(raw)
    assert all(raw[row * (1 + 3 * width)] == 0 for row in range(height))
    assert "image/png" == binary.mime_type


def test_jpeg_has_markers_and_comment():
    """A JPEG binary runs from SOI to EOI, is baseline (SOF0) and names its version in COM."""
    content = render_binary(7, "a-000002", 3, "jpeg").content
    assert b"\xff\xd8" == content[:2]
    assert b"\xff\xd9" == content[-2:]
    assert b"\xff\xc0" in content
    assert b"\xff\xfe" == content[2:4]
    (length,) = struct.unpack(">H", content[4:6])
    assert b"damsync-sim a-000002 v3 seed 7" == content[6 : 4 + length]


def test_pdf_has_header_trailer_and_correct_xref():
    """A PDF binary has the header, a trailer, and xref offsets that point at its objects."""
    content = render_binary(7, "a-000003", 1, "pdf").content
    assert content.startswith(b"%PDF-1.4\n")
    assert content.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\n(\d+)\n", content)[1])  # type: ignore[index]
    assert content[startxref:].startswith(b"xref\n")
    offsets = [int(m) for m in re.findall(rb"(\d{10}) 00000 n ", content)]
    for number, offset in enumerate(offsets, start=1):
        assert content[offset:].startswith(f"{number} 0 obj".encode())
    assert b"trailer" in content


@pytest.mark.parametrize("kind", ["png", "jpeg", "pdf"])
def test_same_version_same_bytes_new_version_new_bytes(kind):
    """The same (seed, asset, version) always gives the same bytes; another version differs."""
    first = render_binary.__wrapped__(7, "a-000010", 2, kind)
    again = render_binary.__wrapped__(7, "a-000010", 2, kind)
    newer = render_binary.__wrapped__(7, "a-000010", 3, kind)
    other_seed = render_binary.__wrapped__(8, "a-000010", 2, kind)
    assert first.content == again.content
    assert first.content != newer.content
    assert first.content != other_seed.content
    assert hashlib.sha256(first.content).hexdigest() == first.sha256
    assert len(first.content) == first.size
