"""The media spool against broken parts: an unusable directory, a full disk, an endless binary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from daemon.core.errors import PermanentError, SyncError, TransientError
from daemon.core.records import BinaryRef, DamAsset
from daemon.engine.media_hold import HeldBytes
from daemon.engine.media_transfer import MediaTransfer

ROOT = Path(__file__).resolve().parents[2]
CHUNK = 4096


class Dam:
    """Binaries by asset id, streamed in 4 KiB chunks; counts what was opened and yielded."""

    def __init__(self, **binaries: bytes) -> None:
        self.binaries = binaries
        self.opened = 0
        self.yielded = 0

    def open_binary(self, asset: DamAsset) -> Any:
        @asynccontextmanager
        async def opener() -> AsyncIterator[AsyncIterator[bytes]]:
            self.opened += 1
            data = self.binaries[asset.id]

            async def chunks() -> AsyncIterator[bytes]:
                for i in range(0, len(data), CHUNK):
                    self.yielded += 1
                    yield data[i : i + CHUNK]

            yield chunks()

        return opener()


class Pim:
    def __init__(self) -> None:
        self.uploads: list[int] = []

    async def upload_media_file(
        self, path: Path | HeldBytes, *, filename: str, mime_type: str | None = None
    ) -> str:
        size = len(path.held) if isinstance(path, HeldBytes) else path.stat().st_size  # noqa: ASYNC240
        self.uploads.append(size)
        return f"0/1/{filename}"


def asset(asset_id: str, size: int | None = None) -> DamAsset:
    ref = BinaryRef(url=f"http://dam/{asset_id}", filename=f"{asset_id}.png", size=size)
    return DamAsset(asset_id, datetime(2026, 1, 1, tzinfo=UTC), binary=ref)


async def test_missing_spool_directory_is_one_clear_error(tmp_path):
    """A spool directory that does not exist is a SyncError naming it, not a bare OSError."""
    spool = tmp_path / "no-such-spool"
    transfer = MediaTransfer(Dam(a=b"x"), Pim(), lambda c: None, spool_dir=spool)
    with pytest.raises(SyncError) as caught:
        await transfer.transfer(asset("a"))
    assert (True, True) == (
        str(spool) in str(caught.value),
        "runtime.spool_dir" in str(caught.value),
    )


async def test_endless_binary_stops_at_the_cap(tmp_path):
    """A binary with no announced size is cut at max_binary_bytes: permanent, names the key."""
    dam, pim = Dam(a=b"x" * (1 << 20)), Pim()
    transfer = MediaTransfer(dam, pim, lambda c: None, spool_dir=tmp_path, max_binary_bytes=10_000)
    with pytest.raises(PermanentError) as caught:
        await transfer.transfer(asset("a"))
    message = str(caught.value)
    assert (True, True, True) == (
        "'a'" in message,
        "10000" in message,
        "max_binary_bytes" in message,
    )
    # Bounded: the download stopped at the first chunk past the cap, nothing was uploaded.
    assert (3, [], []) == (dam.yielded, pim.uploads, list(tmp_path.iterdir()))


async def test_announced_size_over_the_cap_is_not_downloaded(tmp_path):
    """A binary the DAM announces larger than the cap is refused before any byte is read."""
    dam = Dam(a=b"x" * 20_000)
    transfer = MediaTransfer(
        dam, Pim(), lambda c: None, spool_dir=tmp_path, max_binary_bytes=10_000
    )
    with pytest.raises(PermanentError, match="20000"):
        await transfer.transfer(asset("a", size=20_000))
    assert 0 == dam.opened


async def run_two_transfers(spool: Path) -> dict[str, Any]:
    """A big then a small binary through one transfer; what became of each (subprocess body)."""
    transfer = MediaTransfer(
        Dam(big=b"b" * 300_000, small=b"s" * 1000), Pim(), lambda c: None, spool_dir=spool
    )
    out: dict[str, Any] = {}
    for name in ("big", "small"):
        try:
            out[name] = (await transfer.transfer(asset(name))).media_code
        except Exception as exc:
            out[name] = {
                "type": type(exc).__name__,
                "message": str(exc),
                "sync": isinstance(exc, SyncError),
                "transient": isinstance(exc, TransientError),
            }
    out["left"] = sorted(os.listdir(spool))
    return out


#: RLIMIT_FSIZE makes the kernel refuse writes past 64 KiB with EFBIG, as a full disk refuses
#: them with ENOSPC: the real write path fails, nothing is mocked. SIGXFSZ would kill the
#: process instead, so it is ignored, as the daemon's own process does not get it.
EFBIG_SCRIPT = """
import asyncio, json, resource, signal, sys
from pathlib import Path
from tests.engine.test_media_spool import run_two_transfers
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
print(json.dumps(asyncio.run(run_two_transfers(Path(sys.argv[1])))))
"""


def test_binary_too_big_for_the_spool_fails_alone(tmp_path):
    """A write refused by the filesystem fails that binary (retryable); the next one goes on."""
    done = subprocess.run(
        [sys.executable, "-c", EFBIG_SCRIPT, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == done.returncode, done.stderr[-2000:]
    out = json.loads(done.stdout.splitlines()[-1])  # log lines come first
    big = out["big"]
    assert isinstance(big, dict), out
    assert (True, True) == (big["sync"], big["transient"]), big
    assert (True, True) == ("'big'" in big["message"], "EFBIG" in big["message"]), big
    assert ("0/1/small.png", []) == (out["small"], out["left"])
