"""
Asset media files: multipart upload (streamed, or from memory) and streamed download.

The upload body is built here rather than by httpx's ``files=``, so that it can stream from an
async byte source as well as from a file, and so that every attempt gets a fresh body: a file
path is re-opened per attempt and a stream *factory* is called again per attempt (a consumed
stream is never reused). A file upload has a ``Content-Length``; a stream upload of unknown
size goes out chunked. A binary already held whole in memory (:class:`HeldBinary`: a small one
the engine verified before uploading) is framed once into one body of bytes: every attempt sends
those same bytes, with a ``Content-Length``, in one write instead of one per part.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

import httpx

from daemon.core.errors import PimUnavailable
from daemon.pim.responses import error_for, handle_media_upload
from daemon.pim.urls import MEDIA_FILE, MEDIA_FILES, path
from daemon.upstream.policy import RequestSpec
from daemon.upstream.session import Upstream

CHUNK = 256 * 1024

#: Something that yields a *new* byte stream each time it is called.
StreamFactory = Callable[[], AsyncIterator[bytes]]


@runtime_checkable
class HeldBinary(Protocol):
    """
    A binary held whole in memory (``held``), uploaded as one body built once.

    It is also a :data:`StreamFactory` (each call streams the bytes anew), for code that only
    streams. Meant for small binaries: the upload attempt has the ``total`` deadline of a request
    read into memory, not the ``transfer`` one of a streamed body. The engine passes its own
    implementation; :class:`InMemoryBinary` is this module's.
    """

    @property
    def held(self) -> bytes:
        """All of the binary."""
        ...

    def __call__(self) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True, slots=True, repr=False)
class InMemoryBinary:
    """A :class:`HeldBinary`: bytes to upload as one body."""

    held: bytes

    def __call__(self) -> AsyncIterator[bytes]:
        return _once(self.held)

    def __repr__(self) -> str:
        return f"InMemoryBinary({len(self.held)} bytes)"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _quote_filename(filename: str) -> str:
    # As httpx does for multipart: escape what would end the quoted string or the header.
    return (
        filename.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    )


def _envelope(boundary: str, filename: str, mime_type: str) -> tuple[bytes, bytes]:
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{_quote_filename(filename)}"\r\n'
        f"Content-Type: {mime_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail


async def _file_chunks(file_path: Path, size: int) -> AsyncIterator[bytes]:
    # Opened in the loop, not in a thread: a task cancelled while a thread opens the file
    # would leak the handle. Opening a local spool file does not block for long.
    handle: BinaryIO = file_path.open("rb")
    try:
        sent = 0
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            sent += len(chunk)
            yield chunk
        if sent != size:
            raise OSError(f"{file_path} changed size during the upload ({size} -> {sent} bytes)")
    finally:
        handle.close()


async def upload_media_file(
    upstream: Upstream,
    source: str | os.PathLike[str] | StreamFactory,
    *,
    filename: str | None = None,
    mime_type: str | None = None,
) -> str:
    """
    Upload one binary to ``POST /api/rest/v1/asset-media-files``.

    Args:
        upstream: The PIM upstream.
        source: A file path (re-opened per attempt), a factory returning a fresh async byte
            stream per attempt, or a :class:`HeldBinary` (one body, resent as is).
        filename: The part's file name; defaults to the path's name (required for a factory).
        mime_type: The part's MIME type; guessed from the file name when omitted.

    Returns:
        The media file code from the ``Asset-media-file-code`` header.
    """
    # Told by its ``held`` bytes: a check against the runtime protocol costs ~20 us a call.
    held = getattr(source, "held", None)
    if isinstance(held, bytes):
        return await _upload_bytes(upstream, held, filename, mime_type)
    size: int | None = None
    if callable(source):
        if not filename:
            raise ValueError("upload_media_file: a stream source needs a filename")
        factory: StreamFactory = source
    else:
        file_path = Path(source)
        size = (await asyncio.to_thread(file_path.stat)).st_size
        filename = filename or file_path.name
        known = size

        def factory() -> AsyncIterator[bytes]:
            return _file_chunks(file_path, known)

    mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    boundary = secrets.token_hex(16)
    head, tail = _envelope(boundary, filename, mime)

    async def body() -> AsyncIterator[bytes]:
        yield head
        # A cancelled or failed upload closes the source (and its file) at once.
        chunks = factory()
        try:
            async for chunk in chunks:
                if chunk:
                    yield bytes(chunk)
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        yield tail

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if size is not None:
        headers["Content-Length"] = str(len(head) + size + len(tail))
    spec = RequestSpec(
        method="POST", url=MEDIA_FILES, endpoint=MEDIA_FILES, headers=headers, content=body
    )
    return await upstream.request(spec, handle_media_upload(spec))


async def _upload_bytes(
    upstream: Upstream, data: bytes, filename: str | None, mime_type: str | None
) -> str:
    """One multipart body of bytes (httpx sets its ``Content-Length``), sent on every attempt."""
    if not filename:
        raise ValueError("upload_media_file: bytes in memory need a filename")
    mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    boundary = secrets.token_hex(16)
    head, tail = _envelope(boundary, filename, mime)
    spec = RequestSpec(
        method="POST",
        url=MEDIA_FILES,
        endpoint=MEDIA_FILES,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        body=b"".join((head, data, tail)),
    )
    return await upstream.request(spec, handle_media_upload(spec))


class MediaDownload:
    """
    A media file being downloaded: its metadata and its body as async chunks.

    Iterate it once (``async for chunk in download``); transport failures mid-body become
    :class:`PimUnavailable` naming the endpoint.
    """

    def __init__(self, upstream: Upstream, spec: RequestSpec, response: httpx.Response) -> None:
        self._upstream = upstream
        self._spec = spec
        self._response = response
        self.mime_type: str | None = response.headers.get("content-type")
        length = response.headers.get("content-length")
        self.size: int | None = int(length) if length and length.isdigit() else None
        self.filename: str | None = _disposition_filename(
            response.headers.get("content-disposition", "")
        )
        self.received = 0

    def __repr__(self) -> str:
        return f"MediaDownload(filename={self.filename!r}, size={self.size!r})"

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_bytes(CHUNK):
                self.received += len(chunk)
                yield chunk
        except httpx.TransportError as exc:
            raise PimUnavailable(
                f"download interrupted after {self.received} bytes ({type(exc).__name__})",
                endpoint=self._spec.endpoint,
                method=self._spec.method,
                status_code=self._response.status_code,
            ) from exc
        finally:
            self._upstream.observer.bytes_streamed(
                upstream=self._upstream.name, endpoint=self._spec.endpoint, received=self.received
            )

    async def read(self) -> bytes:
        """
        The whole body, for small files and tests.

        Returns:
            The bytes.
        """
        return b"".join([chunk async for chunk in self])


def _disposition_filename(value: str) -> str | None:
    for part in value.split(";"):
        name, _, raw = part.strip().partition("=")
        if name.lower() == "filename" and raw:
            return raw.strip().strip('"') or None
    return None


@asynccontextmanager
async def download_media_file(upstream: Upstream, code: str) -> AsyncIterator[MediaDownload]:
    """
    Open ``GET /api/rest/v1/asset-media-files/{code}`` (slashes in ``code`` sent as is).

    Args:
        upstream: The PIM upstream.
        code: The media file code.

    Returns:
        An async context manager yielding a :class:`MediaDownload`.
    """
    spec = RequestSpec(
        method="GET",
        url=path(MEDIA_FILE, code=code),
        endpoint=MEDIA_FILE,
        headers={"Accept": "*/*"},
    )
    async with upstream.stream(spec) as response:
        if response.status_code != 200:
            raise error_for(spec, response)
        yield MediaDownload(upstream, spec, response)


__all__ = [
    "HeldBinary",
    "InMemoryBinary",
    "MediaDownload",
    "StreamFactory",
    "download_media_file",
    "upload_media_file",
]
