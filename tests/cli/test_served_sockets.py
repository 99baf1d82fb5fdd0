"""The CLI tests' simulators hold their port from the moment they are built: no port race."""

from __future__ import annotations

import errno
import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.cli.conftest import Served, bound_socket


def _app() -> Starlette:
    return Starlette(routes=[Route("/", lambda _request: PlainTextResponse("ok"))])


def test_a_served_app_holds_its_port_before_it_starts():
    """Between building and starting the server, nobody else can bind its port."""
    served = Served(_app())
    try:
        with socket.socket() as other, pytest.raises(OSError) as caught:
            other.bind(("127.0.0.1", served.port))
        assert errno.EADDRINUSE == caught.value.errno
    finally:
        served.sock.close()


def test_a_served_app_answers_on_the_socket_it_was_given():
    """uvicorn serves the very socket bound beforehand (the DAM's URL is known before its app)."""
    sock = bound_socket()
    port = sock.getsockname()[1]
    with Served(_app(), sock) as served:
        assert port == served.port
        assert "ok" == httpx.get(f"{served.url}/").text
