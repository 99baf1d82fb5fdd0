"""
A hot folder written into a PIM simulator: the config blocks, settled files, the links seed, and
the simulator's token and assets, that tests of ``validate-config``, the engine and the service
share.

Configs are put together from these blocks (each one TOML table or more, ending in a newline),
so that a test shows only what it adds: another PIM, retries, a rule.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx

from daemon.settings.root import load_settings
from daemon.sim.pim import load_seed
from daemon.store import Store

ROOT = Path(__file__).resolve().parents[1]
LINKS_SEED = ROOT / "config" / "sim" / "pim-links-seed.json"

#: An mtime an hour ago: a file the folder source takes as settled.
OLD = time.time() - 3600

#: The simulator's demo connection (``[pim]`` or ``[pims.<name>]`` keys).
_PIM_KEYS = """base_url = "{url}"
client_id = "demo_client"
secret = "demo_secret"
username = "demo"
password = "demo"
"""


def pim_keys(url: str) -> str:
    """The keys of a PIM table for the simulator's demo connection at ``url``."""
    return _PIM_KEYS.format(url=url)


def local_state(tmp: Path) -> str:
    """``[store]`` on SQLite in ``tmp``, ``[server]`` off, the pid file in ``tmp``."""
    return (
        f'[store]\nurl = "sqlite:///{tmp}/state.db"\n[server]\nenabled = false\n'
        f'[runtime]\npid_file = "{tmp}/damsync.pid"\n'
    )


def folder_source(
    name: str,
    folder: Path,
    family: str,
    code: str,
    *,
    media: str = "main_image",
    pim: str | None = None,
) -> str:
    """
    A ``[[sources]]`` hot folder (files settled at once, unmatched ones skipped) whose one rule
    writes ``family`` under ``code`` with the file as its required ``media`` attribute.
    """
    writes_to = f'pim = "{pim}"\n' if pim is not None else ""
    return (
        f'[[sources]]\nname = "{name}"\nkind = "folder"\n{writes_to}'
        f'[sources.folder]\npath = "{folder}"\nsettle_seconds = 0\n'
        '[sources.mapping]\nunmatched = "skip"\n'
        f'[[sources.mapping.families]]\nfamily = "{family}"\ncode = "{code}"\n'
        "[sources.mapping.families.attributes]\n"
        f"{media} = {{ binary = true, required = true }}\n"
    )


def settled_file(folder: Path, name: str, body: bytes) -> Path:
    """``folder/name`` holding ``body``, an hour old (settled)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(body)
    os.utime(path, (OLD, OLD))
    return path


def drop(folder: Path, name: str, **metadata: str) -> None:
    """A file and its sidecar (``metadata``), an hour old (settled)."""
    body = "{" + ", ".join(f'"{k}": "{v}"' for k, v in metadata.items()) + "}"
    settled_file(folder, f"{name}.json", body.encode())
    settled_file(folder, name, f"jpeg {name}".encode())


def upgraded(path: Path) -> Path:
    """The config at ``path``, its state database brought to head (commands check it first)."""
    store = Store.from_url(load_settings(path, {}).store.url)
    store.upgrade()
    store.dispose()
    return path


def links_seed(**convention: Any) -> dict[str, Any]:
    """The links seed, its ``model_pictures`` naming convention updated with ``convention``."""
    data = load_seed(LINKS_SEED)
    family = data["asset_families"][0]
    family["naming_convention"] = {**family["naming_convention"], **convention}
    return data


async def pim_token(pim: httpx.AsyncClient) -> str:
    """An access token of the simulator's demo connection."""
    answer = await pim.post(
        "/api/oauth/v1/token",
        json={"grant_type": "password", "username": "demo", "password": "demo"},
        auth=("demo_client", "demo_secret"),
    )
    return str(answer.json()["access_token"])


async def pim_assets(pim: httpx.AsyncClient, family: str) -> dict[str, Any]:
    """Every asset of ``family`` in the simulator, by code (all pages)."""
    headers = {"Authorization": f"Bearer {await pim_token(pim)}"}
    found: dict[str, Any] = {}
    url: str | None = f"/api/rest/v1/asset-families/{family}/assets"
    while url:
        page = (await pim.get(url, headers=headers)).json()
        found.update((item["code"], item) for item in page["_embedded"]["items"])
        nxt = page["_links"].get("next")
        url = httpx.URL(nxt["href"]).raw_path.decode() if nxt else None
    return found
