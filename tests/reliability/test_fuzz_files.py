"""
Fuzzing the readers of hot-folder files and of the shapes every source shares.

Sidecars and ``metadata.csv`` (:mod:`daemon.sources.folder_files`), file names
(:mod:`daemon.sources.folder`), announced checksums and verified streams
(:mod:`daemon.sources.checksums`) and bounded JSON (:mod:`daemon.core.json_limits`).
Property: a result or the documented error (``Refused``, ``ChecksumFormatError``,
``SourceAssetError``, ``ValueError``), never another exception; memory stays within a small
multiple of the input, never near a configured limit. 50 examples each in ``make test``,
5,000 in ``make fuzz``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import os
import shutil
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.core.errors import SourceAssetError
from daemon.core.json_limits import loads_bounded
from daemon.core.records import Window
from daemon.settings.dam_sources import FolderSettings
from daemon.sources.checksums import (
    DIGEST_SIZES,
    ChecksumFormatError,
    parse_checksum,
    verified,
)
from daemon.sources.folder import FolderSource
from daemon.sources.folder_files import FolderFiles, Refused
from tests.reliability.fuzz_inputs import TEXT, VALUES, dump, mangled

#: The default limit: far above the fixed allowance, so a reader allocating its whole limit
#: for a small sidecar would break the memory bound.
SIDECAR_LIMIT = 1 << 20
#: Traced bytes allowed per input byte, plus a fixed allowance for the reader's own state.
PER_BYTE, FIXED = 64, 256 * 1024
OLD = time.time() - 3600
#: A tmp_path reused across examples: each example works in its own fresh folder.
REUSED = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def peak_memory(work: Callable[[], Any]) -> tuple[Any, int]:
    """``work()``'s result (or the exception it raised) and the peak of traced memory."""
    tracemalloc.start()
    try:
        outcome: Any = work()
    except Exception as exc:
        outcome = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return outcome, peak


EXAMPLES = itertools.count()


def fresh(base: Path) -> Path:
    """A new, empty folder for one example."""
    root = base / f"ex{next(EXAMPLES)}"
    root.mkdir()
    return root


def files_of(root: Path, **folder: Any) -> FolderFiles:
    return FolderFiles("fuzz", FolderSettings(path=str(root), settle_seconds=1, **folder))


SIDECARS = (
    mangled(st.dictionaries(TEXT, VALUES, max_size=6) | VALUES)
    | st.binary(max_size=200)
    | st.sampled_from([SIDECAR_LIMIT - 10, SIDECAR_LIMIT, 2 * SIDECAR_LIMIT]).map(
        lambda n: b'{"a": "' + b"x" * n + b'"}'
    )
)


@REUSED
@given(data=SIDECARS)
def test_any_sidecar_is_metadata_or_a_refusal_in_bounded_memory(tmp_path, data):
    """Any bytes as a sidecar: a dict or Refused, with memory a small multiple of the file."""
    root = fresh(tmp_path)
    (root / "a.png").write_bytes(b"png")
    (root / "a.png.json").write_bytes(data)
    files = files_of(root, max_sidecar_bytes=SIDECAR_LIMIT)
    outcome, peak = peak_memory(lambda: files.metadata(root / "a.png", {}, walked=True))
    if not isinstance(outcome, Refused):
        assert not isinstance(outcome, BaseException), repr(outcome)
        metadata, mtime = outcome
        assert (dict, float) == (type(metadata), type(mtime))
    assert peak <= PER_BYTE * min(len(data), SIDECAR_LIMIT + 1) + FIXED, (peak, len(data))
    shutil.rmtree(root)


CSV_TEXT = st.lists(
    st.lists(
        st.sampled_from(["a.png", "b.png", "", '"', '""', ",", "\n", "\r", "\x00", "é"]) | TEXT,
        max_size=4,
    ),
    max_size=6,
).map(lambda rows: "\n".join(",".join(r) for r in rows))
CSVS = (
    CSV_TEXT.map(lambda body: ("file,title\n" + body).encode("utf-8", "surrogatepass"))
    | CSV_TEXT.map(lambda body: b"\xef\xbb\xbffile,title\n" + body.encode("utf-8", "surrogatepass"))
    | st.binary(max_size=200).map(lambda raw: b"file,title\n" + raw)
    | st.just(b"file,title\na.png," + b"x" * 200_000)
)


@REUSED
@given(data=CSVS)
def test_any_metadata_csv_is_rows_or_a_refusal(tmp_path, data):
    """Any bytes as metadata.csv: the file's row (text values) or Refused naming the CSV."""
    root = fresh(tmp_path)
    (root / "a.png").write_bytes(b"png")
    (root / "metadata.csv").write_bytes(data)
    try:
        metadata, _ = files_of(root, max_csv_bytes=1 << 20).metadata(
            root / "a.png", {}, walked=True
        )
    except Refused as refused:
        assert "metadata.csv" in str(refused.path)
    else:
        assert all(isinstance(v, str | None) for v in metadata.values()), metadata
    shutil.rmtree(root)


def usable_name(name: str) -> bool:
    """A name the filesystem takes for a file (one path component, at most 255 bytes)."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return name not in (".", "..") and 0 < size <= 200


NAMES = st.lists(
    st.text(st.characters(exclude_characters="/\x00"), min_size=1, max_size=20).filter(usable_name)
    | st.sampled_from(["caf\u00e9.png", "cafe\u0301.png", "a\nb.png", " ", "-", "x.json.png"]),
    min_size=1,
    max_size=6,
    unique=True,
)


async def listed(source: FolderSource) -> tuple[set[str], set[str | None]]:
    assets: set[str] = set()
    errors: set[str | None] = set()
    window = Window(since=None, until=datetime.now(UTC) + timedelta(hours=1))
    async for page in source.changes(window):
        assets.update(a.id for a in page.assets)
        errors.update(e.asset_id for e in page.errors)
    return assets, errors


@REUSED
@given(names=NAMES)
def test_any_file_names_are_each_listed_or_reported(tmp_path, names):
    """Any file names: every file not ignored is an asset or an error under its own name."""
    root = fresh(tmp_path)
    for name in names:
        (root / name).write_bytes(name.encode("utf-8"))
        os.utime(root / name, (OLD, OLD))
    folder = FolderSettings(path=str(root), settle_seconds=1)
    assets, errors = asyncio.run(listed(FolderSource("fuzz", folder)))
    expected = {n for n in names if not files_of(root).ignored(n)}
    assert (expected, set()) == (assets | {e for e in errors if e is not None}, assets & errors)
    shutil.rmtree(root)


@st.composite
def digest_forms(draw: st.DrawFn) -> str:
    """A real digest in one of the forms DAMs announce, under a right, wrong or no prefix."""
    algorithm = draw(st.sampled_from(sorted(DIGEST_SIZES)))
    raw = draw(st.binary(min_size=DIGEST_SIZES[algorithm], max_size=DIGEST_SIZES[algorithm]))
    text = draw(
        st.sampled_from(
            [
                raw.hex(),
                raw.hex().upper(),
                base64.b64encode(raw).decode(),
                base64.urlsafe_b64encode(raw).decode().rstrip("="),
            ]
        )
    )
    prefix = draw(st.sampled_from(["", f"{algorithm}:", "SHA-256:", "crc32:", ":", " md5 : "]))
    return f"{prefix}{text}"


CHECKSUM_TEXT = digest_forms() | TEXT | st.from_regex(r"\A[0-9a-fA-F+/=_:-]{0,70}\Z")


@given(value=CHECKSUM_TEXT, algorithm=st.none() | st.sampled_from(sorted(DIGEST_SIZES)))
def test_any_announced_checksum_is_a_digest_or_a_format_error(value, algorithm):
    """Any text as a checksum: a digest of its algorithm's size, or ChecksumFormatError."""
    try:
        checksum = parse_checksum(value, algorithm)
    except ChecksumFormatError as error:
        assert len(str(error)) <= 300
        return
    assert DIGEST_SIZES[checksum.algorithm] == len(checksum.digest)
    assert f"{checksum.algorithm}:{checksum.digest.hex()}" == checksum.key


async def consume(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


async def chunks_of(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@given(
    parts=st.lists(st.binary(max_size=20), max_size=5),
    expected_size=st.none() | st.integers(-1, 120),
    content_length=st.none() | st.integers(-1, 120),
    checksum=st.none() | CHECKSUM_TEXT | st.just("right"),
)
def test_any_stream_is_passed_whole_or_fails_as_its_asset(
    parts, expected_size, content_length, checksum
):
    """Any body, sizes and checksum: the exact bytes pass, or a SourceAssetError naming it."""
    body = b"".join(parts)
    if checksum == "right":
        checksum = hashlib.sha256(body).hexdigest()
    stream = verified(
        chunks_of(parts),
        source="fuzz",
        asset_id="a1",
        path="binary",
        expected_size=expected_size,
        content_length=content_length,
        checksum=checksum,
    )
    try:
        passed = asyncio.run(consume(stream))
    except SourceAssetError as error:
        assert "a1" == error.asset_id
        return
    assert body == passed
    limit = content_length if content_length is not None else expected_size
    assert limit is None or limit == len(body)


JSON_TEXTS = (
    mangled(VALUES)
    | st.binary(max_size=100)
    | st.text(max_size=100)
    | st.tuples(st.integers(0, 20_000), st.sampled_from(["[", '{"k":', "[{}, "])).map(
        lambda t: t[1] * t[0]
    )
)


@given(data=JSON_TEXTS)
def test_any_document_parses_or_is_a_value_error_in_bounded_memory(data):
    """Any text as JSON: a value or a ValueError (never RecursionError), memory bounded."""
    outcome, peak = peak_memory(lambda: loads_bounded(data))
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, ValueError), repr(outcome)
    assert peak <= PER_BYTE * len(data) + FIXED, (peak, len(data))


@pytest.mark.parametrize("depth", [899, 5_000, 100_000])
def test_deep_documents_are_refused_not_a_crash(depth):
    """A deep document is read or a ValueError, at any depth (a fixed floor under the fuzzing)."""
    outcome, _ = peak_memory(lambda: loads_bounded("[" * depth + "]" * depth))
    assert isinstance(outcome, list | ValueError), repr(outcome)


def test_dump_keeps_nan_literals_for_the_fuzzers():
    """The fuzzers' pages do carry NaN and Infinity literals (so that case is really fed)."""
    assert b"[NaN, Infinity]" == dump([float("nan"), float("inf")])
