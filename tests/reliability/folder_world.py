"""
A hot folder wired to the engine: the example configuration with its source made a folder.

The PIM simulator runs in-process (``httpx.ASGITransport``) and the store is SQLite in
``tmp_path``: the hostility of these cases is in the files, not in the network.
"""

from __future__ import annotations

import hashlib
import os
import time
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from daemon.mapping import sanitise_code
from daemon.service.wiring import Services, SyncApp
from daemon.settings.root import Settings
from daemon.sim.pim import create_pim_app, load_seed
from tests.engine.conftest import EXAMPLE, ROOT

#: Files are dated an hour back: settled, and inside the first window.
OLD = time.time() - 3600
FAST_RETRY = {
    "attempts": 3,
    "wait_initial": 0.01,
    "wait_max": 0.05,
    "retry_after_max": 0.05,
    "throttle_pause": 0.01,
}


def put(path: Path, data: bytes, mtime: float = OLD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def image(root: Path, name: str, sku: str, data: bytes | None = None) -> Path:
    """A PNG (mapped to packshots) with its sidecar."""
    put(root / f"{name}.json", f'{{"title": {{"en_US": "{name}"}}, "sku": "{sku}"}}'.encode())
    return put(root / name, data if data is not None else f"png {name}".encode())


def folder_settings(tmp_path: Path, root: Path, **sections: dict[str, Any]) -> Settings:
    """
    The example configuration, its one source reading ``root`` as a hot folder.

    Args:
        tmp_path: Where the state database goes.
        root: The hot folder.
        sections: Extra keys for the source's ``folder`` and ``sync`` sections, or ``runtime``.
    """
    root.mkdir(parents=True, exist_ok=True)
    data = tomllib.loads(EXAMPLE.read_text())
    data["store"]["url"] = f"sqlite:///{tmp_path / 'state.db'}"
    data["server"]["enabled"] = False
    data["pim"]["http"]["retry"].update(FAST_RETRY)
    data["runtime"].update(sections.get("runtime", {}))
    source = data["sources"][0]
    source["kind"] = "folder"
    del source["rest"], source["http"]
    source["folder"] = {"path": str(root), "settle_seconds": 1, **sections.get("folder", {})}
    source["sync"].update(sections.get("sync", {}))
    return Settings.model_validate(data, context={"environ": {}})


@dataclass
class FolderWorld:
    """The engine reading a hot folder into the in-process PIM simulator."""

    root: Path
    app: SyncApp
    services: Services
    pim: httpx.AsyncClient

    @property
    def runner(self) -> Any:
        return self.app.runners[0]

    def cursor(self) -> Any:
        checkpoint = self.services.store.load_checkpoint("demo")
        return None if checkpoint is None else checkpoint.cursor

    def failures(self) -> dict[str, Any]:
        return {f.dam_id: f for f in self.services.store.list_failures("demo")}

    async def _headers(self) -> dict[str, str]:
        answer = await self.pim.post(
            "/api/oauth/v1/token",
            json={"grant_type": "password", "username": "demo", "password": "demo"},
            auth=("demo_client", "demo_secret"),
        )
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    async def packshots(self) -> dict[str, Any]:
        """Every packshot in the PIM, by code."""
        headers = await self._headers()
        found: dict[str, Any] = {}
        url: str | None = "/api/rest/v1/asset-families/packshots/assets"
        for _ in range(1000):  # bounded paging
            if url is None:
                break
            page = (await self.pim.get(url, headers=headers)).json()
            found.update({item["code"]: item for item in page["_embedded"]["items"]})
            nxt = page["_links"].get("next")
            url = httpx.URL(nxt["href"]).raw_path.decode() if nxt else None
        return found

    async def media_sha256(self, file_name: str) -> str | None:
        """The SHA-256 of the binary the PIM holds for a packshot, or ``None``."""
        item = (await self.packshots()).get(sanitise_code(file_name))
        if item is None:
            return None
        code = item["values"]["media"][0]["data"]
        answer = await self.pim.get(
            f"/api/rest/v1/asset-media-files/{code}", headers=await self._headers()
        )
        return hashlib.sha256(answer.content).hexdigest()


@asynccontextmanager
async def folder_world(
    tmp_path: Path, root: Path, **sections: dict[str, Any]
) -> AsyncIterator[FolderWorld]:
    """The wired engine on ``root``; see :func:`folder_settings` for ``sections``."""
    pim_app = create_pim_app(load_seed(ROOT / "config" / "sim" / "pim-seed.json"))
    settings = folder_settings(tmp_path, root, **sections)
    services = Services.create(settings, registry=CollectorRegistry())
    services.store.upgrade()
    app = SyncApp.build(settings, services, pim_transport=httpx.ASGITransport(pim_app))
    await app.start()
    pim = httpx.AsyncClient(transport=httpx.ASGITransport(pim_app), base_url="http://pim")
    try:
        yield FolderWorld(root, app, services, pim)
    finally:
        await pim.aclose()
        await app.aclose()
        services.store.dispose()
