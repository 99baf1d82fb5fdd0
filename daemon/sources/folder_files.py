"""
The files of a hot folder, read without trusting them: which may be opened, how much of each,
and whether a directory could be listed at all.

- **One containment rule** (:meth:`FolderFiles.refusal`) for every file the folder source opens:
  binaries, ``<file>.json`` sidecars and ``metadata.csv``. A path whose real location lies
  outside the root is refused; with ``follow_symlinks = false`` so is any path through a symlink.
  A symlink is checked before it is opened (a target outside is never opened), and every opened
  file is checked again where the kernel says it is (``/proc/self/fd``), so a folder swapped for
  a symlink between the check and the open is caught too. Paths from the walk skip the
  ``realpath`` of plain files: the walk never enters a symlinked folder.
- Files must be regular: a named pipe would block the pass forever, a device would never end.
- Sidecars and CSVs are read up to their limit (``max_sidecar_bytes``, ``max_csv_bytes``);
  sidecars are parsed with :func:`~daemon.core.json_limits.loads_bounded`, so a too-deep
  document is a refusal, not a ``RecursionError``.
- The walk fails at the first directory it cannot list (except one that vanished): a partial
  listing would let the reconcile sweep delete the assets of that directory, and let the cursor
  pass files nobody saw.

A refused file raises :class:`Refused`, which the source turns into a per-asset error.
"""

from __future__ import annotations

import csv
import errno
import fnmatch
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from daemon.core.errors import SourceProtocolError
from daemon.core.json_limits import loads_bounded
from daemon.settings.dam_sources import FolderSettings

SIDECAR = ".json"
CSV_NAME = "metadata.csv"


class Refused(Exception):
    """A file the source will not use; the caller names the asset."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


#: ``metadata.csv`` per folder, read once per scan: its rows and mtime, or why it was refused.
CsvCache = dict[Path, tuple[dict[str, dict[str, Any]], float] | Refused]


def file_kind(mode: int) -> str:
    """What a non-regular file is, for an error message."""
    kinds = [
        (stat.S_ISDIR, "directory"),
        (stat.S_ISFIFO, "named pipe"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ]
    return next((name for test, name in kinds if test(mode)), "special file")


def changed(before: os.stat_result, after: os.stat_result) -> str | None:
    """How a file changed between two stats (size or mtime), or ``None`` if it held still."""
    if before.st_size != after.st_size:
        return f"size {before.st_size} -> {after.st_size} bytes"
    if before.st_mtime_ns != after.st_mtime_ns:
        return "modified"
    return None


def _opened(fd: int) -> str | None:
    """Where an open file really is, as the kernel says (Linux), or ``None`` if it cannot say."""
    try:
        where = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    # A file removed since it was opened has no place left: let realpath() judge its name.
    return None if where.endswith(" (deleted)") else where


def _short(text: str, limit: int = 160) -> str:
    # A path past PATH_MAX is thousands of characters: keep the error one readable line.
    return text if len(text) <= limit else f"{text[: limit // 2]}...{text[-limit // 2 :]}"


class FolderFiles:
    """
    Safe access to the files under one hot-folder root.

    Args:
        source: The source name, for errors.
        settings: The ``[sources.folder]`` section.
    """

    def __init__(self, source: str, settings: FolderSettings) -> None:
        self.source = source
        self.settings = settings
        self.root = Path(settings.path)
        self._real_root = os.path.realpath(self.root)

    def ignored(self, name: str) -> bool:
        if name == CSV_NAME or name.endswith(SIDECAR):
            return True
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.settings.ignore)

    def walk(self) -> Iterator[Path]:
        """
        Every candidate file under the root, sorted per folder; dot-folders are skipped.

        Raises:
            SourceProtocolError: the root is no directory, or a folder under it cannot be
                listed (permissions, I/O error, a path past ``PATH_MAX``).
        """
        if not self.root.is_dir():
            raise SourceProtocolError(f"folder root {str(self.root)!r} is not a directory")
        self._real_root = os.path.realpath(self.root)  # once per walk, not once per file

        def unlistable(error: OSError) -> None:
            if isinstance(error, FileNotFoundError) and error.filename != str(self.root):
                return  # removed while we walked: gone from the listing and the sweep alike
            raise self._unlistable(error) from error

        for folder, dirs, files in os.walk(self.root, onerror=unlistable, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not self.ignored(name):
                    yield Path(folder) / name

    def _unlistable(self, error: OSError) -> SourceProtocolError:
        where = os.path.relpath(error.filename or self.root, self.root)
        code = errno.errorcode.get(error.errno or 0, "unknown error")
        return SourceProtocolError(
            f"source {self.source!r}: cannot list folder {_short(where)!r} of the hot folder "
            f"{str(self.root)!r} ({error.strerror}, {code}); nothing is read or deleted until "
            "it can be listed"
        )

    def refusal(self, path: Path, real: str | None = None) -> str | None:
        """
        The containment rule: why ``path`` (lexically under the root) may not be read, or
        ``None`` if it may.

        Args:
            path: The file, as the root joined with its id.
            real: Where it really is, when known (an opened file); default: resolved now.
        """
        root = self._real_root
        # Not strict: a dangling link resolves to where it points, a loop to itself.
        real = os.path.realpath(path) if real is None else real
        if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
            return "symlink leads out of the folder"
        if self.settings.follow_symlinks:
            return None
        if real != os.path.join(root, os.path.relpath(path, self.root)):
            return "symlinks are disabled (follow_symlinks = false)"
        return None

    def check(self, path: Path, *, walked: bool, link: bool | None = None) -> str | None:
        """
        :meth:`refusal` before any open; a plain file found by the walk needs no resolving.
        ``link``: whether ``path`` is a symlink, when the caller knows.
        """
        if walked and not (os.path.islink(path) if link is None else link):
            return None
        return self.refusal(path)

    def open_regular(
        self, path: Path, *, walked: bool = False, link: bool | None = None
    ) -> BinaryIO:
        """
        Open a contained regular file for reading.

        Args:
            path: The file.
            walked: It (or its binary, for a sidecar) was found by :meth:`walk`.
            link: Whether it is a symlink, when the caller knows.

        Raises:
            Refused: not contained, not a regular file, or cannot be opened.
        """
        link = os.path.islink(path) if link is None else link
        why = self.check(path, walked=walked, link=link)
        if why is not None:
            raise Refused(path, why)
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
        if not link:
            flags |= os.O_NOFOLLOW  # a link swapped in after the check fails to open
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            raise Refused(path, f"cannot open: {exc.strerror}") from None
        try:
            why = self.refusal(path, _opened(fd) or os.path.realpath(path))
            mode = os.fstat(fd).st_mode
            if why is None and not stat.S_ISREG(mode):
                why = f"not a regular file ({file_kind(mode)})"
        except OSError as exc:
            why = f"cannot stat: {exc.strerror}"
        if why is not None:
            os.close(fd)
            raise Refused(path, why)
        return os.fdopen(fd, "rb")

    def _read_limited(
        self, path: Path, limit: int, key: str, walked: bool, link: bool | None = None
    ) -> tuple[bytes, os.stat_result]:
        def too_big(size: str) -> Refused:
            return Refused(
                path, f"{path.name} is {size} bytes, over the {limit}-byte limit ({key})"
            )

        with self.open_regular(path, walked=walked, link=link) as handle:
            info = os.fstat(handle.fileno())
            if info.st_size > limit:
                raise too_big(str(info.st_size))
            try:
                # By the size it has (a read of limit + 1 would allocate the whole limit),
                # then what it grew by since, up to one byte past the limit.
                data = handle.read(info.st_size + 1)
                if len(data) > info.st_size:
                    data += handle.read(limit + 1 - len(data))
            except OSError as exc:
                raise Refused(path, f"cannot read: {exc.strerror}") from None
        if len(data) > limit:
            raise too_big(f"more than {limit}")  # it grew after the stat
        return data, info

    def metadata(
        self, path: Path, cache: CsvCache, *, walked: bool
    ) -> tuple[dict[str, Any], float | None]:
        """
        A file's metadata and the mtime it comes with: its sidecar, else its ``metadata.csv``
        row, else ``({}, None)``. ``walked``: ``path`` was found by :meth:`walk`.

        Raises:
            Refused: the sidecar, or the CSV the file relies on, cannot be used.
        """
        sidecar = path.with_name(path.name + SIDECAR)
        try:
            mode: int | None = os.lstat(sidecar).st_mode
        except OSError as exc:
            # A name past NAME_MAX with ".json" added cannot have a sidecar: not an error.
            if exc.errno not in (errno.ENOENT, errno.ENAMETOOLONG):
                raise Refused(sidecar, f"cannot stat: {exc.strerror}") from None
            mode = None
        if mode is not None:
            key = "[sources.folder] max_sidecar_bytes"
            limit = self.settings.max_sidecar_bytes
            data, info = self._read_limited(sidecar, limit, key, walked, stat.S_ISLNK(mode))
            try:
                document = loads_bounded(data)
            except ValueError as exc:
                raise Refused(sidecar, f"unreadable sidecar: {exc}") from None
            if not isinstance(document, dict):
                raise Refused(sidecar, "sidecar is not a JSON object")
            return document, info.st_mtime
        entry = cache.get(path.parent)
        if entry is None:
            entry = cache[path.parent] = self._csv(path.parent / CSV_NAME, walked)
        if isinstance(entry, Refused):
            raise Refused(entry.path, entry.reason)
        rows, mtime = entry
        if path.name in rows:
            return rows[path.name], mtime
        return {}, None

    def _csv(
        self, csv_path: Path, walked: bool
    ) -> tuple[dict[str, dict[str, Any]], float] | Refused:
        if not os.path.lexists(csv_path):
            return {}, 0.0
        key = "[sources.folder] max_csv_bytes"
        try:
            data, info = self._read_limited(csv_path, self.settings.max_csv_bytes, key, walked)
            rows: dict[str, dict[str, Any]] = {}
            # utf-8-sig: spreadsheet exports start with a BOM, which would rename "file".
            text = io.StringIO(data.decode("utf-8-sig"), newline="")
            for row in csv.DictReader(text):
                name = (row.pop("file", None) or "").strip()
                if name:
                    rows[name] = {k: v for k, v in row.items() if k is not None}
        except Refused as refused:
            return refused
        except (ValueError, csv.Error) as exc:
            return Refused(csv_path, f"unreadable {CSV_NAME}: {exc}")
        return rows, info.st_mtime


__all__ = ["CSV_NAME", "SIDECAR", "CsvCache", "FolderFiles", "Refused", "changed", "file_kind"]
