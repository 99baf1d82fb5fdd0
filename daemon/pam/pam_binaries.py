"""
The binaries directory of file mode: a copy of the PAM asset storage root (§4.3).

The file of key ``K`` is ``<root>/K``. A key that would leave the root (absolute, ``..``) is
refused like a missing file. A found file is measured and, when asked, hashed (SHA-256, read in
blocks: memory stays flat whatever the size) so that the write path uploads each distinct
content once.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from daemon.pam.pam_records import PamFile, name_from_key

BLOCK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Located:
    """A key looked up: the file, or why there is none."""

    file: PamFile | None
    problem: str | None = None


class BinariesDir:
    """
    The storage root of file mode.

    Args:
        root: The directory holding the keys' folders (``7/5/8/e/...``).
        checksums: Hash every file found (needed to upload each content once).
    """

    def __init__(self, root: Path | str, *, checksums: bool = True) -> None:
        self.root = Path(root)
        self.checksums = checksums

    def __repr__(self) -> str:
        return f"BinariesDir({str(self.root)!r})"

    def locate(self, key: str) -> Located:
        """
        The file of ``key``, or the reason it cannot be used.

        Returns:
            A :class:`Located`; ``problem`` is one line naming the key.
        """
        relative = PurePosixPath(key)
        if not key or relative.is_absolute() or ".." in relative.parts:
            return Located(None, f"file key {key!r} is not a storage key under the root")
        path = self.root.joinpath(*relative.parts)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return Located(None, f"file {key} is not in the binaries directory")
        except OSError as exc:
            return Located(None, f"file {key} cannot be read: {exc.strerror}")
        if not path.is_file():
            return Located(None, f"file {key} is not a regular file")
        checksum = None
        if self.checksums:
            try:
                checksum = _sha256(path)
            except OSError as exc:
                return Located(None, f"file {key} cannot be read: {exc.strerror}")
        return Located(
            PamFile(
                key=key,
                path=os.fspath(path),
                original_name=name_from_key(key),
                size=stat.st_size,
                checksum=checksum,
            )
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


__all__ = ["BinariesDir", "Located"]
