"""Shared pieces of the PAM tests: the simulator in-process and a reader bound to it."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from daemon.pam import PamApi, pam_upstream
from daemon.pim.tokens import PasswordAuth
from daemon.sim.pam import PamSimOptions, create_pam_app
from daemon.upstream.policy import RetryPolicy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pam"
BASE = "http://pam.test"
BASIC = "Basic " + base64.b64encode(b"pam_client:pam_secret").decode()
FAST_RETRY = RetryPolicy(attempts=4, deadline=30.0, wait_initial=0.0, wait_max=0.0)
CREDENTIALS = {
    "DAMSYNC_PAM_CLIENT_ID": "pam_client",
    "DAMSYNC_PAM_SECRET": "pam_secret",
    "DAMSYNC_PAM_USERNAME": "admin",
    "DAMSYNC_PAM_PASSWORD": "admin",
}


def sim_app(**options: Any) -> Starlette:
    """The simulator app with links built on ``BASE``."""
    return create_pam_app(PamSimOptions(base_url=BASE, **options))


@asynccontextmanager
async def sim_client(
    app: Starlette,
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """A raw client on the app and the admin's bearer header."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        answer = await client.post(
            "/api/oauth/v1/token",
            json={"grant_type": "password", "username": "admin", "password": "admin"},
            headers={"Authorization": BASIC},
        )
        yield client, {"Authorization": f"Bearer {answer.json()['access_token']}"}


@asynccontextmanager
async def pam_reader(app: Starlette, username: str = "admin") -> AsyncIterator[PamApi]:
    """The reader under test, on the app in-process, through the project's upstream."""
    auth = PasswordAuth(
        client_id="pam_client", secret="pam_secret", username=username, password=username
    )
    upstream = pam_upstream(BASE, auth, transport=httpx.ASGITransport(app=app), retry=FAST_RETRY)
    auth.bind(upstream)
    try:
        yield PamApi(upstream)
    finally:
        await upstream.aclose()
